package report

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/internal/demo"
	"github.com/storage-auditor/auditor/internal/golden"
	"github.com/storage-auditor/auditor/pkg/audit"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// demoReport is the demo dump's report (internal/demo).
func demoReport(t *testing.T) *audit.Report { return demo.Report(t) }

// changesReport is a report with run-to-run state set by hand: a new and an old finding,
// a resolved one, cells that need escaping, and things that could not be checked.
func changesReport() *audit.Report {
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	prev := at.Add(-24 * time.Hour)
	first := at.Add(-72 * time.Hour)
	r := audit.NewReport("prod|eu", at)
	add := func(f audit.Finding) {
		r.Findings = append(r.Findings, f)
		r.Summary.Count(f.Severity)
	}
	// Added out of order on purpose: the renderer groups by severity then rule itself.
	add(audit.Finding{
		RuleID: "pvc-unused", Severity: audit.Info,
		Object:    audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "ci", Name: "cache"},
		Message:   "claim ci/cache is used by no pod",
		FirstSeen: &first,
	})
	add(audit.Finding{
		RuleID: "pv-released-retained", Severity: audit.Warning,
		Object:    audit.ObjectRef{Kind: "PersistentVolume", Name: "pvc-1"},
		Message:   "PV pvc-1 has claim <none> | was released\nsecond line with `kubectl get pv pvc-1 -o jsonpath='{.a|b}'`",
		FirstSeen: &at, New: true,
	})
	add(audit.Finding{
		RuleID: "pv-released-retained", Severity: audit.Warning,
		Object:    audit.ObjectRef{Kind: "PersistentVolume", Name: "pvc-0"},
		Message:   "PV pvc-0 was released",
		FirstSeen: &first,
	})
	add(audit.Finding{
		RuleID: "pod-node-missing", Severity: audit.Critical,
		Object:    audit.ObjectRef{Kind: "Pod", Namespace: "db", Name: "pg-0"},
		Message:   "pod db/pg-0 is bound to a node that no longer exists",
		FirstSeen: &at, New: true,
	})
	r.Summary.Suppressed = 2
	r.Changes = &audit.Changes{Since: prev, New: 2, Resolved: 1}
	r.Resolved = []audit.Finding{{
		RuleID: "sts-retained-ordinal", Severity: audit.Warning,
		Object:    audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "streaming", Name: "data-kafka-3"},
		Message:   "claim streaming/data-kafka-3 is kept for ordinal 3",
		FirstSeen: &first,
	}}
	r.Unreadable = []audit.Unreadable{{Kind: "Events", Reason: "forbidden: User \"auditor\" cannot list events"}}
	r.Skipped = []audit.Skipped{{Rule: "pvc-resize-stuck", Reason: "needs Events, which could not be read"}}
	return r
}

func TestMarkdownGolden(t *testing.T) {
	empty := audit.NewReport("quiet", time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC))
	first := changesReport()
	first.Changes = &audit.Changes{New: 2}
	first.Resolved = nil
	cases := []struct {
		golden string
		rep    *audit.Report
	}{
		{"demo.md", demoReport(t)},
		{"changes.md", changesReport()},
		{"first-run.md", first},
		{"empty.md", empty},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, c.rep, Markdown, Options{}); err != nil {
				t.Fatal(err)
			}
			checkTables(t, b.String())
			goldenFile(t, c.golden, b.String())
		})
	}
}

// TestMarkdownContent states what the changes report must show, independent of the
// golden file's exact layout.
func TestMarkdownContent(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, changesReport()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	order := []string{
		"# Storage audit of prod\\|eu, 2026-11-20 09:30 UTC",
		"**4 findings**: 1 critical, 2 warning, 1 info; 2 suppressed by annotation.",
		"Since the previous run (2026-11-19 09:30 UTC): **2 new**, **1 resolved**.",
		"## Critical (1)", "### pod-node-missing (1)", "**NEW** `pod/db/pg-0`",
		"## Warning (2)", "### pv-released-retained (2)", "**NEW** `pv/pvc-1`", "`pv/pvc-0`",
		"## Info (1)", "### pvc-unused (1)",
		"## Resolved since the previous run (1)", "| warning | sts-retained-ordinal | `pvc/streaming/data-kafka-3` | 2026-11-17 09:30 UTC |",
		"## Could not read", "- **Events**: forbidden",
		"## Skipped rules", "- `pvc-resize-stuck`: needs Events",
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(md[pos:], want)
		if i < 0 {
			t.Fatalf("missing (or out of order) %q in:\n%s", want, md)
		}
		pos += i + len(want)
	}
	cell := "PV pvc-1 has claim &lt;none> \\| was released<br>second line with `kubectl get pv pvc-1 -o jsonpath='{.a\\|b}'`"
	if !strings.Contains(md, cell) {
		t.Errorf("message cell not escaped as %q:\n%s", cell, md)
	}
}

func TestMarkdownCellEscaping(t *testing.T) {
	cases := []struct{ in, cell, inline string }{
		{"a | b", `a \| b`, "a | b"},
		{"one\ntwo\r\nthree", "one<br>two<br>three", "one two three"},
		{"status <none>", "status &lt;none>", "status &lt;none>"},
		{"run `a | b\nc <d>`", "run `a \\| b c <d>`", "run `a | b c <d>`"},
		{"odd ` tick <x>", "odd ` tick &lt;x>", "odd ` tick &lt;x>"},
		{"  padded\n", "padded", "padded"},
	}
	for _, c := range cases {
		if got := mdCell(c.in); got != c.cell {
			t.Errorf("mdCell(%q) = %q, want %q", c.in, got, c.cell)
		}
		if got := mdInline(c.in); got != c.inline {
			t.Errorf("mdInline(%q) = %q, want %q", c.in, got, c.inline)
		}
	}
}

// checkTables fails when a table row has a different number of cells than its header:
// an unescaped pipe or newline in a cell breaks the table on GitHub.
func checkTables(t *testing.T, md string) {
	t.Helper()
	cols := -1
	for n, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "|") {
			cols = -1
			continue
		}
		c := strings.Count(l, "|") - strings.Count(l, `\|`)
		if cols < 0 {
			cols = c
		} else if c != cols {
			t.Errorf("line %d has %d cell separators, its table %d: %q", n+1, c, cols, l)
		}
	}
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, *update, name, got)
}
