package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/pkg/preflight"
)

// Exit codes of auditor preflight: the verdict, so a pipeline can gate on it.
const (
	exitPreflightWarn = 1 // verdict warn
	exitPreflightNoGo = 4 // verdict no-go
)

const preflightExitHelp = `Exit codes:
  0  go: nothing found that the change would break
  1  warn: the change can be made, but something needs a look (or could not be checked)
  2  usage, config, file or connection error, or the object does not exist
  4  no-go: the change would re-use old data, fail, or be silently ignored`

// preflightOptions are the flags every preflight command shares: what to read (the
// auditor's own loading: kube flags or --from-file), the config (for prices) and -o.
type preflightOptions struct {
	auditFlags
	output string
}

func (o *preflightOptions) addFlags(fs *pflag.FlagSet) {
	o.kube.addFlags(fs)
	// The namespace is the object's (NS/NAME); the checks need the whole cluster's nodes,
	// attachments and resizer pods, so -n is refused rather than silently narrowing them.
	_ = fs.MarkHidden("namespace")
	fs.StringVar(&o.fromFile, "from-file", "", "check against a dump instead of a live cluster: a file, a directory, or - for stdin")
	fs.StringVar(&o.configPath, "config", "", "config file; its cost section prices the change (see config/auditor.yaml, docs/cost.md)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up reading the cluster after this long")
	fs.StringVar(&o.now, "now", "", "evaluate ages as if it were this RFC 3339 time")
	_ = fs.MarkHidden("now")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
}

func newPreflightCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "Say what a StatefulSet scale-up or a volume resize will do, before anyone runs it",
		Long: `Check a planned storage change against the cluster as it is, and answer go, warn or
no-go with the reasons — the checklist people otherwise run by hand before scaling or
resizing, with the same evidence the audit rules use.

  auditor preflight scale statefulset NS/NAME --replicas N
  auditor preflight resize statefulset NS/NAME --size S [--template T]
  auditor preflight resize pvc NS/NAME --size S

Live (kubeconfig, read-only) or --from-file. -o json prints
{"verdict": "go|warn|no-go", "checks": [{"check", "severity", "object", "message"}],
"costDelta": {"<currency>": amount}} for pipelines (a gate before helm upgrade).

` + preflightExitHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("say what to check: auditor preflight scale statefulset NS/NAME --replicas N, or auditor preflight resize statefulset|pvc NS/NAME --size S")
		},
	}
	cmd.AddCommand(newPreflightScaleCmd(), newPreflightResizeCmd())
	return cmd
}

func newPreflightScaleCmd() *cobra.Command {
	o := &preflightOptions{}
	var replicas int
	cmd := &cobra.Command{
		Use:   "scale statefulset NS/NAME --replicas N",
		Short: "Check a StatefulSet scale-up: reused data, volumes that would bind, attach slots, quota, cost",
		Long: `Check scaling a StatefulSet to N replicas. For every ordinal the scale-up adds:

  stale-pvc-reuse   a claim kept from an earlier scale-down (whenScaled: Retain) is
                    re-attached with its old data: its name, age, size, whether it still
                    matches the template (critical; info when the claim is annotated
                    storage-auditor.dev/ignore=sts-retained-ordinal, kept on purpose)
  stale-pv-bind     a new claim would bind an existing Available PV instead of a fresh
                    volume (the matching of rule pv-available-unreserved): which PV, how
                    long Available (critical with reclaim policy Retain)
  reserved-pv       a PV pre-bound (claimRef without UID) to a new claim's name
  provisioning      the class of the new claims exists, has a provisioner, has a node
                    in its allowedTopologies, has not failed to provision recently;
                    WaitForFirstConsumer or Immediate

and then:

  attach-headroom   per CSI driver, free attach slots (CSINode allocatable.count minus
                    the volumes in use, as rule node-attach-limit counts them) on the
                    nodes the pods can land on (not cordoned, matching the pod
                    template's nodeSelector) against the volumes the new pods attach
  quota             requests.storage, persistentvolumeclaims and per-class quotas of
                    the namespace against the new claims
  cost              the monthly price of the new volumes (re-used volumes are billed
                    already); --config's cost section sets the prices

A scale-down is described and priced (whenScaled: Delete with reclaim Delete frees money).

` + preflightExitHelp,
		Example: `  auditor preflight scale statefulset streaming/kafka --replicas 5
  auditor preflight scale statefulset shop/db --replicas 8 --config config/cost-aws.yaml -o json
  auditor preflight scale statefulset streaming/kafka --replicas 5 --from-file dump.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := kindArg(args[0], "statefulset"); err != nil {
				return err
			}
			ns, name, err := splitTarget(args[1])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("replicas") {
				return usageError("--replicas is required: the number of replicas to check scaling to")
			}
			if replicas < 0 {
				return usageError("--replicas %d: want 0 or more", replicas)
			}
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), func(c *preflight.Checker) (*preflight.Result, error) {
				return c.Scale(ns, name, replicas)
			})
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().IntVar(&replicas, "replicas", 0, "the number of replicas to check scaling to (required)")
	return cmd
}

func newPreflightResizeCmd() *cobra.Command {
	o := &preflightOptions{}
	var size, template string
	cmd := &cobra.Command{
		Use:   "resize statefulset|pvc NS/NAME --size S",
		Short: "Check a volume resize: the class really expands, a resizer runs, quota, cost, what else must change",
		Long: `Check growing a claim, or every claim of a StatefulSet's volumeClaimTemplate (its live
ordinals), to size S:

  claim-bound         the claim is Bound (admission only lets Bound claims grow)
  resize-size         claims cannot shrink; lowering a pending request is a recovery
  class-expansion     the class exists and says allowVolumeExpansion: true, and its
                      volumes can really expand (the evidence of rule
                      sc-expansion-unsupported: local-path, NFS, hostPath volumes, CSI
                      drivers without csi-resizer never do)
  resizer             the external-resizer of the CSI driver runs (its Lease
                      kube-system/external-resizer-<driver>, or a csi-resizer pod)
  offline-resize      past resize failures of the class say the driver expands only
                      volumes not in use
  resize-in-progress  a resize of the claim is already pending or stuck
  resize-cooldown     AWS EBS allows one modification per volume every 6 hours
  filesystem          the kubelet only grows ext3, ext4 and xfs
  quota               requests.storage and per-class quotas admit the growth
  cost                the monthly price of the added capacity (--config prices it)

For a StatefulSet also what must change besides the claims: the template (re-create the
StatefulSet with --cascade=orphan), the Helm value or Argo CD manifest that renders it,
and retained claims outside the live ordinals. --template names the volumeClaimTemplate
when there are several.

` + preflightExitHelp,
		Example: `  auditor preflight resize pvc web/uploads --size 20Gi
  auditor preflight resize statefulset cache/redis --size 50Gi --config config/cost-aws.yaml
  auditor preflight resize statefulset shop/db --size 100Gi --template data -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := resizeKind(args[0])
			if err != nil {
				return err
			}
			ns, name, err := splitTarget(args[1])
			if err != nil {
				return err
			}
			if size == "" {
				return usageError("--size is required: the size to check growing to, such as 20Gi")
			}
			q, err := resource.ParseQuantity(size)
			if err != nil || q.Sign() <= 0 {
				return usageError("--size %q: want a size above zero, such as 20Gi", size)
			}
			if kind == "pvc" && template != "" {
				return usageError("--template only applies to resize statefulset")
			}
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), func(c *preflight.Checker) (*preflight.Result, error) {
				if kind == "pvc" {
					return c.ResizeClaim(ns, name, q)
				}
				return c.ResizeStatefulSet(ns, name, template, q)
			})
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&size, "size", "", "the size to check growing to, such as 20Gi (required)")
	cmd.Flags().StringVar(&template, "template", "", "the volumeClaimTemplate whose claims grow (when the StatefulSet has several)")
	return cmd
}

// kindArg accepts the kubectl spellings of want ("statefulset", "statefulsets", "sts").
func kindArg(arg, want string) error {
	switch strings.ToLower(arg) {
	case "statefulset", "statefulsets", "sts", "statefulset.apps":
		if want == "statefulset" {
			return nil
		}
	}
	return usageError("preflight scale checks a statefulset, not %q (auditor preflight scale statefulset NS/NAME --replicas N)", arg)
}

// resizeKind returns "statefulset" or "pvc" for the kubectl spellings of either.
func resizeKind(arg string) (string, error) {
	switch strings.ToLower(arg) {
	case "statefulset", "statefulsets", "sts", "statefulset.apps":
		return "statefulset", nil
	case "pvc", "pvcs", "persistentvolumeclaim", "persistentvolumeclaims":
		return "pvc", nil
	}
	return "", usageError("preflight resize checks a statefulset or a pvc, not %q", arg)
}

// splitTarget parses NS/NAME.
func splitTarget(arg string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(arg, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usageError("%q: name the object as NAMESPACE/NAME, such as shop/db", arg)
	}
	return ns, name, nil
}

// run reads the cluster (or the dump) as the audit does, runs check and prints the result;
// the verdict is the exit code.
func (o *preflightOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, check func(*preflight.Checker) (*preflight.Result, error)) error {
	if o.output != "table" && o.output != "json" {
		return usageError("-o: unknown output format %q (want table or json)", o.output)
	}
	if len(o.kube.namespaces) > 0 {
		return usageError("-n does not apply: preflight takes the namespace from NS/NAME and reads the whole cluster (nodes, attachments, resizers)")
	}
	a, err := o.prepare(stdin)
	if err != nil {
		return err
	}
	now := a.fixedNow
	if now.IsZero() {
		now = time.Now()
	}
	readCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	snap, err := a.read(readCtx, readOptions{progress: progressWriter(stderr)})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	c := &preflight.Checker{Snapshot: snap, Now: now}
	if a.cfg != nil {
		c.Prices = a.cfg.CostModel()
	}
	res, err := check(c)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if o.output == "json" {
		err = preflight.WriteJSON(stdout, res)
	} else {
		err = preflight.WriteTable(stdout, res, terminalOptions(stdout))
	}
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("writing the preflight result: %w", err)}
	}
	if code := preflightExitCode(res.Verdict); code != ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// preflightExitCode maps a verdict to the exit code documented in preflightExitHelp.
func preflightExitCode(v preflight.Verdict) int {
	switch v {
	case preflight.NoGo:
		return exitPreflightNoGo
	case preflight.Warn:
		return exitPreflightWarn
	}
	return ExitOK
}
