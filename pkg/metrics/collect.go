package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	findingsDesc    = desc("findings", "Findings of the last successful run by rule and severity (a rule skipped in it keeps its last known value).", "rule", "severity")
	ruleSkippedDesc = desc("rule_skipped", "1 when the rule was skipped in the last successful run (an unreadable kind, an error), else 0.", "rule")
	suppressedDesc  = desc("findings_suppressed", "Findings of the last successful run suppressed by an ignore annotation.")
	newDesc         = desc("findings_new", "Findings of the last successful run that the previous run did not report (only with run-to-run state).")
	resolvedDesc    = desc("findings_resolved", "Findings the previous run reported that the last successful run did not (only with run-to-run state).")

	lastRunDesc      = desc("last_run_timestamp_seconds", "When the last run started, successful or not.")
	lastSuccessDesc  = desc("last_success_timestamp_seconds", "When the last run that produced a report (complete or partial) started.")
	lastDurationDesc = desc("last_run_duration_seconds", "How long the last run took.")
	lastSuccessful   = desc("last_run_success", "1 when the last run produced a report (complete or partial), 0 when it failed.")
	lastPartialDesc  = desc("last_run_partial", "1 when the last run's report is partial (a kind unreadable or a rule failed), else 0.")
	runsDesc         = desc("runs_total", "Runs by result: success, partial (a report with unreadable kinds or failed rules) or failure (no report).", "result")
	notifyFailDesc   = desc("notification_failures_total", "Runs whose notification could not be delivered.")

	objectsDesc  = desc("objects_read", "Objects the last successful run read, by kind.", "kind")
	costDesc     = desc("monthly_cost", "Monthly cost of the provisioned volumes by namespace, from the last successful run.", "namespace", "currency")
	classDesc    = desc("monthly_cost_by_class", "Monthly cost of the provisioned volumes by storage class, from the last successful run.", "storage_class", "currency")
	wasteDesc    = desc("monthly_waste", "Monthly cost of volumes nobody uses by kind of waste, from the last successful run.", "bucket", "currency")
	unpricedDesc = desc("unpriced_volumes", "Volumes of the last successful run that no price matched.")
)

// collector is Metrics seen as a prometheus.Collector: it builds every series from the
// last observed values under the lock, so one scrape sees one run.
type collector Metrics

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{findingsDesc, ruleSkippedDesc, suppressedDesc, newDesc, resolvedDesc,
		lastRunDesc, lastSuccessDesc, lastDurationDesc, lastSuccessful, lastPartialDesc, runsDesc, notifyFailDesc,
		objectsDesc, costDesc, classDesc, wasteDesc, unpricedDesc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, result := range []string{ResultSuccess, ResultPartial, ResultFailure} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.CounterValue, c.runs[result], result)
	}
	ch <- prometheus.MustNewConstMetric(notifyFailDesc, prometheus.CounterValue, c.notifyFailures)
	if !c.ran {
		return
	}
	gauge(lastRunDesc, unixSeconds(c.lastRun))
	gauge(lastDurationDesc, c.duration.Seconds())
	gauge(lastSuccessful, boolValue(c.succeeded))
	gauge(lastPartialDesc, boolValue(c.partial))
	if !c.lastSuccess.IsZero() {
		gauge(lastSuccessDesc, unixSeconds(c.lastSuccess))
	}

	r := c.report
	if r == nil {
		return
	}
	for _, id := range c.rules {
		gauge(ruleSkippedDesc, boolValue(r.skipped[id]), id)
		counts, known := r.findings[id]
		if !known {
			continue // skipped, and never seen run: unknown, not 0
		}
		for _, sev := range audit.Severities {
			gauge(findingsDesc, float64(counts[sev]), id, sev.String())
		}
	}
	gauge(suppressedDesc, float64(r.suppressed))
	if r.changes != nil {
		gauge(newDesc, float64(r.changes.New))
		gauge(resolvedDesc, float64(r.changes.Resolved))
	}
	for kind, n := range r.objects {
		gauge(objectsDesc, float64(n), kind)
	}
	if r.cost != nil {
		moneyLines(ch, costDesc, r.cost.ByNamespace)
		moneyLines(ch, classDesc, r.cost.ByStorageClass)
		moneyLines(ch, wasteDesc, r.cost.WasteByBucket)
		gauge(unpricedDesc, float64(r.cost.Unpriced))
	}
}

// moneyLines emits one series per line and currency. Lines are summed by name first:
// two series with one label set would fail the whole scrape.
func moneyLines(ch chan<- prometheus.Metric, d *prometheus.Desc, lines []audit.CostLine) {
	type key struct{ name, currency string }
	sums := map[key]float64{}
	var order []key
	for _, l := range lines {
		for _, cur := range l.Monthly.Currencies() {
			k := key{l.Name, cur}
			if _, seen := sums[k]; !seen {
				order = append(order, k)
			}
			sums[k] += l.Monthly[cur]
		}
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, sums[k], k.name, k.currency)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
