package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/internal/version"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
)

type runOptions struct {
	kube         kubeOptions
	fromFile     string
	output       string
	configPath   string
	rules        []string
	minSeverity  string
	failOn       string
	timeout      time.Duration
	debugTimings bool
	memProfile   string
	now          string
	progressLine bool
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

` + exitCodesHelp,
		Example: `  auditor run
  auditor run --context prod -n shop,billing -o json
  auditor run --from-file examples/incident-cluster.yaml
  kubectl get pv,pvc,sc -A -o yaml | auditor run --from-file - --rules pv-released-retained
  auditor run --config config/auditor.yaml --fail-on critical`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.kube.addFlags(f)
	f.StringVar(&o.fromFile, "from-file", "", "audit a dump instead of a live cluster: a file, a directory, or - for stdin")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&o.configPath, "config", "", "config file (see config/auditor.yaml for every option)")
	f.StringSliceVar(&o.rules, "rules", nil, "run only these rule IDs (comma list or repeated); see `auditor rules list`")
	f.StringVar(&o.minSeverity, "min-severity", "", "hide findings below this severity: info, warning or critical (default info)")
	f.StringVar(&o.failOn, "fail-on", "", "exit 1 when a finding is at or above: none, info, warning or critical (default none)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up reading the cluster after this long")
	f.BoolVar(&o.debugTimings, "debug-timings", false, "print load and per-rule timings to stderr")
	f.StringVar(&o.memProfile, "debug-memprofile", "", "write a heap profile to this file once the cluster is read (for go tool pprof)")
	_ = f.MarkHidden("debug-memprofile")
	f.StringVar(&o.now, "now", "", "evaluate ages as if it were this RFC 3339 time (reproducible reports of old dumps)")
	_ = f.MarkHidden("now")
	return cmd
}

func (o *runOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	format, err := report.ParseFormat(o.output)
	if err != nil {
		return usageError("-o: %v", err)
	}
	eng, err := rules.NewEngine(catalog.All())
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	settings := rules.Settings{}
	failOn := audit.Severity(0)
	if o.configPath != "" {
		cfg, err := config.Load(o.configPath, eng.Rules())
		if err != nil {
			return usageError("%v", err)
		}
		settings = cfg.Settings()
		failOn = cfg.FailOn
	}
	if o.minSeverity != "" {
		if settings.MinSeverity, err = audit.ParseSeverity(o.minSeverity); err != nil {
			return usageError("--min-severity: %v", err)
		}
	}
	if o.failOn != "" {
		failOn = 0
		if o.failOn != "none" {
			if failOn, err = audit.ParseSeverity(o.failOn); err != nil {
				return usageError("--fail-on: %v (or none)", err)
			}
		}
	}
	settings.Only = o.rules
	if len(o.kube.namespaces) > 0 {
		settings.IncludeNamespaces = o.kube.namespaces
	}
	if err := eng.CheckSettings(settings); err != nil {
		return usageError("%v", err)
	}
	now := time.Now()
	if o.now != "" {
		if now, err = time.Parse(time.RFC3339, o.now); err != nil {
			return usageError("--now: want an RFC 3339 time such as 2026-06-01T12:00:00Z")
		}
	}
	progress := progressWriter(stderr)
	// The live progress line is redrawn in place: only for people reading a table on a
	// terminal, never on pipes or when a document is being written.
	o.progressLine = progress != io.Discard && format == report.Table

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	var snap *snapshot.Snapshot
	if o.fromFile != "" {
		if o.kube.kubeconfig != "" || o.kube.context != "" {
			return usageError("--from-file audits a dump; --kubeconfig and --context do not apply")
		}
		var stats snapshot.FileStats
		snap, stats, err = snapshot.LoadFiles(o.fromFile, stdin)
		if err != nil {
			return &exitError{code: ExitError, err: err}
		}
		if !stats.Complete {
			fmt.Fprintln(progress, "Partial dump (not all of pv, pvc, storageclasses, nodes, csinodes, pods, deployments, daemonsets have objects): rules needing a kind it lacks are skipped")
		}
		if len(stats.Ignored) > 0 {
			fmt.Fprintf(progress, "Ignored %s (the auditor does not read those kinds)\n", describeIgnored(stats.Ignored))
		}
	} else {
		snap, err = o.loadLive(ctx, progress)
		if err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	loaded := time.Since(start)
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return &exitError{code: ExitError, err: err}
		}
	}
	fmt.Fprintf(progress, "Read %s in %s\n", orNothing(snap.String()), loaded.Round(time.Millisecond))

	res, err := eng.Run(ctx, snap, settings, now)
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	if o.debugTimings {
		printTimings(stderr, loaded, res.Timings)
	}
	ropts := report.Options{}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ropts.Color = os.Getenv("NO_COLOR") == ""
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 40 {
			ropts.Width = w
		}
	}
	if err := report.Write(stdout, res.Report, format, ropts); err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("writing the report: %w", err)}
	}
	switch {
	case failOn != 0 && res.Report.Summary.AtLeast(failOn) > 0:
		return &exitError{code: ExitFindings}
	case res.Partial:
		return &exitError{code: ExitPartial}
	}
	return nil
}

func orNothing(s string) string {
	if s == "" {
		return "no objects the auditor reads"
	}
	return s
}

func (o *runOptions) loadLive(ctx context.Context, progress io.Writer) (*snapshot.Snapshot, error) {
	cfg, name, err := o.kube.restConfig()
	if err != nil {
		return nil, err
	}
	cfg = live.Config(cfg, o.kube.qps, o.kube.burst, version.Get().Version)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building a client for %s: %w", cfg.Host, err)
	}
	fmt.Fprintf(progress, "Reading cluster %s (%s)...\n", name, cfg.Host)
	lopts := live.Options{Namespaces: o.kube.namespaces}
	if o.progressLine {
		lopts.Progress = func(done, total, objects int) {
			fmt.Fprintf(progress, "\r\x1b[KReading %s: %d/%d lists, %d objects", name, done, total, objects)
		}
	}
	snap, err := live.Load(ctx, cs, name, lopts)
	if o.progressLine {
		fmt.Fprint(progress, "\r\x1b[K")
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("reading cluster %s (%s) took longer than --timeout %s: %v", name, cfg.Host, o.timeout, err)
		}
		return nil, fmt.Errorf("reading cluster %s (%s): %v; check --kubeconfig/--context and that the API server is reachable", name, cfg.Host, err)
	}
	return snap, nil
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
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
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
