package state

import (
	"context"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func TestMemoryStoreRemembersBetweenRuns(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	f := audit.Finding{RuleID: "pv-released-retained", Severity: audit.Warning, Fingerprint: "fp1",
		Object: audit.ObjectRef{Kind: "PersistentVolume", Name: "pv-1"}, Message: "released"}
	rep1 := &audit.Report{Findings: []audit.Finding{f}}
	if _, err := Record(ctx, s, rep1, []string{"pv-released-retained"}, t0); err != nil {
		t.Fatal(err)
	}
	if !rep1.Findings[0].New {
		t.Fatal("first run: finding not new")
	}
	rep2 := &audit.Report{Findings: []audit.Finding{f}}
	if _, err := Record(ctx, s, rep2, []string{"pv-released-retained"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rep2.Findings[0].New || !rep2.Findings[0].FirstSeen.Equal(t0) {
		t.Fatalf("second run: new=%v firstSeen=%v, want false and %v", rep2.Findings[0].New, rep2.Findings[0].FirstSeen, t0)
	}
	rep3 := &audit.Report{}
	if _, err := Record(ctx, s, rep3, []string{"pv-released-retained"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(rep3.Resolved) != 1 || rep3.Changes == nil || rep3.Changes.Resolved != 1 {
		t.Fatalf("third run: resolved %+v changes %+v", rep3.Resolved, rep3.Changes)
	}
}
