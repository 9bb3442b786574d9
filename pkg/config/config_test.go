package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

var update = flag.Bool("update", false, "regenerate the rules section of config/auditor.yaml")

const exampleConfig = "../../config/auditor.yaml"

// TestExampleRulesSection keeps the rules section of config/auditor.yaml generated from the
// rules' own metadata (IDs, titles, param defaults and docs), so the example cannot drift
// from the catalogue: run `go test ./pkg/config -update` after changing a rule.
func TestExampleRulesSection(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), "\nrules:\n")
	if !ok {
		t.Fatal("config/auditor.yaml has no rules: section")
	}
	want := head + "\nrules:\n" + rulesSection()
	if *update {
		if err := os.WriteFile(exampleConfig, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(b) != want {
		t.Error("config/auditor.yaml's rules section is out of date: run go test ./pkg/config -update")
	}
}

func rulesSection() string {
	var b strings.Builder
	for _, r := range catalog.All() {
		fmt.Fprintf(&b, "  # %s (default %s)\n  %s:\n", r.Title, r.Severity, r.ID)
		if len(r.Params) == 0 {
			b.WriteString("    enabled: true\n")
			continue
		}
		b.WriteString("    params:\n")
		for _, p := range r.Params {
			fmt.Fprintf(&b, "      %s: %s   # %s\n", p.Name, p.Default, p.Doc)
		}
	}
	return b.String()
}

// TestExampleConfigIsValid keeps config/auditor.yaml loadable, and every rule and param it
// documents real.
func TestExampleConfigIsValid(t *testing.T) {
	c, err := Load(exampleConfig, catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	if c.MinSeverity != audit.Info || c.FailOn != 0 || !c.FailOnSet {
		t.Errorf("example config: %+v", c)
	}
	b, _ := os.ReadFile(exampleConfig)
	for _, r := range catalog.All() {
		if !strings.Contains(string(b), "  "+r.ID+":") {
			t.Errorf("config/auditor.yaml does not show rule %s", r.ID)
		}
		for _, p := range r.Params {
			if !strings.Contains(string(b), p.Name+": "+p.Default) {
				t.Errorf("config/auditor.yaml does not show %s's param %s: %s", r.ID, p.Name, p.Default)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"minSeverity: high\n", `c.yaml:1: minSeverity: unknown severity "high"`},
		{"failOn: maybe\n", `c.yaml:1: failOn: unknown severity "maybe"`},
		{"namespace:\n  include: [a]\n", `c.yaml:1: unknown key "namespace"`},
		{"rules:\n  pv-released-stuck:\n    severity: loud\n", `c.yaml:3: rules.pv-released-stuck.severity`},
		{"rules:\n  pv-released-stuck:\n    params:\n      grase: 1m\n", `c.yaml:4: rule pv-released-stuck has no param "grase" (it has: grace)`},
		{"rules:\n  - pv-released-stuck\n", `c.yaml:2: cannot unmarshal`},
		{"rules: [\n", `c.yaml:`},
	}
	for _, c := range cases {
		_, err := Parse("c.yaml", []byte(c.doc), catalog.All())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line containing %q", c.doc, err, c.want)
		}
	}
}

func TestSettings(t *testing.T) {
	c, err := Parse("c.yaml", []byte("minSeverity: warning\nfailOn: critical\nnamespaces: {exclude: [kube-system]}\nrules:\n  pv-released-stuck:\n    enabled: false\n    severity: warning\n    params: {grace: 1h}\n"), catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	rs := s.Rules["pv-released-stuck"]
	if s.MinSeverity != audit.Warning || c.FailOn != audit.Critical || s.ExcludeNamespaces[0] != "kube-system" ||
		rs.Enabled == nil || *rs.Enabled || rs.Severity != audit.Warning || rs.Params["grace"] != "1h" {
		t.Errorf("settings = %+v", s)
	}
}
