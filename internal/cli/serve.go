package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/storage-auditor/auditor/pkg/metrics"
)

type serveOptions struct {
	auditFlags
	deliveryFlags
	schedule        string
	timeZone        string
	listen          string
	runOnStart      bool
	shutdownTimeout time.Duration
	fix             fixFlags
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Audit on a schedule, post digests and serve Prometheus metrics",
		Long: `Audit on a cron schedule for as long as the process runs: each run reads the
cluster, keeps run-to-run state, posts the Slack digest (when configured) and updates
the metrics served on --listen:

  /metrics   Prometheus metrics: findings by rule and severity, last run time, duration
             and success, objects read, monthly storage cost by namespace and class
  /healthz   200 while the server runs (for a liveness probe)

A run that is still going when the next one is due is skipped, not overlapped; a run that
fails or panics is logged and counted (storage_auditor_runs_total{result="failure"}) and
the next one runs as scheduled. SIGTERM or SIGINT stop the schedule, cancel a running
audit and shut the HTTP server down.

The schedule is a standard 5-field cron expression (minute hour day-of-month month
day-of-week) or a descriptor: @hourly, @daily, @every 30m. Without --state-file or
--state-configmap the state lives in memory: digests still say what changed since the
previous run of this process, but a restart starts afresh.

With --fix --yes each run applies the allowed fixes after the digest, exactly as
auditor run --fix does (same plan, same --allow and config fix.allow, same limits); the
plan and the result of every action go to the log. There is no one to confirm, so
--fix needs --yes (or --dry-run).

For one audit and an exit code (a Kubernetes CronJob, CI), use auditor run.`,
		Example: `  auditor serve --schedule "0 8 * * 1-5" --time-zone Europe/Berlin --state-configmap auditor-state
  auditor serve --schedule @every 1h --listen :9090 --slack-channel '#storage' --config config/auditor.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.serve(cmd.Context(), cmd.InOrStdin(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.auditFlags.addFlags(f)
	o.deliveryFlags.addFlags(f)
	f.StringVar(&o.schedule, "schedule", "0 8 * * 1-5", "when to audit: a 5-field cron expression or @hourly, @daily, @every 30m")
	f.StringVar(&o.timeZone, "time-zone", "UTC", "time zone of --schedule (an IANA name such as Europe/Berlin, or Local)")
	f.StringVar(&o.listen, "listen", ":8080", "address of the /metrics and /healthz server")
	f.BoolVar(&o.runOnStart, "run-on-start", true, "audit once at start-up, so metrics are there before the first scheduled run")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for a running audit and open connections on SIGTERM")
	o.fix.addFlags(f)
	return cmd
}

func (o *serveOptions) serve(ctx context.Context, stdin io.Reader, stderr io.Writer) error {
	loc, err := time.LoadLocation(o.timeZone)
	if err != nil {
		return usageError("--time-zone %q: not a known time zone (use an IANA name such as Europe/Berlin, UTC or Local)", o.timeZone)
	}
	sched, err := cron.ParseStandard(o.schedule)
	if err != nil {
		return usageError("--schedule %q: %v (want 5 fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @every 30m)", o.schedule, err)
	}
	if o.fromFile == "-" {
		return usageError("--from-file -: serve audits repeatedly and cannot re-read stdin; give a file or directory")
	}
	a, err := o.auditFlags.prepare(stdin)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o.deliveryFlags.logRetriesTo(func(line string) { log.Warn(line) })
	d, err := o.deliveryFlags.setup(a, true)
	if err != nil {
		return err
	}
	fx, err := o.fix.prepare(a)
	if err != nil {
		return err
	}
	if fx != nil && !fx.yes && fx.dryRun == "" {
		return usageError("serve --fix runs unattended: add --yes to apply the allowed fixes, or --dry-run=server to only check them")
	}
	ids := make([]string, 0, len(a.eng.Rules()))
	for _, r := range a.eng.Rules() {
		ids = append(ids, r.ID)
	}
	s := &server{a: a, d: d, fix: fx, fixOut: stderr, log: log, metrics: metrics.New(ids)}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError("--listen %s: %v", o.listen, unwrapOpError(err))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "schedule", o.schedule, "timeZone", loc.String(), "cluster", s.clusterName())

	runCtx, cancelRuns := context.WithCancel(ctx)
	defer cancelRuns()
	c := cron.New(cron.WithLocation(loc), cron.WithChain(
		cron.Recover(cronLogger{log}),
		cron.SkipIfStillRunning(cronLogger{log}),
	))
	job := cron.FuncJob(func() { s.runOnce(runCtx) })
	c.Schedule(sched, job)
	c.Start()
	var first sync.WaitGroup
	if o.runOnStart {
		// Through the same chain, so a scheduled tick during it is skipped, not overlapped.
		first.Go(c.Entries()[0].WrappedJob.Run)
	}
	log.Info("next run", "at", sched.Next(time.Now().In(loc)).Format(time.RFC3339))

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-httpDone:
	}
	// Stop scheduling, cancel a running audit, and wait for it to return.
	stopped := c.Stop()
	cancelRuns()
	done := make(chan struct{})
	go func() {
		<-stopped.Done()
		first.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(o.shutdownTimeout):
		log.Warn("a running audit did not stop in time", "timeout", o.shutdownTimeout)
	}
	if serveErr == nil {
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("HTTP shutdown", "err", err)
		}
		return nil
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return &exitError{code: ExitError, err: fmt.Errorf("metrics server on %s: %v", o.listen, serveErr)}
}

// server is the state of `auditor serve` between runs.
type server struct {
	a       *auditor
	d       *delivery
	fix     *fixStage // nil without --fix
	fixOut  io.Writer // where the fix plan and results are printed (the log stream)
	log     *slog.Logger
	metrics *metrics.Metrics
	mu      sync.Mutex // one run at a time, even if a chain is misconfigured
}

func (s *server) clusterName() string {
	if s.a.flags.fromFile != "" {
		return s.a.flags.fromFile
	}
	return s.a.cluster
}

// runOnce audits, records state, notifies and updates the metrics. It never panics out:
// a panic is a failed run like any other.
func (s *server) runOnce(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	run := metrics.Run{Start: start}
	defer func() {
		if v := recover(); v != nil {
			run.Err = fmt.Errorf("audit panicked: %v (please report this bug)", v)
			run.Duration = time.Since(start)
			s.log.Error("run failed", "err", run.Err)
			s.metrics.Observe(nil, run)
		}
	}()
	ar, err := s.a.audit(ctx, readOptions{progress: io.Discard})
	if err != nil {
		run.Err, run.Duration = err, time.Since(start)
		s.log.Error("run failed", "err", oneLine(err.Error()))
		s.metrics.Observe(nil, run)
		return
	}
	rep := ar.res.Report
	run.Objects = ar.objects
	run.Partial = ar.res.Partial
	for _, w := range s.d.record(ctx, ar) {
		s.log.Warn(w)
	}
	run.Duration = time.Since(start)
	// Metrics first: Slack retries (up to about two minutes) must not hold them back.
	s.metrics.Observe(rep, run)
	posted, notifyErr := s.d.notify(ctx, rep)
	if notifyErr != nil {
		s.metrics.NotificationFailed()
		s.log.Error("notification failed", "err", oneLine(notifyErr.Error()))
	}
	// Fixes last, as in auditor run: a failed fix never costs the metrics or the digest.
	if s.fix != nil {
		failed, err := s.fix.run(ctx, rep, nil, s.fixOut)
		switch {
		case err != nil:
			s.log.Error("writing the fix plan failed", "err", oneLine(err.Error()))
		case failed:
			s.log.Error("fix failed: at least one action failed (see the results above)")
		}
	}
	attrs := []any{"critical", rep.Summary.Critical, "warning", rep.Summary.Warning, "info", rep.Summary.Info,
		"duration", run.Duration.Round(time.Millisecond), "objects", totalObjects(ar.objects), "posted", posted}
	if rep.Changes != nil {
		attrs = append(attrs, "new", rep.Changes.New, "resolved", rep.Changes.Resolved)
	}
	if ar.res.Partial {
		attrs = append(attrs, "partial", true, "skipped", len(rep.Skipped), "unreadable", len(rep.Unreadable))
	}
	s.log.Info("run done", attrs...)
}

func totalObjects(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// cronLogger adapts slog to cron's logger (used for recovered panics and skipped runs).
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		c.l.Warn("skipping a scheduled run: the previous one is still going")
		return
	}
	c.l.Debug(msg, kv...)
}

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append([]any{"err", err}, kv...)...)
}
