package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

// runMany is auditor run --contexts/--all-contexts: every cluster is read, judged and
// keeps its state concurrently; then one output covers them all, then each cluster's
// Slack digest is posted. A cluster that cannot be audited is printed to stderr
// ("cluster NAME: why"), stands in the output as a report with its error, and stops no
// other.
func (o *runOptions) runMany(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, format report.Format) error {
	if !report.SupportsMulti(format) {
		return usageError("-o %s shows one cluster; with --contexts or --all-contexts use table, json, yaml or markdown", format)
	}
	if o.fix.enabled {
		return usageError("--fix changes one cluster at a time: run it with --context NAME instead of --contexts or --all-contexts")
	}
	if o.memProfile != "" {
		return usageError("--debug-memprofile profiles one cluster: use --context NAME")
	}
	a, err := o.auditFlags.prepareRules(stdin)
	if err != nil {
		return err
	}
	names, err := o.clusters.resolve(&o.auditFlags)
	if err != nil {
		return err
	}
	if _, err := o.fix.prepare(a); err != nil { // only refuses --fix's flags without --fix
		return err
	}
	// Digests are posted one cluster at a time (below), so a retry line can say whose.
	var notifying string
	o.deliveryFlags.logRetriesTo(func(line string) { fmt.Fprintf(stderr, "warning: cluster %s: %s\n", notifying, line) })
	deliveryFor, err := o.deliveryFlags.setupEach(a)
	if err != nil {
		return err
	}
	if err := checkWritable(o.outputFile); err != nil {
		return usageError("%v", err)
	}
	at := a.now()
	runs := a.auditEach(ctx, names, o.clusters.maxConcurrency, progressWriter(stderr), func(ctx context.Context, c *clusterAudit) {
		// State is kept per cluster, before the output, as for one cluster: it marks
		// the report's new and resolved findings.
		d, err := deliveryFor(c.a)
		c.d = d
		if err != nil {
			c.warnings = append(c.warnings, "run-to-run state not kept: "+oneLine(err.Error()))
			return
		}
		c.warnings = append(c.warnings, d.record(ctx, c.ar)...)
	})
	reps := make([]*audit.Report, len(runs))
	failed := 0
	for i, c := range runs {
		if c.err != nil {
			failed++
			reps[i] = c.failedReport(at)
			fmt.Fprintf(stderr, "error: cluster %s: %s\n", c.name, reps[i].Error)
			continue
		}
		reps[i] = c.ar.res.Report
		for _, w := range c.warnings {
			fmt.Fprintf(stderr, "warning: cluster %s: %s\n", c.name, w)
		}
		if o.debugTimings {
			fmt.Fprintf(stderr, "cluster %s: ", c.name)
			printTimings(stderr, c.ar.loaded, c.ar.res.Timings)
		}
	}
	if err := writeReports(stdout, o.outputFile, reps, format); err != nil {
		return &exitError{code: ExitError, err: err}
	}
	// One digest per cluster, after the output, one cluster at a time: a failed post
	// is that cluster's exit code 4 and no other's.
	codes := make([]int, len(runs))
	for i, c := range runs {
		notifyFailed := false
		if c.err == nil && c.d != nil {
			notifying = c.name
			if _, err := c.d.notify(ctx, c.ar.res.Report); err != nil {
				notifyFailed = true
				fmt.Fprintf(stderr, "error: cluster %s: %s\n", c.name, oneLine(err.Error()))
			}
		}
		codes[i] = c.exitCode(a.failOn, notifyFailed)
	}
	code := worstExit(codes, failed)
	switch {
	case code == ExitError:
		return &exitError{code: code, err: fmt.Errorf("no cluster could be audited (%d of %d failed; see above)", failed, len(runs))}
	case code != ExitOK:
		return &exitError{code: code}
	}
	return nil
}

// writeReports renders many clusters' reports to stdout, or to path (atomically).
func writeReports(stdout io.Writer, path string, reps []*audit.Report, format report.Format) error {
	if path == "" {
		if err := report.WriteMulti(stdout, reps, format, terminalOptions(stdout)); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		return nil
	}
	return writeFileAtomic(path, func(w io.Writer) error { return report.WriteMulti(w, reps, format, report.Options{}) })
}
