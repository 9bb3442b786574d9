package catalog

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// TestFingerprintsUnique runs every rule over every fixture cluster and the demo dump and
// checks that no two findings of a run share a fingerprint: run-to-run state keys on it,
// so a rule reporting two problems on one object must tell them apart with Fact.
func TestFingerprintsUnique(t *testing.T) {
	eng, err := rules.NewEngine(All())
	if err != nil {
		t.Fatal(err)
	}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "cluster.yaml"))
	inputs = append(inputs, filepath.Join("..", "..", "..", "examples", "incident-cluster.yaml"))
	checked := 0
	for _, in := range inputs {
		snap, _, err := snapshot.LoadFiles(in, nil)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		res, err := eng.Run(context.Background(), snap, rules.Settings{}, fixtureNow)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		seen := map[string]string{}
		for _, f := range res.Report.Findings {
			if f.Fingerprint == "" {
				t.Errorf("%s: %s on %s has no fingerprint", in, f.RuleID, f.Object)
			}
			if prev, dup := seen[f.Fingerprint]; dup {
				t.Errorf("%s: %s on %s shares fingerprint %s with %s", in, f.RuleID, f.Object, f.Fingerprint, prev)
			}
			seen[f.Fingerprint] = f.RuleID + " " + f.Object.String() + ": " + f.Message
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("only %d findings checked: the fixtures were not found", checked)
	}
}
