// Package metrics exposes what `auditor serve` found and how its runs went as
// Prometheus metrics, on a registry of its own.
//
// Every series derived from a report is rebuilt from the last successful run at scrape
// time, so a namespace, storage class or rule that is gone from the report is gone from
// the scrape (or reads 0, for the findings of a known rule), and a scrape never sees
// half of one run and half of the next.
//
// A failed run (no report) updates the run series (last_run_*, runs_total) and leaves
// every report-derived series at its last known value: a failed audit does not mean
// the problems went away. Likewise the findings of a rule that was skipped in an
// otherwise successful run keep their last known value, flagged by rule_skipped.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storage-auditor/auditor/pkg/audit"
)

const namespace = "storage_auditor"

// Run describes one audit run, successful or not.
type Run struct {
	Start    time.Time
	Duration time.Duration
	// Err is why the run produced no report; nil for a run that did.
	Err error
	// Partial is true when the run produced a report but a kind was unreadable or a
	// rule failed.
	Partial bool
	// Objects counts the objects read per kind.
	Objects map[string]int
	// NotifyErr is why the run's notification could not be delivered; nil otherwise.
	NotifyErr error
}

// Run results, the values of runs_total's result label.
const (
	ResultSuccess = "success"
	ResultPartial = "partial"
	ResultFailure = "failure"
)

// Metrics holds the last run's values and serves them.
type Metrics struct {
	reg *prometheus.Registry

	mu    sync.Mutex
	rules []string // known rule IDs, sorted: every one has a findings series
	runs  map[string]float64
	// notifyFailures counts runs whose notification failed.
	notifyFailures float64

	ran         bool // a run was observed
	lastRun     time.Time
	lastSuccess time.Time // zero until a run succeeds
	duration    time.Duration
	succeeded   bool
	partial     bool

	report *reportValues // nil until a run produces a report
}

// reportValues are the series derived from the last report.
type reportValues struct {
	findings   map[string]map[audit.Severity]int // rule → severity → count
	skipped    map[string]bool
	suppressed int
	changes    *audit.Changes
	objects    map[string]int
	cost       *audit.Cost
}

// New returns metrics for an auditor running the rules ruleIDs: each of them always has
// a findings series per severity, 0 when it reports nothing.
func New(ruleIDs []string) *Metrics {
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		rules: slices.Sorted(slices.Values(slices.Clone(ruleIDs))),
		runs:  map[string]float64{ResultSuccess: 0, ResultPartial: 0, ResultFailure: 0},
	}
	m.rules = slices.Compact(m.rules)
	m.reg.MustRegister(
		(*collector)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// NotificationFailed counts a digest that could not be posted. serve observes a run as
// soon as its report exists and posts afterwards, so Slack retries never hold back the
// metrics; a failed post is counted here.
func (m *Metrics) NotificationFailed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notifyFailures++
}

// Observe records a run. rep is the run's report, nil when the run failed (then
// run.Err should say why; a nil rep is a failure either way).
func (m *Metrics) Observe(rep *audit.Report, run Run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ran = true
	m.lastRun = run.Start
	m.duration = run.Duration
	if run.NotifyErr != nil {
		m.notifyFailures++
	}
	if rep == nil || run.Err != nil {
		m.succeeded, m.partial = false, false
		m.runs[ResultFailure]++
		return
	}
	m.succeeded, m.partial = true, run.Partial
	m.lastSuccess = run.Start
	if run.Partial {
		m.runs[ResultPartial]++
	} else {
		m.runs[ResultSuccess]++
	}

	next := &reportValues{
		findings:   map[string]map[audit.Severity]int{},
		skipped:    map[string]bool{},
		suppressed: rep.Summary.Suppressed,
		objects:    map[string]int{},
		cost:       rep.Cost,
	}
	if rep.Changes != nil {
		c := *rep.Changes
		next.changes = &c
	}
	for k, n := range run.Objects {
		next.objects[k] = n
	}
	for _, s := range rep.Skipped {
		next.skipped[s.Rule] = true
	}
	for _, id := range m.rules {
		if !next.skipped[id] {
			next.findings[id] = map[audit.Severity]int{}
		}
	}
	for _, f := range rep.Findings {
		if next.findings[f.RuleID] == nil {
			next.findings[f.RuleID] = map[audit.Severity]int{}
		}
		next.findings[f.RuleID][f.Severity]++
		if _, known := slices.BinarySearch(m.rules, f.RuleID); !known {
			m.rules = append(m.rules, f.RuleID)
			slices.Sort(m.rules)
		}
	}
	// A skipped rule did not look: keep what it last found.
	for id := range next.skipped {
		if _, reported := next.findings[id]; reported {
			continue
		}
		if m.report != nil && m.report.findings[id] != nil {
			next.findings[id] = m.report.findings[id]
		}
	}
	m.report = next
}
