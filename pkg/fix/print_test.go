package fix

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/internal/demo"
	"github.com/storage-auditor/auditor/internal/golden"
	"github.com/storage-auditor/auditor/pkg/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// demoReport is the demo dump's report (internal/demo).
func demoReport(t *testing.T) *audit.Report { return demo.Report(t) }

// checkGolden compares with testdata/name (internal/golden).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, *update, name, string(got))
}

// TestPrintPlanGolden prints the demo's plan with disruptive fixes and one rule's
// destructive fixes allowed: every action kind of the demo, allowed or not, with its
// exact requests.
func TestPrintPlanGolden(t *testing.T) {
	pol := Policy{AllowDisruptive: true, AllowDestructive: true, DestructiveRules: []string{"pv-released-retained"}}
	p := NewPlan(demoReport(t), pol, time.Date(2026, 11, 20, 9, 31, 0, 0, time.UTC))
	var b bytes.Buffer
	if err := PrintPlan(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reserve-pv", "disable-expansion", "raise-claim-request", "delete-claim-and-pv"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the demo plan lacks a %s action", want)
		}
	}
	// Every request printed is the one sent: the bodies in the text are the plan's.
	for _, a := range p.Actions {
		for _, r := range a.Requests {
			if r.Body != nil && !strings.Contains(b.String(), "     "+string(r.Body)+"\n") {
				t.Errorf("#%d: body %s not printed verbatim", a.N, r.Body)
			}
		}
	}
	checkGolden(t, "demo-plan.txt", b.Bytes())

	var empty bytes.Buffer
	if err := PrintPlan(&empty, NewPlan(report(), pol, planNow)); err != nil || empty.String() != "Fix plan for test: no finding proposes a fix.\n" {
		t.Errorf("empty plan: %q %v", empty.String(), err)
	}
}

func TestPrintResultsGolden(t *testing.T) {
	p := NewPlan(report(
		finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-2"))),
		finding("sc-expansion-unsupported", patchFix("disable-expansion", audit.Safe, target("StorageClass", "", "local-path"))),
		finding("sts-template-drift", patchFix("raise-claim-request", audit.Safe, target("PersistentVolumeClaim", "cache", "data-redis-0"))),
		finding("pv-released-retained", deleteFix("delete-claim-and-pv", target("PersistentVolume", "", "pv-1"))),
	), Policy{}, planNow)
	rs := []Result{
		{Action: p.Actions[0], Outcome: Applied, Detail: "patched PersistentVolume/pv-2; Event StorageAuditorFixed recorded"},
		{Action: p.Actions[1], Outcome: Skipped, Detail: "StorageClass/local-path changed since the audit (resourceVersion 42, now 57)"},
		{Action: p.Actions[2], Outcome: Failed, Detail: `PATCH PersistentVolumeClaim/cache/data-redis-0: persistentvolumeclaims "data-redis-0" is forbidden`},
		{Action: p.Actions[3], Outcome: NotAllowed, Detail: p.Actions[3].Why},
	}
	var b bytes.Buffer
	if err := PrintResults(&b, rs); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "results.txt", b.Bytes())
	if !AnyFailed(rs) || AnyFailed(rs[:2]) {
		t.Error("AnyFailed")
	}
	if n := NotAllowedResults(p); len(n) != 1 || n[0].Action != p.Actions[3] {
		t.Errorf("NotAllowedResults = %+v", n)
	}
}

func TestPrintersReportWriteErrors(t *testing.T) {
	p := NewPlan(report(finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-2")))), Policy{}, planNow)
	if err := PrintPlan(failingWriter{}, p); err == nil {
		t.Error("PrintPlan hid a write error")
	}
	if err := PrintResults(failingWriter{}, NotAllowedResults(p)); err == nil {
		t.Error("PrintResults hid a write error")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
