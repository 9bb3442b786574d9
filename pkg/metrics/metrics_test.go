package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// scrape serves m's handler over HTTP and parses the text exposition it returns.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series renders a family's series as "label=value,... value" lines, sorted, so a test
// states the whole family and a leftover label set fails it.
func series(mfs map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range mfs[namespace+"_"+name].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out = append(out, strings.TrimSpace(strings.Join(labels, ",")+" "+formatValue(v)))
	}
	sort.Strings(out)
	return out
}

func formatValue(v float64) string { return model.SampleValue(v).String() }

func check(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) {
	t.Helper()
	got := series(mfs, name)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", name, got, want)
	}
}

func finding(rule string, sev audit.Severity, name string) audit.Finding {
	return audit.Finding{RuleID: rule, Severity: sev, Message: "m", Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: name}}
}

func TestObserve(t *testing.T) {
	rules := []string{"pvc-lost", "pvc-unbound", "va-orphaned"}
	m := New(rules)
	t1 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)

	// Before any run only the counters exist, at 0.
	mfs := scrape(t, m)
	check(t, mfs, "runs_total", "result=failure 0", "result=partial 0", "result=success 0")
	check(t, mfs, "last_run_success")
	check(t, mfs, "findings")

	// Run 1: a complete run with findings, state and cost.
	rep1 := audit.NewReport("test", t1)
	rep1.Findings = []audit.Finding{finding("pvc-lost", audit.Critical, "a"), finding("pvc-lost", audit.Critical, "b"),
		finding("pvc-unbound", audit.Warning, "c"), finding("va-orphaned", audit.Info, "d")}
	rep1.Summary.Suppressed = 2
	rep1.Changes = &audit.Changes{New: 4}
	rep1.Cost = &audit.Cost{
		ByNamespace: []audit.CostLine{
			{Name: "shop", Monthly: audit.Money{"USD": 10}},
			{Name: "legacy", Monthly: audit.Money{"USD": 5, "EUR": 2}},
		},
		ByStorageClass: []audit.CostLine{{Name: "gp3", Monthly: audit.Money{"USD": 15, "EUR": 2}}},
		WasteByBucket:  []audit.CostLine{{Name: "released", Monthly: audit.Money{"USD": 4.5}}},
		Unpriced:       1,
	}
	m.Observe(rep1, Run{Start: t1, Duration: 1500 * time.Millisecond, Objects: map[string]int{"PersistentVolume": 12, "Pod": 30}})
	mfs = scrape(t, m)
	check(t, mfs, "findings",
		"rule=pvc-lost,severity=critical 2", "rule=pvc-lost,severity=info 0", "rule=pvc-lost,severity=warning 0",
		"rule=pvc-unbound,severity=critical 0", "rule=pvc-unbound,severity=info 0", "rule=pvc-unbound,severity=warning 1",
		"rule=va-orphaned,severity=critical 0", "rule=va-orphaned,severity=info 1", "rule=va-orphaned,severity=warning 0")
	check(t, mfs, "rule_skipped", "rule=pvc-lost 0", "rule=pvc-unbound 0", "rule=va-orphaned 0")
	check(t, mfs, "findings_suppressed", "2")
	check(t, mfs, "findings_new", "4")
	check(t, mfs, "findings_resolved", "0")
	check(t, mfs, "last_run_timestamp_seconds", formatValue(float64(t1.Unix())))
	check(t, mfs, "last_success_timestamp_seconds", formatValue(float64(t1.Unix())))
	check(t, mfs, "last_run_duration_seconds", "1.5")
	check(t, mfs, "last_run_success", "1")
	check(t, mfs, "last_run_partial", "0")
	check(t, mfs, "runs_total", "result=failure 0", "result=partial 0", "result=success 1")
	check(t, mfs, "objects_read", "kind=PersistentVolume 12", "kind=Pod 30")
	check(t, mfs, "monthly_cost", "currency=EUR,namespace=legacy 2", "currency=USD,namespace=legacy 5", "currency=USD,namespace=shop 10")
	check(t, mfs, "monthly_cost_by_class", "currency=EUR,storage_class=gp3 2", "currency=USD,storage_class=gp3 15")
	check(t, mfs, "monthly_waste", "bucket=released,currency=USD 4.5")
	check(t, mfs, "unpriced_volumes", "1")

	// Run 2 fails: the run series change, what run 1 found stays.
	m.Observe(nil, Run{Start: t2, Duration: 2 * time.Second, Err: errors.New("connection refused"), NotifyErr: errors.New("slack down")})
	mfs = scrape(t, m)
	check(t, mfs, "last_run_success", "0")
	check(t, mfs, "last_run_timestamp_seconds", formatValue(float64(t2.Unix())))
	check(t, mfs, "last_success_timestamp_seconds", formatValue(float64(t1.Unix())))
	check(t, mfs, "last_run_duration_seconds", "2")
	check(t, mfs, "runs_total", "result=failure 1", "result=partial 0", "result=success 1")
	check(t, mfs, "notification_failures_total", "1")
	check(t, mfs, "findings_new", "4")
	check(t, mfs, "monthly_cost", "currency=EUR,namespace=legacy 2", "currency=USD,namespace=legacy 5", "currency=USD,namespace=shop 10")
	if got := series(mfs, "findings"); len(got) != 9 || got[0] != "rule=pvc-lost,severity=critical 2" {
		t.Errorf("findings after a failed run: %q, want run 1's", got)
	}

	// Run 3 is partial: pvc-lost is fixed (reads 0), va-orphaned was skipped (keeps its
	// last value), namespace legacy is gone, no state was kept, a new rule appears.
	rep3 := audit.NewReport("test", t3)
	rep3.Findings = []audit.Finding{finding("pvc-unbound", audit.Warning, "c"), finding("cost-budget", audit.Warning, "shop")}
	rep3.Skipped = []audit.Skipped{{Rule: "va-orphaned", Reason: "needs VolumeAttachment, which could not be read"}}
	rep3.Cost = &audit.Cost{ByNamespace: []audit.CostLine{{Name: "shop", Monthly: audit.Money{"USD": 11}}}}
	m.Observe(rep3, Run{Start: t3, Duration: time.Second, Partial: true, Objects: map[string]int{"PersistentVolume": 11}})
	mfs = scrape(t, m)
	check(t, mfs, "findings",
		"rule=cost-budget,severity=critical 0", "rule=cost-budget,severity=info 0", "rule=cost-budget,severity=warning 1",
		"rule=pvc-lost,severity=critical 0", "rule=pvc-lost,severity=info 0", "rule=pvc-lost,severity=warning 0",
		"rule=pvc-unbound,severity=critical 0", "rule=pvc-unbound,severity=info 0", "rule=pvc-unbound,severity=warning 1",
		"rule=va-orphaned,severity=critical 0", "rule=va-orphaned,severity=info 1", "rule=va-orphaned,severity=warning 0")
	check(t, mfs, "rule_skipped", "rule=cost-budget 0", "rule=pvc-lost 0", "rule=pvc-unbound 0", "rule=va-orphaned 1")
	check(t, mfs, "findings_new")
	check(t, mfs, "findings_resolved")
	check(t, mfs, "findings_suppressed", "0")
	check(t, mfs, "last_run_success", "1")
	check(t, mfs, "last_run_partial", "1")
	check(t, mfs, "last_success_timestamp_seconds", formatValue(float64(t3.Unix())))
	check(t, mfs, "runs_total", "result=failure 1", "result=partial 1", "result=success 1")
	check(t, mfs, "objects_read", "kind=PersistentVolume 11")
	check(t, mfs, "monthly_cost", "currency=USD,namespace=shop 11")
	check(t, mfs, "monthly_cost_by_class")
	check(t, mfs, "monthly_waste")
	check(t, mfs, "unpriced_volumes", "0")

	// Run 4 computes no cost: the cost series go away.
	m.Observe(audit.NewReport("test", t3), Run{Start: t3, Duration: time.Second})
	mfs = scrape(t, m)
	check(t, mfs, "monthly_cost")
	check(t, mfs, "unpriced_volumes")
	// The process and Go runtime are exported too.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

// TestSkippedRuleNeverSeen checks a rule skipped from the first run on has no findings
// series: unknown is not 0.
func TestSkippedRuleNeverSeen(t *testing.T) {
	m := New([]string{"va-orphaned", "pvc-lost"})
	rep := audit.NewReport("test", time.Now())
	rep.Skipped = []audit.Skipped{{Rule: "va-orphaned", Reason: "forbidden"}}
	m.Observe(rep, Run{Start: time.Now(), Partial: true})
	mfs := scrape(t, m)
	check(t, mfs, "findings", "rule=pvc-lost,severity=critical 0", "rule=pvc-lost,severity=info 0", "rule=pvc-lost,severity=warning 0")
	check(t, mfs, "rule_skipped", "rule=pvc-lost 0", "rule=va-orphaned 1")
}

// TestObserveWhileScraping runs scrapes against concurrent runs; with -race it checks
// the lock covers both sides, and every scrape must parse.
func TestObserveWhileScraping(t *testing.T) {
	m := New([]string{"pvc-lost"})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			rep := audit.NewReport("test", time.Now())
			rep.Findings = []audit.Finding{finding("pvc-lost", audit.Critical, "a")}
			rep.Cost = &audit.Cost{ByNamespace: []audit.CostLine{{Name: "ns", Monthly: audit.Money{"USD": float64(i)}}}}
			m.Observe(rep, Run{Start: time.Now()})
		}
	}()
	for range 20 {
		scrape(t, m)
	}
	wg.Wait()
	check(t, scrape(t, m), "monthly_cost", "currency=USD,namespace=ns 49")
}
