package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// multiReports are the reports of a three-cluster run: the demo cluster (findings of
// every severity, a cost section), a cluster with run-to-run state and things it could
// not check, and one that could not be audited.
func multiReports(t *testing.T) []*audit.Report {
	prod := demoReport(t)
	prod.Cluster = "prod"
	staging := changesReport()
	dead := audit.NewReport("dead", time.Date(2026, 11, 20, 9, 30, 5, 0, time.UTC))
	dead.Error = "reading cluster dead (https://127.0.0.1:1): listing PersistentVolume: connect: connection refused; check --kubeconfig/--context and that the API server is reachable"
	return []*audit.Report{prod, staging, dead}
}

func TestMultiGolden(t *testing.T) {
	for _, c := range []struct {
		golden string
		format Format
	}{
		{"multi.table", Table},
		{"multi.md", Markdown},
		{"multi.json", JSON},
	} {
		t.Run(c.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteMulti(&b, multiReports(t), c.format, Options{}); err != nil {
				t.Fatal(err)
			}
			if c.format == Markdown {
				checkTables(t, b.String())
			}
			goldenFile(t, c.golden, b.String())
		})
	}
}

// TestMultiDocumentIsAListOfReports: -o json|yaml for many clusters is a kubectl-style
// List whose items are the single-cluster documents, unchanged and in order, and the
// YAML is the same document as the JSON.
func TestMultiDocumentIsAListOfReports(t *testing.T) {
	reps := multiReports(t)
	var j, y bytes.Buffer
	if err := WriteMulti(&j, reps, JSON, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMulti(&y, reps, YAML, Options{}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != audit.APIVersion || list.Kind != "AuditReportList" || len(list.Items) != len(reps) {
		t.Fatalf("list header %s/%s with %d items, want %s/AuditReportList with %d", list.APIVersion, list.Kind, len(list.Items), audit.APIVersion, len(reps))
	}
	for i, rep := range reps {
		var single bytes.Buffer
		if err := WriteJSON(&single, rep); err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(single.Bytes(), &a)
		_ = json.Unmarshal(list.Items[i], &b)
		as, _ := json.Marshal(a)
		bs, _ := json.Marshal(b)
		if string(as) != string(bs) {
			t.Errorf("item %d differs from the cluster's own report:\n%s\n%s", i, bs, as)
		}
	}
	var dead audit.Report
	if err := json.Unmarshal(list.Items[2], &dead); err != nil {
		t.Fatal(err)
	}
	if dead.Error == "" || dead.Cluster != "dead" || dead.Findings == nil {
		t.Errorf("the failed cluster's item should carry its name, its error and findings: []: %s", list.Items[2])
	}
	var fromJSON, fromYAML any
	_ = json.Unmarshal(j.Bytes(), &fromJSON)
	if err := yaml.Unmarshal(y.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if string(a) != string(b) {
		t.Errorf("yaml differs from json:\n%s\n%s", a, b)
	}
	var empty bytes.Buffer
	_ = WriteMulti(&empty, nil, JSON, Options{})
	if !strings.Contains(empty.String(), `"items": []`) {
		t.Errorf("no clusters should give items: [], got %s", empty.String())
	}
}

// TestMultiTableContent states what the combined table must show, independent of the
// golden file's layout: a CLUSTER column, every cluster's findings highest severity
// first, one summary line per cluster and a total.
func TestMultiTableContent(t *testing.T) {
	reps := multiReports(t)
	var b bytes.Buffer
	if err := WriteMultiTable(&b, reps, Options{Width: 200}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(strings.TrimSpace(lines[0]), "CLUSTER") {
		t.Errorf("first column should be CLUSTER: %q", lines[0])
	}
	rows := 0
	lastSev := 4
	sevRank := map[string]int{"CRITICAL": 3, "WARNING": 2, "INFO": 1}
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) == 0 {
			break
		}
		if fields[0] != "prod" && fields[0] != "prod|eu" {
			continue // a wrapped message line
		}
		rows++
		if r, ok := sevRank[fields[1]]; ok {
			if r >= lastSev {
				t.Errorf("severity %s after a higher or equal one: %q", fields[1], l)
			}
			lastSev = r
		}
	}
	want := len(reps[0].Findings) + len(reps[1].Findings)
	if rows != want {
		t.Errorf("%d finding rows, want %d:\n%s", rows, want, out)
	}
	for _, s := range []string{
		"\nprod: 14 findings: 5 critical, 9 warning, 0 info (2026-11-20 09:30:00Z)\n  Storage cost: ",
		"\nprod|eu: 4 findings: 1 critical, 2 warning, 1 info; 2 suppressed by annotation (2026-11-20 09:30:00Z)\n  Could not read Events: ",
		"\n  Skipped rule pvc-resize-stuck: ",
		"\ndead: could not audit: reading cluster dead (https://127.0.0.1:1)",
		"\n3 clusters (1 could not be audited): 18 findings: 6 critical, 11 warning, 1 info; 2 suppressed by annotation\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

// TestMultiMarkdownSections: one overview table, then each cluster's own report with its
// headings one level down, and the failed cluster's error.
func TestMultiMarkdownSections(t *testing.T) {
	reps := multiReports(t)
	var b bytes.Buffer
	if err := WriteMultiMarkdown(&b, reps); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if n := strings.Count(md, "\n# "); n != 0 || !strings.HasPrefix(md, "# Storage audit of 3 clusters\n") {
		t.Errorf("want exactly one top-level heading, the title; got %d more:\n%s", n, md)
	}
	order := []string{
		"| Cluster | Critical | Warning | Info | Notes |",
		"| prod | 5 | 9 | 0 |  |",
		"| prod\\|eu | 1 | 2 | 1 | 1 kind unreadable; 1 rule skipped; 2 new, 1 resolved |",
		"| dead |  |  |  | could not audit: reading cluster dead",
		"\n## Storage audit of prod, 2026-11-20 09:30 UTC\n", "\n### Critical (5)\n", "\n#### node-attach-limit (1)\n", "\n### Storage cost\n",
		"\n## Storage audit of prod\\|eu, 2026-11-20 09:30 UTC\n", "\n### Could not read\n",
		"\n## Storage audit of dead, 2026-11-20 09:30 UTC\n\n**Could not audit**: reading cluster dead",
	}
	pos := 0
	for _, want := range order {
		i := strings.Index(md[pos:], want)
		if i < 0 {
			t.Fatalf("missing (or out of order) %q in:\n%s", want, md)
		}
		pos += i + len(want)
	}
	// The cluster's section is its single report, headings demoted and nothing else.
	var one bytes.Buffer
	_ = WriteMarkdown(&one, reps[1])
	demoted := strings.ReplaceAll("\n"+one.String(), "\n#", "\n##")[1:]
	if !strings.Contains(md, demoted) {
		t.Errorf("the prod|eu section is not its report with headings demoted:\n%s", md)
	}
}

// TestMultiCostGolden: auditor cost for many clusters, a cost section per cluster and the
// reason a cluster has none.
func TestMultiCostGolden(t *testing.T) {
	reps := multiReports(t)
	reps = []*audit.Report{reps[0], reps[2]}
	var table, md bytes.Buffer
	if err := WriteMultiCostTable(&table, reps, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMultiCostMarkdown(&md, reps); err != nil {
		t.Fatal(err)
	}
	checkTables(t, md.String())
	goldenFile(t, "multi-cost.table", table.String())
	goldenFile(t, "multi-cost.md", md.String())
	var one bytes.Buffer
	_ = WriteCostTable(&one, reps[0].Cost, Options{})
	if !strings.HasPrefix(table.String(), "Cluster prod:\n"+one.String()+"\nCluster dead: no cost: reading cluster dead") {
		t.Errorf("want prod's own cost table under its name, then dead's reason:\n%s", table.String())
	}
	if !strings.Contains(md.String(), "\n## prod\n\n### Storage cost\n") || !strings.Contains(md.String(), "\n## dead\n\n**No cost**: reading cluster dead") {
		t.Errorf("markdown sections:\n%s", md.String())
	}
}

func TestMultiRefusesSingleClusterFormats(t *testing.T) {
	err := WriteMulti(&bytes.Buffer{}, multiReports(t), Format("html"), Options{})
	if err == nil || !strings.Contains(err.Error(), "table, json, yaml, markdown") {
		t.Errorf("err = %v, want one naming the formats that show many clusters", err)
	}
}
