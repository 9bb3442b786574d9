package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/internal/ruledocs"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/rules"
)

type runOptions struct {
	auditFlags
	deliveryFlags
	output       string
	outputFile   string
	debugTimings bool
	memProfile   string
	fix          fixFlags
	clusters     clusterFlags
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Audit now and print the findings",
		Long: `Audit a cluster's storage now and print the findings.

Live: the cluster of the current kubeconfig context (or --kubeconfig/--context; inside a
pod, the in-cluster service account). The auditor only lists objects: PersistentVolumes,
PersistentVolumeClaims, StorageClasses, CSIDrivers, CSINodes, VolumeAttachments, Nodes,
Pods, StatefulSets, Deployments, DaemonSets, ReplicaSets, Jobs, CronJobs, ResourceQuotas,
storage Events, and external-resizer Leases in kube-system. A kind it may not list is
reported as unreadable and the rules that need it are skipped (exit code 3).

Offline: --from-file reads kubectl get -o yaml|json output (a List, single objects or
multi-document YAML; a file, a directory of files, or - for stdin). Make a dump with:

  kubectl get pv,pvc,storageclasses,csidrivers,csinodes,volumeattachments,nodes,pods,\
statefulsets,deployments,daemonsets,replicasets,jobs,cronjobs,resourcequotas,events \
-A -o yaml > dump.yaml
  kubectl get leases -n kube-system -o yaml >> dump.yaml   # optional: resizer leases

kubectl prints a kind with no objects as an empty, untyped List, so a dump cannot say
"there are no CronJobs". A dump holding PersistentVolumes, PersistentVolumeClaims,
StorageClasses, Nodes, CSINodes, Pods, Deployments and DaemonSets is taken as a full dump
(made with the command above): a kind with no objects in it has none. In a partial dump
(kubectl get pv,pvc), rules that need a kind it lacks are skipped and listed, never run
on missing data; an empty typed list (kind: PodList, items: []) also says a kind was
dumped.

Run-to-run state (--state-file, or --state-configmap in a cluster) remembers when each
finding was first seen: the report then marks new findings and lists resolved ones. A
rule that did not run (skipped, or left out by --rules) resolves nothing.

Slack: set SLACK_WEBHOOK_URL (an incoming webhook), or SLACK_BOT_TOKEN plus
--slack-channel, and the run posts a digest after writing the report. A 429, a 5xx or
a timeout is retried (each retry is a warning on stderr): slack.attempts tries in all
(default 4), each limited to slack.timeout (default 30s), in the --config file. A failed
post never loses the report; the exit code is 4.

Many clusters: --contexts a,b,c (or --all-contexts) audits those kubeconfig contexts
concurrently, at most --max-concurrency at a time, each through its own connection and
with its own --timeout. The table gains a CLUSTER column and a summary line per cluster;
-o json|yaml prints a list (kind: AuditReportList) whose items are the clusters'
reports, in the order given (--all-contexts: sorted by name); -o markdown has a section
per cluster. A cluster that cannot be read is printed to stderr as "cluster NAME: why",
appears in the output with its error (the item's "error" field), and does not stop the
others. Each cluster's report gets its own Slack digest; --state-configmap keeps the
state in each cluster. --state-file (one cluster's state) and --fix (one cluster at a
time) are refused with many clusters.

Fixing: --fix (live clusters only), after the report, prints the plan of the fixes the
findings propose — object, action, safety class, the exact patch or delete — and applies
the allowed ones: safe fixes (reversible, no data touched, nothing restarted); disruptive
ones (restarting pods) with --allow disruptive; destructive ones (deleting claims, volumes,
pods) with --allow destructive and the rule in the config's fix.allow. On a terminal it
asks first (--yes skips the question; without a terminal and without --yes nothing is
applied). Each action re-reads its objects and is skipped when one changed since the
audit; patches carry the resourceVersion (a concurrent write fails, nothing is
overwritten), deletes the UID and resourceVersion as preconditions. --dry-run=server sends
every change with dryRun=All, --dry-run=client only prints the plan. The plan and the
results go to stdout under a table, to stderr when stdout carries a document.

` + exitCodesHelp + "\n" + fixExitHelp + "\n" + manyClustersExitHelp,
		Example: `  auditor run
  auditor run --context prod -n shop,billing -o json
  auditor run --contexts prod-eu,prod-us --fail-on critical
  auditor run --all-contexts -o json --state-configmap auditor-state
  KUBECONFIG=~/.kube/config:~/.kube/eks.yaml auditor run --all-contexts --max-concurrency 8
  auditor run --from-file examples/incident-cluster.yaml
  kubectl get pv,pvc,sc -A -o yaml | auditor run --from-file - --rules pv-released-retained
  auditor run --config config/auditor.yaml --fail-on critical
  auditor run --fix --dry-run=server
  auditor run --fix --allow disruptive,destructive --config config/auditor.yaml --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.auditFlags.addFlags(f)
	o.addFailOn(f)
	o.deliveryFlags.addFlags(f)
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json, yaml, markdown or html (one self-contained page; with --output-file report.html)")
	f.StringVar(&o.outputFile, "output-file", "", "write the report to this file instead of stdout (replaced atomically: a failed run leaves the old report)")
	f.BoolVar(&o.debugTimings, "debug-timings", false, "print load and per-rule timings to stderr")
	f.StringVar(&o.memProfile, "debug-memprofile", "", "write a heap profile to this file once the cluster is read (for go tool pprof)")
	_ = f.MarkHidden("debug-memprofile")
	o.fix.addFlags(f)
	o.clusters.addFlags(f)
	return cmd
}

func (o *runOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	format, err := report.ParseFormat(o.output)
	if err != nil {
		return usageError("-o: %v", err)
	}
	o.deliveryFlags.logRetriesTo(func(line string) { fmt.Fprintln(stderr, "warning: "+line) })
	if o.clusters.many() {
		return o.runMany(ctx, stdin, stdout, stderr, format)
	}
	if _, err := o.clusters.resolve(&o.auditFlags); err != nil {
		return err
	}
	a, err := o.auditFlags.prepare(stdin)
	if err != nil {
		return err
	}
	d, err := o.deliveryFlags.setup(a, false)
	if err != nil {
		return err
	}
	if err := checkWritable(o.outputFile); err != nil {
		return usageError("%v", err)
	}
	fx, err := o.fix.prepare(a)
	if err != nil {
		return err
	}
	progress := progressWriter(stderr)
	ar, err := a.audit(ctx, readOptions{
		progress: progress,
		// The live progress line is redrawn in place: only for people reading a table on
		// a terminal, never on pipes or when a document is being written.
		progressLine: progress != io.Discard && format == report.Table && o.outputFile == "",
		memProfile:   o.memProfile,
	})
	if err != nil {
		return err
	}
	res := ar.res
	if o.debugTimings {
		printTimings(stderr, ar.loaded, res.Timings)
	}
	// State first (it marks new and resolved findings), then the report, then Slack: a
	// slow or failed post must never hold back or cost the written report, and a report
	// that could not be written is not announced.
	for _, w := range d.record(ctx, ar) {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	var docs map[string]report.RuleDoc
	if format == report.HTML { // the page documents each rule it shows
		docs = ruledocs.For(a.eng.Rules())
	}
	if err := writeReport(stdout, o.outputFile, res.Report, format, docs); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	_, notifyErr := d.notify(ctx, res.Report)
	// Fixes come after the report is out, so a failed fix never costs the report.
	fixFailed := false
	if fx != nil {
		if fixFailed, err = fx.run(ctx, res.Report, stdin, fixOutput(stdout, stderr, format, o.outputFile)); err != nil {
			return &exitError{code: ExitError, err: fmt.Errorf("writing the fix plan: %w", err)}
		}
	}
	switch {
	case fixFailed:
		return &exitError{code: ExitFixFailed, err: errors.New("--fix: at least one action failed (see the results above)")}
	case notifyErr != nil:
		return &exitError{code: ExitNotify, err: notifyErr}
	case a.failOn != 0 && res.Report.Summary.AtLeast(a.failOn) > 0:
		return &exitError{code: ExitFindings}
	case res.Partial:
		return &exitError{code: ExitPartial}
	}
	return nil
}

// writeReport renders rep to stdout, or to path (atomically) when one is given. docs
// documents the rules for the HTML page (nil for other formats).
func writeReport(stdout io.Writer, path string, rep *audit.Report, format report.Format, docs map[string]report.RuleDoc) error {
	if path == "" {
		ro := terminalOptions(stdout)
		ro.Rules = docs
		if err := report.Write(stdout, rep, format, ro); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		return nil
	}
	return writeFileAtomic(path, func(w io.Writer) error { return report.Write(w, rep, format, report.Options{Rules: docs}) })
}

// terminalOptions sizes and colours the table for w when it is a terminal.
func terminalOptions(w io.Writer) report.Options {
	ropts := report.Options{}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ropts.Color = os.Getenv("NO_COLOR") == ""
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 40 {
			ropts.Width = w
		}
	}
	return ropts
}

// checkWritable fails early, before the audit records state or posts anything, when
// path's directory cannot take the report.
func checkWritable(path string) error {
	if path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--output-file %s: %v", path, unwrapPathError(err))
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// writeFileAtomic writes through a temporary file in the same directory and renames it
// over path, so a reader never sees half a report and a failure keeps the old one.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--output-file %s: %v", path, unwrapPathError(err))
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--output-file %s: %v", path, unwrapPathError(err))
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

func orNothing(s string) string {
	if s == "" {
		return "no objects the auditor reads"
	}
	return s
}

func describeIgnored(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func printTimings(w io.Writer, load time.Duration, ts []rules.Timing) {
	var total time.Duration
	for _, t := range ts {
		total += t.Duration
	}
	fmt.Fprintf(w, "timings: load %s, rules %s\n", load.Round(time.Microsecond), total.Round(time.Microsecond))
	for _, t := range ts {
		fmt.Fprintf(w, "  %-28s %10s  %d findings\n", t.Rule, t.Duration.Round(time.Microsecond), t.Findings)
	}
}

// progressWriter returns stderr when it is a terminal and a discard writer otherwise, so
// scripts and CronJob logs get the report alone.
func progressWriter(stderr io.Writer) io.Writer {
	if isTerminal(stderr) {
		return stderr
	}
	return io.Discard
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--debug-memprofile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}
