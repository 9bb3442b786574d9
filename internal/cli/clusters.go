package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// clusterFlags make run and cost audit many clusters at once: kubeconfig contexts, each
// through its own connection, at most maxConcurrency at a time. serve, fix, resize and
// preflight work on one cluster and do not have these flags.
type clusterFlags struct {
	contexts       []string
	allContexts    bool
	maxConcurrency int
	fs             *pflag.FlagSet
}

func (c *clusterFlags) addFlags(fs *pflag.FlagSet) {
	c.fs = fs
	fs.StringSliceVar(&c.contexts, "contexts", nil, "audit these kubeconfig contexts (comma list or repeated) concurrently, each through its own connection; the output covers them all (a CLUSTER column, a list document)")
	fs.BoolVar(&c.allContexts, "all-contexts", false, "audit every context of the kubeconfig, like --contexts with all of them")
	fs.IntVar(&c.maxConcurrency, "max-concurrency", 4, "with --contexts or --all-contexts: audit at most this many clusters at a time (--timeout applies to each)")
}

// many reports whether more than one cluster was asked for (even a --contexts list of
// one: the output's shape follows the flags, not the count, so scripts can rely on it).
func (c *clusterFlags) many() bool { return len(c.contexts) > 0 || c.allContexts }

// resolve checks the many-cluster flags against the others and returns the contexts to
// audit: --contexts in the order given (repeats dropped), or the kubeconfig's contexts
// sorted by name.
func (c *clusterFlags) resolve(f *auditFlags) ([]string, error) {
	if !c.many() {
		if c.fs != nil && c.fs.Changed("max-concurrency") {
			return nil, usageError("--max-concurrency applies to --contexts and --all-contexts: add one, or leave it out")
		}
		return nil, nil
	}
	switch {
	case len(c.contexts) > 0 && c.allContexts:
		return nil, usageError("--contexts and --all-contexts: choose one")
	case f.fromFile != "":
		return nil, usageError("--contexts and --all-contexts audit live clusters; --from-file reads one dump: leave one out")
	case f.kube.context != "":
		return nil, usageError("--context picks one cluster; with --contexts or --all-contexts leave it out")
	case c.maxConcurrency < 1:
		return nil, usageError("--max-concurrency %d: want 1 or more", c.maxConcurrency)
	}
	raw, err := f.kube.clientConfig().RawConfig()
	if err != nil {
		return nil, usageError("kubeconfig %s: %v", f.kube.source(), err)
	}
	var have []string
	for name := range raw.Contexts {
		have = append(have, name)
	}
	sort.Strings(have)
	if c.allContexts {
		if len(have) == 0 {
			return nil, usageError("--all-contexts: kubeconfig %s has no contexts", f.kube.source())
		}
		return have, nil
	}
	var names []string
	for _, n := range c.contexts {
		n = strings.TrimSpace(n)
		if n == "" || slices.Contains(names, n) {
			continue
		}
		if raw.Contexts[n] == nil {
			return nil, usageError("--contexts: context %q is not in kubeconfig %s (it has: %s)", n, f.kube.source(), orNone(have))
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, usageError("--contexts: name at least one context (kubeconfig %s has: %s)", f.kube.source(), orNone(have))
	}
	return names, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// forContext returns a copy of a (a live set-up that is not connected yet) that audits the
// kubeconfig context name through a connection of its own.
func (a *auditor) forContext(name string) (*auditor, error) {
	f := *a.flags
	f.kube.context = name
	c := *a
	c.flags = &f
	var err error
	if c.cs, c.rest, c.cluster, err = f.kube.clientset(); err != nil {
		return nil, err
	}
	return &c, nil
}

// clusterAudit is one cluster's part in a many-cluster run.
type clusterAudit struct {
	name     string
	a        *auditor  // nil when the connection could not be set up
	ar       *auditRun // nil when the cluster could not be audited
	err      error     // why the cluster could not be audited
	d        *delivery // run only: the cluster's state store and Slack
	warnings []string
}

// auditEach audits every context, at most max at a time, each through its own
// connection, and hands each completed audit to then (nil: nothing), still concurrently:
// run keeps each cluster's state there. A cluster that cannot be audited keeps its error
// and stops no other. The results are in the order of names.
func (a *auditor) auditEach(ctx context.Context, names []string, max int, progress io.Writer, then func(context.Context, *clusterAudit)) []*clusterAudit {
	out := make([]*clusterAudit, len(names))
	if progress != io.Discard {
		progress = &lockedWriter{w: progress}
	}
	sem := make(chan struct{}, max)
	var wg sync.WaitGroup
	for i, name := range names {
		c := &clusterAudit{name: name}
		out[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				c.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if c.a, c.err = a.forContext(name); c.err != nil {
				return
			}
			// The redrawn progress line is for one cluster: several would overwrite
			// each other, so each cluster prints whole lines, named.
			ro := readOptions{progress: io.Discard}
			if progress != io.Discard {
				ro.progress = &prefixWriter{w: progress, prefix: name + ": "}
			}
			c.ar, c.err = c.a.audit(ctx, ro)
			if c.err == nil && then != nil {
				then(ctx, c)
			}
		}()
	}
	wg.Wait()
	return out
}

// failedReport is the report standing for a cluster that could not be audited, dated at.
func (c *clusterAudit) failedReport(at time.Time) *audit.Report {
	rep := audit.NewReport(c.name, at)
	rep.Error = errorText(c.err)
	return rep
}

// errorText is an error as one line, without the exit code wrapping it.
func errorText(err error) string {
	var ee *exitError
	if errors.As(err, &ee) && ee.err != nil {
		err = ee.err
	}
	return oneLine(err.Error())
}

// now is the time reports are dated with: --now when given, else the wall clock.
func (a *auditor) now() time.Time {
	if !a.fixedNow.IsZero() {
		return a.fixedNow
	}
	return time.Now()
}

// Exit-code precedence of a many-cluster run, as for one cluster: a failed Slack post
// first, then findings at or above --fail-on, then a partial audit.
var exitPrecedence = []int{ExitNotify, ExitFindings, ExitPartial}

// worstExit combines the clusters' exit codes: ExitError when no cluster could be
// audited, else the code that comes first in exitPrecedence, else ExitOK. A cluster that
// could not be audited counts as ExitPartial: the run covered only part of what was
// asked.
func worstExit(codes []int, failed int) int {
	if len(codes) > 0 && failed == len(codes) {
		return ExitError
	}
	for _, want := range exitPrecedence {
		if slices.Contains(codes, want) {
			return want
		}
	}
	return ExitOK
}

// exitCode is a completed cluster audit's own exit code.
func (c *clusterAudit) exitCode(failOn audit.Severity, notifyFailed bool) int {
	switch {
	case c.err != nil:
		return ExitPartial
	case notifyFailed:
		return ExitNotify
	case failOn != 0 && c.ar.res.Report.Summary.AtLeast(failOn) > 0:
		return ExitFindings
	case c.ar.res.Partial:
		return ExitPartial
	}
	return ExitOK
}

// lockedWriter serialises writes from the clusters' goroutines (progress, messages).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter starts every line written to w with prefix. Each Write must carry whole
// lines (progress messages are printed a line at a time), so lines of clusters audited
// at once never interleave.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var buf bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			buf.WriteString(p.prefix)
			buf.Write(line)
		}
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}
