package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var update = flag.Bool("update", false, "rewrite the want.json golden files from the current output")

// fixtureNow is the clock of every fixture; fixture timestamps are written relative to it.
var fixtureNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestRegistry(t *testing.T) {
	if _, err := rules.NewEngine(All()); err != nil {
		t.Fatal(err)
	}
	for _, r := range All() {
		cases, _ := filepath.Glob(filepath.Join("testdata", r.ID, "fires-*"))
		if len(cases) == 0 {
			t.Errorf("rule %s has no testdata/%s/fires-* fixture", r.ID, r.ID)
		}
	}
	dirs, _ := os.ReadDir("testdata")
	for _, d := range dirs {
		if rulesByID()[d.Name()] == nil {
			t.Errorf("testdata/%s belongs to no registered rule", d.Name())
		}
	}
}

func rulesByID() map[string]*rules.Rule {
	m := map[string]*rules.Rule{}
	for _, r := range All() {
		m[r.ID] = r
	}
	return m
}

// TestFixtures runs each rule alone over testdata/<rule>/<case>/cluster.yaml and compares
// its findings with want.json. Cases named fires-* must report something, quiet-* nothing.
// A case may set the rule's params in params.yaml (name: value), and other settings (the
// cost section's prices and budgets) in config.yaml, a config file.
func TestFixtures(t *testing.T) {
	eng, err := rules.NewEngine(All())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range All() {
		cases, _ := filepath.Glob(filepath.Join("testdata", r.ID, "*"))
		for _, dir := range cases {
			name := filepath.Base(dir)
			t.Run(r.ID+"/"+name, func(t *testing.T) {
				snap, _, err := snapshot.LoadFiles(filepath.Join(dir, "cluster.yaml"), nil)
				if err != nil {
					t.Fatal(err)
				}
				settings := rules.Settings{}
				if b, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
					cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), b, All())
					if err != nil {
						t.Fatal(err)
					}
					settings = cfg.Settings()
				}
				settings.Only = []string{r.ID}
				if b, err := os.ReadFile(filepath.Join(dir, "params.yaml")); err == nil {
					params := map[string]string{}
					if err := yaml.Unmarshal(b, &params); err != nil {
						t.Fatalf("params.yaml: %v", err)
					}
					settings.Rules = map[string]rules.RuleSettings{r.ID: {Params: params}}
				}
				res, err := eng.Run(context.Background(), snap, settings, fixtureNow)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Report.Skipped) > 0 {
					t.Fatalf("rule skipped: %+v", res.Report.Skipped)
				}
				got := res.Report.Findings
				switch {
				case strings.HasPrefix(name, "fires-") && len(got) == 0:
					t.Fatalf("case %s must fire, rule reported nothing", name)
				case strings.HasPrefix(name, "quiet-") && len(got) != 0:
					t.Fatalf("case %s must not fire, got %+v", name, got)
				case !strings.HasPrefix(name, "fires-") && !strings.HasPrefix(name, "quiet-"):
					t.Fatalf("case %s: name must start with fires- or quiet-", name)
				}
				for _, f := range got {
					if f.RuleID != r.ID {
						t.Errorf("finding of rule %s in %s's fixture", f.RuleID, r.ID)
					}
				}
				b, _ := json.MarshalIndent(got, "", "  ")
				b = append(b, '\n')
				golden := filepath.Join(dir, "want.json")
				if *update {
					if err := os.WriteFile(golden, b, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./pkg/rules/catalog -update to create it, then review it)", err)
				}
				if !bytes.Equal(want, b) {
					t.Errorf("findings differ from %s (rerun with -update if the change is intended):\n--- got\n%s\n--- want\n%s", golden, b, want)
				}
			})
		}
	}
}
