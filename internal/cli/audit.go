package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
)

// auditFlags are the flags every auditing command shares (run, serve, cost): what to
// read, which rules, and how to judge.
type auditFlags struct {
	kube        kubeOptions
	fromFile    string
	configPath  string
	rules       []string
	minSeverity string
	failOn      string
	timeout     time.Duration
	now         string
}

func (f *auditFlags) addFlags(fs *pflag.FlagSet) {
	f.kube.addFlags(fs)
	fs.StringVar(&f.fromFile, "from-file", "", "audit a dump instead of a live cluster: a file, a directory, or - for stdin")
	fs.StringVar(&f.configPath, "config", "", "config file (see config/auditor.yaml for every option)")
	fs.StringSliceVar(&f.rules, "rules", nil, "run only these rule IDs (comma list or repeated); see `auditor rules list`")
	fs.StringVar(&f.minSeverity, "min-severity", "", "hide findings below this severity: info, warning or critical (default info)")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up reading the cluster after this long")
	fs.StringVar(&f.now, "now", "", "evaluate ages as if it were this RFC 3339 time (reproducible reports of old dumps)")
	_ = fs.MarkHidden("now")
}

// addFailOn adds --fail-on, which only the one-shot commands have.
func (f *auditFlags) addFailOn(fs *pflag.FlagSet) {
	fs.StringVar(&f.failOn, "fail-on", "", "exit 1 when a finding is at or above: none, info, warning or critical (default none)")
}

// auditor is a validated audit set-up: built once, run once (run) or on every tick (serve).
type auditor struct {
	flags    *auditFlags
	stdin    io.Reader
	eng      *rules.Engine
	cfg      *config.Config // nil without --config
	settings rules.Settings
	failOn   audit.Severity
	fixedNow time.Time // zero: the wall clock

	// Live clusters only: the connection, made once and reused by every run.
	rest    *rest.Config
	cs      kubernetes.Interface
	cluster string
}

// prepare checks flags and config before anything is read, so a typo fails fast, and
// connects to the live cluster (nothing is sent until the audit).
func (f *auditFlags) prepare(stdin io.Reader) (*auditor, error) {
	a, err := f.prepareRules(stdin)
	if err != nil || f.fromFile != "" {
		return a, err
	}
	if a.cs, a.rest, a.cluster, err = f.kube.clientset(); err != nil {
		return nil, err
	}
	return a, nil
}

// prepareRules is prepare without the connection: a many-cluster run connects to each
// cluster on its own (auditor.forContext).
func (f *auditFlags) prepareRules(stdin io.Reader) (*auditor, error) {
	eng, err := rules.NewEngine(catalog.All())
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	a := &auditor{flags: f, stdin: stdin, eng: eng}
	if err := f.kube.checkRate(); err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	if f.configPath != "" {
		cfg, err := config.Load(f.configPath, eng.Rules())
		if err != nil {
			return nil, usageError("%v", err)
		}
		a.cfg = cfg
		a.settings = cfg.Settings()
		a.failOn = cfg.FailOn
	}
	if f.minSeverity != "" {
		if a.settings.MinSeverity, err = audit.ParseSeverity(f.minSeverity); err != nil {
			return nil, usageError("--min-severity: %v", err)
		}
	}
	if f.failOn != "" {
		a.failOn = 0
		if f.failOn != "none" {
			if a.failOn, err = audit.ParseSeverity(f.failOn); err != nil {
				return nil, usageError("--fail-on: %v (or none)", err)
			}
		}
	}
	a.settings.Only = f.rules
	if len(f.kube.namespaces) > 0 {
		a.settings.IncludeNamespaces = f.kube.namespaces
	}
	if err := eng.CheckSettings(a.settings); err != nil {
		return nil, usageError("%v", err)
	}
	if f.now != "" {
		if a.fixedNow, err = time.Parse(time.RFC3339, f.now); err != nil {
			return nil, usageError("--now: want an RFC 3339 time such as 2026-06-01T12:00:00Z")
		}
	}
	if f.fromFile != "" {
		if f.kube.kubeconfig != "" || f.kube.context != "" {
			return nil, usageError("--from-file audits a dump; --kubeconfig and --context do not apply")
		}
	}
	return a, nil
}

// auditRun is one audit's outcome.
type auditRun struct {
	res     *rules.Result
	objects map[string]int
	loaded  time.Duration
	started time.Time
}

// readOptions say how a run reports its progress.
type readOptions struct {
	progress io.Writer // one-line messages ("Read 120 PVs..."); io.Discard for none
	// progressLine redraws a live "lists done" line on progress (terminals only).
	progressLine bool
	memProfile   string
}

// audit reads the cluster (or the dump) and runs the rules. Its errors are exitErrors.
func (a *auditor) audit(ctx context.Context, ro readOptions) (*auditRun, error) {
	out := &auditRun{started: time.Now()}
	now := a.fixedNow
	if now.IsZero() {
		now = out.started
	}
	ctx, cancel := context.WithTimeout(ctx, a.flags.timeout)
	defer cancel()
	snap, err := a.read(ctx, ro)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	out.loaded = time.Since(out.started)
	if ro.memProfile != "" {
		if err := writeHeapProfile(ro.memProfile); err != nil {
			return nil, &exitError{code: ExitError, err: err}
		}
	}
	fmt.Fprintf(ro.progress, "Read %s in %s\n", orNothing(snap.String()), out.loaded.Round(time.Millisecond))
	out.objects = map[string]int{}
	for k, n := range snap.Counts() {
		out.objects[string(k)] = n
	}
	if out.res, err = a.eng.Run(ctx, snap, a.settings, now); err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return out, nil
}

func (a *auditor) read(ctx context.Context, ro readOptions) (*snapshot.Snapshot, error) {
	if a.flags.fromFile != "" {
		snap, stats, err := snapshot.LoadFiles(a.flags.fromFile, a.stdin)
		if err != nil {
			return nil, err
		}
		if !stats.Complete {
			fmt.Fprintln(ro.progress, "Partial dump (not all of pv, pvc, storageclasses, nodes, csinodes, pods, deployments, daemonsets have objects): rules needing a kind it lacks are skipped")
		}
		if len(stats.Ignored) > 0 {
			fmt.Fprintf(ro.progress, "Ignored %s (the auditor does not read those kinds)\n", describeIgnored(stats.Ignored))
		}
		return snap, nil
	}
	fmt.Fprintf(ro.progress, "Reading cluster %s (%s)...\n", a.cluster, a.rest.Host)
	lopts := live.Options{Namespaces: a.flags.kube.namespaces}
	if ro.progressLine {
		lopts.Progress = func(done, total, objects int) {
			fmt.Fprintf(ro.progress, "\r\x1b[KReading %s: %d/%d lists, %d objects", a.cluster, done, total, objects)
		}
	}
	snap, err := live.Load(ctx, a.cs, a.cluster, lopts)
	if ro.progressLine {
		fmt.Fprint(ro.progress, "\r\x1b[K")
	}
	if err != nil {
		return nil, a.readError(ctx, err)
	}
	return snap, nil
}

// readError says why reading the live cluster failed, in the user's terms: a signal
// stopped it, --timeout ran out, or the API server's own error.
func (a *auditor) readError(ctx context.Context, err error) error {
	where := fmt.Sprintf("cluster %s (%s)", a.cluster, a.rest.Host)
	var intr *interruption
	if errors.As(context.Cause(ctx), &intr) {
		return fmt.Errorf("%v while reading %s; no report was written", intr, where)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The request's own error ("Get ...: context deadline exceeded") says nothing a
		// person can act on; what was still being read does.
		// "Within": a read that --qps cannot fit in the time left fails before it runs out.
		var le *live.ListError
		waiting := ""
		if errors.As(err, &le) {
			waiting = " (still listing " + le.Kind.Resource() + ")"
		}
		return fmt.Errorf("reading %s could not finish within --timeout %s%s: the API server answered too slowly or not at all; check that it is healthy, or raise --timeout (or --qps, if the read was throttled)", where, a.flags.timeout, waiting)
	}
	return fmt.Errorf("reading %s: %v; check --kubeconfig/--context and that the API server is reachable", where, err)
}
