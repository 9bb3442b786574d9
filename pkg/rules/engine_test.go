package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// everyPV reports each PV; a test rule that is easy to reason about.
func everyPV(id string, sev audit.Severity) *Rule {
	return &Rule{
		ID: id, Title: "test", Action: "test", Severity: sev, Category: Lifecycle, Doc: "test",
		Reads: []snapshot.Kind{snapshot.PersistentVolumes},
		Check: func(p *Pass) error {
			for _, pv := range p.Snapshot.PersistentVolumes {
				p.Report(audit.Finding{Object: Ref(snapshot.PersistentVolumes, pv), Message: "pv " + pv.Name})
			}
			return nil
		},
	}
}

func testSnapshot(pvs ...*corev1.PersistentVolume) *snapshot.Snapshot {
	s := snapshot.New("test")
	s.MarkPresent(snapshot.PersistentVolumes)
	for _, pv := range pvs {
		s.Add(pv)
	}
	s.Index()
	return s
}

func pv(name, claimNS string, ann map[string]string) *corev1.PersistentVolume {
	p := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}
	if claimNS != "" {
		p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: claimNS, Name: "c"}
	}
	return p
}

func TestPanickingRuleIsIsolated(t *testing.T) {
	boom := everyPV("pv-boom", audit.Warning)
	boom.Check = func(p *Pass) error {
		p.Report(audit.Finding{Object: audit.ObjectRef{Kind: "PersistentVolume", Name: "x"}, Message: "half-done"})
		var m map[string]int
		m["x"]++ // nil map write: a real panic
		return nil
	}
	eng, err := NewEngine([]*Rule{boom, everyPV("pv-ok", audit.Warning)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), testSnapshot(pv("a", "", nil)), Settings{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Findings) != 1 || res.Report.Findings[0].RuleID != "pv-ok" {
		t.Fatalf("want only pv-ok's finding, got %+v", res.Report.Findings)
	}
	if len(res.Report.Skipped) != 1 || res.Report.Skipped[0].Rule != "pv-boom" || !strings.Contains(res.Report.Skipped[0].Reason, "panicked") {
		t.Fatalf("want pv-boom reported as panicked, got %+v", res.Report.Skipped)
	}
	if !res.Partial {
		t.Error("a panicking rule must make the audit partial")
	}
}

func TestSuppressionAnnotation(t *testing.T) {
	eng, _ := NewEngine([]*Rule{everyPV("pv-one", audit.Warning), everyPV("pv-two", audit.Info)})
	snap := testSnapshot(
		pv("all", "", map[string]string{IgnoreAnnotation: "*"}),
		pv("just-one", "", map[string]string{IgnoreAnnotation: "pv-one, pv-other: migrating"}),
		pv("none", "", nil),
	)
	res, _ := eng.Run(context.Background(), snap, Settings{}, now)
	var got []string
	for _, f := range res.Report.Findings {
		got = append(got, f.RuleID+":"+f.Object.Name)
	}
	want := "pv-one:none pv-two:just-one pv-two:none"
	if strings.Join(got, " ") != want {
		t.Errorf("findings = %v, want %s", got, want)
	}
	if res.Report.Summary.Suppressed != 3 {
		t.Errorf("suppressed = %d, want 3", res.Report.Summary.Suppressed)
	}
	if res.Report.Summary.Warning != 1 || res.Report.Summary.Info != 2 {
		t.Errorf("summary = %+v", res.Report.Summary)
	}
}

func TestSettings(t *testing.T) {
	off := false
	eng, _ := NewEngine([]*Rule{everyPV("pv-one", audit.Warning), everyPV("pv-two", audit.Info)})
	snap := testSnapshot(pv("shop-pv", "shop", nil), pv("dev-pv", "dev", nil), pv("free", "", nil))
	cases := []struct {
		name string
		s    Settings
		want string
	}{
		{"all", Settings{}, "warning/pv-one/dev-pv warning/pv-one/free warning/pv-one/shop-pv info/pv-two/dev-pv info/pv-two/free info/pv-two/shop-pv"},
		{"disabled", Settings{Rules: map[string]RuleSettings{"pv-two": {Enabled: &off}}}, "warning/pv-one/dev-pv warning/pv-one/free warning/pv-one/shop-pv"},
		{"only wins over disabled", Settings{Only: []string{"pv-two"}, Rules: map[string]RuleSettings{"pv-two": {Enabled: &off}}}, "info/pv-two/dev-pv info/pv-two/free info/pv-two/shop-pv"},
		{"severity override", Settings{Only: []string{"pv-two"}, Rules: map[string]RuleSettings{"pv-two": {Severity: audit.Critical}}}, "critical/pv-two/dev-pv critical/pv-two/free critical/pv-two/shop-pv"},
		{"min severity", Settings{MinSeverity: audit.Warning}, "warning/pv-one/dev-pv warning/pv-one/free warning/pv-one/shop-pv"},
		{"include by claim namespace", Settings{Only: []string{"pv-one"}, IncludeNamespaces: []string{"shop"}}, "warning/pv-one/free warning/pv-one/shop-pv"},
		{"exclude", Settings{Only: []string{"pv-one"}, ExcludeNamespaces: []string{"shop"}}, "warning/pv-one/dev-pv warning/pv-one/free"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := eng.Run(context.Background(), snap, c.s, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Report.Findings {
				got = append(got, f.Severity.String()+"/"+f.RuleID+"/"+f.Object.Name)
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("got  %s\nwant %s", strings.Join(got, " "), c.want)
			}
		})
	}
}

func TestUnknownRuleAndParam(t *testing.T) {
	r := everyPV("pv-one", audit.Warning)
	r.Params = []Param{{Name: "grace", Type: Duration, Default: "15m"}}
	eng, _ := NewEngine([]*Rule{r})
	snap := testSnapshot()
	for _, s := range []Settings{
		{Only: []string{"pv-nope"}},
		{Rules: map[string]RuleSettings{"pv-one": {Params: map[string]string{"grace": "soon"}}}},
		{Rules: map[string]RuleSettings{"pv-one": {Params: map[string]string{"graze": "1m"}}}},
	} {
		if _, err := eng.Run(context.Background(), snap, s, now); err == nil {
			t.Errorf("settings %+v: want an error", s)
		}
	}
}

func TestUnreadableKindSkipsRule(t *testing.T) {
	eng, _ := NewEngine([]*Rule{everyPV("pv-one", audit.Warning)})
	s := snapshot.New("test")
	s.MarkUnreadable(snapshot.PersistentVolumes, "forbidden")
	s.Index()
	res, _ := eng.Run(context.Background(), s, Settings{}, now)
	if !res.Partial || len(res.Report.Skipped) != 1 || len(res.Report.Unreadable) != 1 {
		t.Fatalf("want the rule skipped and the run partial, got %+v", res.Report)
	}
	if res.Report.Findings == nil {
		t.Error("findings must be [] not null")
	}
}

func TestIgnores(t *testing.T) {
	for _, c := range []struct {
		v, id string
		want  bool
	}{
		{"*", "pv-a", true},
		{"* : reason", "pv-a", true},
		{"pv-a", "pv-a", true},
		{"pv-b,pv-a: because", "pv-a", true},
		{"pv-b: pv-a is in the reason", "pv-a", false},
		{"", "pv-a", false},
	} {
		if got := Ignores(c.v, c.id); got != c.want {
			t.Errorf("Ignores(%q, %q) = %v", c.v, c.id, got)
		}
	}
}

// TestRanNeedsEveryInput: run-to-run state resolves a finding only when its rule ran with
// all its inputs, so Ran leaves out a rule that failed and one whose optional evidence
// could not be read, and keeps one that ran on everything.
func TestRanNeedsEveryInput(t *testing.T) {
	withPods := everyPV("pv-with-pods", audit.Warning)
	withPods.Optional = []snapshot.Kind{snapshot.Pods}
	failing := everyPV("pv-failing", audit.Warning)
	failing.Check = func(p *Pass) error { return errTest }
	eng, err := NewEngine([]*Rule{everyPV("pv-plain", audit.Warning), withPods, failing})
	if err != nil {
		t.Fatal(err)
	}
	s := testSnapshot(pv("a", "", nil))
	s.MarkUnreadable(snapshot.Pods, "forbidden")
	res, _ := eng.Run(context.Background(), s, Settings{}, now)
	if strings.Join(res.Ran, ",") != "pv-plain" {
		t.Errorf("Ran = %v, want [pv-plain]", res.Ran)
	}
	if n := len(res.Report.Findings); n != 2 {
		t.Errorf("%d findings, want 2: a rule missing optional evidence still reports what it sees", n)
	}
	s2 := testSnapshot(pv("a", "", nil))
	s2.MarkPresent(snapshot.Pods)
	res, _ = eng.Run(context.Background(), s2, Settings{}, now)
	if strings.Join(res.Ran, ",") != "pv-plain,pv-with-pods" {
		t.Errorf("with pods read: Ran = %v, want [pv-plain pv-with-pods]", res.Ran)
	}
}

var errTest = errors.New("test failure")
