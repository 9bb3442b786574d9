package config

import (
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

func TestFixSection(t *testing.T) {
	cases := []struct {
		doc        string
		allow      []string
		maxActions int
		grace      time.Duration
	}{
		{"minSeverity: info\n", nil, DefaultFixMaxActions, DefaultFixPodNodeMissingGrace},
		{"fix:\n  allow: [pv-released-retained, sts-retained-ordinal]\n", []string{"pv-released-retained", "sts-retained-ordinal"}, 10, 10 * time.Minute},
		{"fix:\n  maxActions: 3\n  podNodeMissingGrace: 1d\n", nil, 3, 24 * time.Hour},
		{"fix:\n  maxActions: 0\n  podNodeMissingGrace: 0s\n", nil, DefaultFixMaxActions, 0},
	}
	for _, c := range cases {
		cfg, err := Parse("c.yaml", []byte(c.doc), catalog.All())
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.doc, err)
		}
		if strings.Join(cfg.FixAllow(), ",") != strings.Join(c.allow, ",") || cfg.FixMaxActions() != c.maxActions || cfg.FixPodNodeMissingGrace() != c.grace {
			t.Errorf("Parse(%q): allow %v, maxActions %d, grace %s; want %v, %d, %s", c.doc,
				cfg.FixAllow(), cfg.FixMaxActions(), cfg.FixPodNodeMissingGrace(), c.allow, c.maxActions, c.grace)
		}
	}
}

func TestFixSectionErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"fix:\n  allow:\n    - pv-released-retained\n    - pv-released-retaind\n", `c.yaml:4: fix.allow: unknown rule "pv-released-retaind" (did you mean "pv-released-retained"?)`},
		{"fix:\n  allow: [no-such-rule]\n", `c.yaml:2: fix.allow: unknown rule "no-such-rule"`},
		{"fix:\n  maxActions: -1\n", `c.yaml:2: fix.maxActions: -1: want a positive number`},
		{"fix:\n  podNodeMissingGrace: soon\n", `c.yaml:2: fix.podNodeMissingGrace: "soon": want a duration`},
		{"fix:\n  podNodeMissingGrace: -5m\n", `c.yaml:2: fix.podNodeMissingGrace: "-5m": must not be negative`},
		{"fix:\n  alow: [pv-released-retained]\n", `c.yaml:2: unknown key "alow"`},
	}
	for _, c := range cases {
		_, err := Parse("c.yaml", []byte(c.doc), catalog.All())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line containing %q", c.doc, err, c.want)
		}
	}
}
