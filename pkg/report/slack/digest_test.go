package slack

import (
	"encoding/json"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/storage-auditor/auditor/internal/demo"
	"github.com/storage-auditor/auditor/internal/golden"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var demoNow = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// demoReport is the demo dump's report (internal/demo).
func demoReport(t *testing.T) *audit.Report { return demo.Report(t) }

// demoRules feeds the digest the way the CLI does: titles and action lines from the rule
// catalog.
func demoRules() map[string]RuleInfo {
	m := map[string]RuleInfo{}
	for _, r := range catalog.All() {
		m[r.ID] = RuleInfo{Title: r.Title, Action: r.Action}
	}
	return m
}

// changesReport is a report with run-to-run state and cost set by hand.
func changesReport() *audit.Report {
	prev := demoNow.Add(-24 * time.Hour)
	r := audit.NewReport("prod-eu <&>", demoNow)
	add := func(rule string, sev audit.Severity, kind, ns, name string, isNew bool) {
		r.Findings = append(r.Findings, audit.Finding{RuleID: rule, Severity: sev,
			Object: audit.ObjectRef{Kind: kind, Namespace: ns, Name: name}, Message: "m", New: isNew})
		r.Summary.Count(sev)
	}
	add("pod-node-missing", audit.Critical, "Pod", "db", "pg-0", true)
	add("pv-released-retained", audit.Warning, "PersistentVolume", "", "pvc-old", false)
	add("pv-released-retained", audit.Warning, "PersistentVolume", "", "pvc-new", true)
	add("pvc-unused", audit.Info, "PersistentVolumeClaim", "ci", "cache", false)
	r.Summary.Suppressed = 1
	r.Changes = &audit.Changes{Since: prev, New: 2, Resolved: 2}
	r.Resolved = []audit.Finding{
		{RuleID: "sts-retained-ordinal", Severity: audit.Warning, Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "streaming", Name: "data-kafka-3"}},
		{RuleID: "pvc-unused", Severity: audit.Info, Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "ci", Name: "old"}},
	}
	r.Skipped = []audit.Skipped{{Rule: "pvc-resize-stuck", Reason: "needs Events"}}
	r.Cost = &audit.Cost{
		Monthly:  audit.Money{"USD": 12345.6, "EUR": 80},
		Waste:    audit.Money{"USD": 1234.5},
		Volumes:  42,
		Unpriced: 3,
	}
	return r
}

func TestDigestGolden(t *testing.T) {
	cases := []struct {
		golden string
		rep    *audit.Report
		opts   DigestOptions
	}{
		{"digest-changes.json", changesReport(), DigestOptions{Rules: demoRules(), Version: "v0.4.0"}},
		{"digest-changes-min-warning.json", changesReport(), DigestOptions{MinSeverity: audit.Warning, OnlyChanges: true, Version: "v0.4.0"}},
		{"digest-clean.json", audit.NewReport("quiet", demoNow), DigestOptions{}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			b, err := json.MarshalIndent(Digest(c.rep, c.opts), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkLimits(t, b)
			goldenFile(t, c.golden, string(b)+"\n")
		})
	}
}

// TestDigestContent states what the digest must say, apart from the golden layout.
func TestDigestContent(t *testing.T) {
	all := digestTexts(t, Digest(changesReport(), DigestOptions{Rules: demoRules(), Version: "v0.4.0"}))
	for _, want := range []string{
		"Storage audit: prod-eu <&>, 2026-11-20 09:30 UTC", // header: plain text, not escaped
		":red_circle: *1 critical* (+1 new)",
		":large_orange_circle: *2 warning* (+1 new, 1 resolved)",
		":large_blue_circle: *1 info* (1 resolved)",
		"Since the previous run (2026-11-19 09:30 UTC): *2 new*, *2 resolved*.",
		"1 suppressed by annotation.",
		"Partial audit: 1 rule was skipped.",
		"*Storage cost*: 80.00 EUR a month; 12,345.60 USD a month, of which 1,234.50 USD (10%) is waste",
		"3 of 42 volumes have no price",
		"*pv-released-retained* — Released PersistentVolume kept by reclaim policy Retain (2, 1 new)\n• `pv/pvc-new` :new:\n• `pv/pvc-old`\n_Action:_ Back up and delete the PV",
		"*Resolved since the previous run (2)*\n• `pvc/streaming/data-kafka-3` — sts-retained-ordinal",
		"storage-auditor v0.4.0 · cluster prod-eu &lt;&amp;&gt; · 2026-11-20 09:30 UTC",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("digest lacks %q:\n%s", want, all)
		}
	}

	// MinSeverity hides info findings from the list but not from the counts; OnlyChanges
	// lists only the new ones.
	only := digestTexts(t, Digest(changesReport(), DigestOptions{MinSeverity: audit.Warning, OnlyChanges: true}))
	for _, want := range []string{"*1 info*", "`pv/pvc-new`", "*pv-released-retained* (2, 1 new)", "_Listing warning and above, new findings only._"} {
		if !strings.Contains(only, want) {
			t.Errorf("filtered digest lacks %q:\n%s", want, only)
		}
	}
	for _, gone := range []string{"`pvc/ci/cache`", "`pv/pvc-old`", "`pvc/ci/old`"} {
		if strings.Contains(only, gone) {
			t.Errorf("filtered digest lists %s:\n%s", gone, only)
		}
	}
}

func TestShouldPost(t *testing.T) {
	withState := func(newSev audit.Severity, resolvedSev audit.Severity) *audit.Report {
		r := audit.NewReport("c", demoNow)
		r.Changes = &audit.Changes{}
		r.Findings = append(r.Findings, audit.Finding{RuleID: "pvc-unused", Severity: audit.Warning})
		if newSev != 0 {
			r.Findings = append(r.Findings, audit.Finding{RuleID: "pvc-unused", Severity: newSev, New: true})
			r.Changes.New++
		}
		if resolvedSev != 0 {
			r.Resolved = append(r.Resolved, audit.Finding{RuleID: "pvc-unused", Severity: resolvedSev})
			r.Changes.Resolved++
		}
		return r
	}
	noState := audit.NewReport("c", demoNow)
	cases := []struct {
		name string
		rep  *audit.Report
		opts DigestOptions
		want bool
	}{
		{"every run when not only changes", withState(0, 0), DigestOptions{}, true},
		{"nothing new or resolved", withState(0, 0), DigestOptions{OnlyChanges: true}, false},
		{"a new finding", withState(audit.Warning, 0), DigestOptions{OnlyChanges: true}, true},
		{"a resolved finding", withState(0, audit.Info), DigestOptions{OnlyChanges: true}, true},
		{"new below the floor", withState(audit.Info, 0), DigestOptions{OnlyChanges: true, MinSeverity: audit.Warning}, false},
		{"resolved below the floor", withState(0, audit.Warning), DigestOptions{OnlyChanges: true, MinSeverity: audit.Critical}, false},
		{"new at the floor", withState(audit.Critical, 0), DigestOptions{OnlyChanges: true, MinSeverity: audit.Critical}, true},
		{"no state: cannot tell, so post", noState, DigestOptions{OnlyChanges: true}, true},
	}
	for _, c := range cases {
		if got := ShouldPost(c.rep, c.opts); got != c.want {
			t.Errorf("%s: ShouldPost = %v, want %v", c.name, got, c.want)
		}
	}
}

// bigReport has n findings spread over rules findings/perRule rules, with long names and
// texts everywhere Slack has a limit.
func bigReport(n, perRule int) (*audit.Report, map[string]RuleInfo) {
	r := audit.NewReport(strings.Repeat("cluster-with-a-very-long-name&<>-", 12), demoNow)
	info := map[string]RuleInfo{}
	for i := 0; i < n; i++ {
		rule := fmt.Sprintf("pvc-synthetic-rule-%03d-%s", i/perRule, strings.Repeat("x", 30))
		sev := audit.Severities[i%3]
		r.Findings = append(r.Findings, audit.Finding{
			RuleID: rule, Severity: sev, New: i%4 == 0,
			Object:  audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "ns-" + strconv.Itoa(i), Name: fmt.Sprintf("claim-%d-%s", i, strings.Repeat("n", 230))},
			Message: strings.Repeat("message ", 200),
		})
		r.Summary.Count(sev)
		info[rule] = RuleInfo{Title: strings.Repeat("A title & more <words> ", 40), Action: strings.Repeat("Do this & that. ", 120)}
		if i%2 == 0 {
			r.Resolved = append(r.Resolved, audit.Finding{RuleID: rule, Severity: sev,
				Object: audit.ObjectRef{Kind: "PersistentVolume", Name: fmt.Sprintf("pv-%d-%s", i, strings.Repeat("p", 240))}})
		}
	}
	r.Changes = &audit.Changes{Since: demoNow.Add(-time.Hour), New: n / 4, Resolved: len(r.Resolved)}
	r.Cost = &audit.Cost{Monthly: audit.Money{"USD": 1e9, "EUR": 5, "JPY": 123456789}, Waste: audit.Money{"USD": 5e8, "GBP": 1}}
	return r, info
}

// TestDigestStaysWithinSlackLimits: whatever the report, the message is one Slack
// accepts, and every finding it does not list is counted in a "+N more".
func TestDigestStaysWithinSlackLimits(t *testing.T) {
	cases := []struct {
		name       string
		n, perRule int
		opts       DigestOptions
	}{
		{"500 findings over 100 rules, no caps", 500, 5, DigestOptions{MaxRules: 1000, MaxPerRule: 1000, MaxResolved: 1000}},
		{"500 findings over 50 rules, default caps", 500, 10, DigestOptions{}},
		{"500 findings of one rule, no caps", 500, 500, DigestOptions{MaxRules: 1000, MaxPerRule: 1000, MaxResolved: 1000}},
		{"500 rules of one finding", 500, 1, DigestOptions{MaxRules: 1000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, info := bigReport(c.n, c.perRule)
			c.opts.Rules = info
			c.opts.Version = strings.Repeat("v", 500)
			msg := Digest(rep, c.opts)
			b, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			checkLimits(t, b)
			if got := accountedFindings(t, b); got != c.n {
				t.Errorf("the digest lists or counts %d findings, the report has %d", got, c.n)
			}
		})
	}
}

var (
	bulletRE   = regexp.MustCompile("(?m)^• `")
	ruleMoreRE = regexp.MustCompile(`(?m)^• \+(\d+) more$`)
	moreRE     = regexp.MustCompile(`^\+(\d+) more findings? in \d+ more rules?`)
)

// accountedFindings adds up the objects listed under rules, their "+k more" lines and the
// closing "+N more findings", leaving out the resolved section.
func accountedFindings(t *testing.T, msg []byte) int {
	t.Helper()
	var m struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range m.Blocks {
		s := b.Text.Text
		if b.Type != "section" || strings.Contains(s, "*Resolved since") {
			continue
		}
		if mm := moreRE.FindStringSubmatch(s); mm != nil {
			k, _ := strconv.Atoi(mm[1])
			n += k
			continue
		}
		n += len(bulletRE.FindAllString(s, -1))
		for _, mm := range ruleMoreRE.FindAllStringSubmatch(s, -1) {
			k, _ := strconv.Atoi(mm[1])
			n += k
		}
	}
	return n
}

// checkLimits checks a message (Message or webhook payload JSON) against Slack's
// documented limits: 50 blocks, 150 characters in a header, 3000 in a section or context
// text, 10 context elements, 40 000 characters in all.
func checkLimits(t *testing.T, msg []byte) {
	t.Helper()
	var m struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) == 0 || len(m.Blocks) > 50 {
		t.Errorf("%d blocks, want 1 to 50", len(m.Blocks))
	}
	total := utf8.RuneCountInString(m.Text)
	if m.Text == "" {
		t.Error("no fallback text")
	}
	textOf := func(v any) string {
		o, _ := v.(map[string]any)
		s, _ := o["text"].(string)
		total += utf8.RuneCountInString(s)
		return s
	}
	for i, b := range m.Blocks {
		switch b["type"] {
		case "header":
			if n := utf8.RuneCountInString(textOf(b["text"])); n == 0 || n > 150 {
				t.Errorf("block %d: header of %d characters", i, n)
			}
		case "section":
			if n := utf8.RuneCountInString(textOf(b["text"])); n == 0 || n > 3000 {
				t.Errorf("block %d: section text of %d characters", i, n)
			}
			if _, ok := b["fields"]; ok {
				t.Errorf("block %d: fields are not used", i)
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				t.Errorf("block %d: %d context elements", i, len(els))
			}
			for _, e := range els {
				if n := utf8.RuneCountInString(textOf(e)); n == 0 || n > 3000 {
					t.Errorf("block %d: context text of %d characters", i, n)
				}
			}
		case "divider":
		default:
			t.Errorf("block %d: unexpected type %v", i, b["type"])
		}
	}
	if total > 40000 {
		t.Errorf("message of %d characters, over 40000", total)
	}
}

// digestTexts joins every text of a message, to search it.
func digestTexts(t *testing.T, msg Message) string {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				texts = append(texts, s)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	return strings.Join(texts, "\n")
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, *update, name, got)
}
