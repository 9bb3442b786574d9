package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

// catalogDocs documents every catalog rule the way the CLI fills Options.Rules.
func catalogDocs() map[string]RuleDoc {
	docs := map[string]RuleDoc{}
	for _, r := range catalog.All() {
		docs[r.ID] = RuleDoc{Title: r.Title, Action: r.Action, Severity: r.Severity, Category: string(r.Category), Doc: r.Doc}
	}
	return docs
}

func renderHTML(t *testing.T, rep *audit.Report, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, rep, HTML, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// fixReport is the changes report with a finding carrying every part of a fix, a cost
// fact and a message that tries to inject markup.
func fixReport() *audit.Report {
	r := changesReport()
	rv := int64(0)
	since := r.GeneratedAt.Add(-2 * time.Hour)
	r.Findings = append(r.Findings, audit.Finding{
		RuleID: "pod-node-missing", Severity: audit.Critical,
		Object:      audit.ObjectRef{Kind: "Pod", Namespace: "db", Name: "pg-1", UID: "u-1"},
		Message:     `pod db/pg-1 <script>alert("x")</script> & <img src=x onerror=alert(1)>`,
		Fingerprint: "0123456789abcdef",
		Details:     map[string]string{"node": "gone-1", "monthlyCost": "19.71", "currency": "USD", "note": `"quoted" <b>bold</b>`},
		Fixes: []audit.Fix{{
			Action: "force-delete-pod", Safety: audit.Destructive,
			Description: "force-deletes the pod so its StatefulSet re-creates it",
			Steps: []audit.FixStep{
				{Target: audit.FixTarget{ObjectRef: audit.ObjectRef{Kind: "Pod", Namespace: "db", Name: "pg-1"}, ResourceVersion: "42"}, Patch: &audit.FixPatch{Type: audit.MergePatch, Data: `{"metadata":{"finalizers":null}}`}},
				{Target: audit.FixTarget{ObjectRef: audit.ObjectRef{Kind: "Pod", Namespace: "db", Name: "pg-1"}}, Delete: &audit.FixDelete{GracePeriodSeconds: &rv}, ChangedByPrevious: true},
			},
			Unchanged: []audit.FixTarget{{ObjectRef: audit.ObjectRef{Kind: "StatefulSet", Namespace: "db", Name: "pg"}}},
			Wait:      &audit.FixWait{For: "node gone-1 to have been gone long enough", Since: &since, Source: "Node deletion event"},
			Kubectl:   `kubectl delete pod pg-1 -n db --grace-period=0 --force`,
		}},
	})
	r.Summary.Count(audit.Critical)
	return r
}

func TestHTMLGolden(t *testing.T) {
	empty := audit.NewReport("quiet", time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC))
	cases := []struct {
		golden string
		rep    *audit.Report
		o      Options
	}{
		{"html-demo.html", demoReport(t), Options{Rules: catalogDocs()}},
		{"html-changes.html", fixReport(), Options{Rules: catalogDocs()}},
		{"html-empty.html", empty, Options{}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			got := renderHTML(t, c.rep, c.o)
			if again := renderHTML(t, c.rep, c.o); again != got {
				t.Fatal("two renderings of the same report differ: the output must be deterministic")
			}
			goldenFile(t, c.golden, got)
		})
	}
}

// TestHTMLContent states what the demo page must hold, independent of the golden file's
// layout: every finding with its rule and object, its facts and fix, the rules' docs,
// the charts with one bar per line.
func TestHTMLContent(t *testing.T) {
	rep := demoReport(t)
	page := renderHTML(t, rep, Options{Rules: catalogDocs()})
	if n := strings.Count(page, `<tr id="finding-`); n != len(rep.Findings) {
		t.Errorf("%d finding rows, want %d", n, len(rep.Findings))
	}
	for _, f := range rep.Findings {
		for _, want := range []string{
			`data-rule="` + f.RuleID + `"`,
			"<code>" + shortRef(f.Object) + "</code>",
			`id="rule-` + f.RuleID + `"`,
			`<a href="#rule-` + f.RuleID + `">`,
			"<code>" + f.Fingerprint + "</code>",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s on %s: page lacks %s", f.RuleID, f.Object, want)
			}
		}
		for _, fx := range f.Fixes {
			if !strings.Contains(page, "Proposed fix: "+fx.Action) || !strings.Contains(page, htmlEscaped(fx.Kubectl)) {
				t.Errorf("%s on %s: fix %s or its kubectl line %q missing", f.RuleID, f.Object, fx.Action, fx.Kubectl)
			}
		}
	}
	for _, want := range []string{
		"<h1>Storage audit of incident-cluster.yaml</h1>",
		`<time datetime="2026-11-20T09:30:00Z">2026-11-20 09:30 UTC</time>`,
		`<li class="sev-critical" data-severity="critical"><span class="n">5</span> critical</li>`,
		`<li class="sev-warning" data-severity="warning"><span class="n">9</span> warning</li>`,
		"<strong>Storage cost:</strong> 371.96 USD a month for 33 volumes; 1 without a price is not counted.",
		"1 volume has no price and is not counted",
		"<strong>Why it matters.</strong>",
		"Monthly cost</dt><dd class=\"cost-line\">38.02 USD a month</dd>",
		`<th scope="col" data-sortable>Rule</th>`,
		"@media print",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	charts := map[string][]audit.CostLine{"namespace": rep.Cost.ByNamespace, "storageclass": rep.Cost.ByStorageClass, "waste": rep.Cost.WasteByBucket}
	for key, lines := range charts {
		fig := between(t, page, `<figure class="chart" id="chart-`+key+`"`, "</svg>")
		if n := strings.Count(fig, `<rect class="bar"`); n != len(lines) {
			t.Errorf("chart %s has %d bars, want %d", key, n, len(lines))
		}
		for _, l := range lines {
			if !strings.Contains(fig, `<rect class="bar" data-name="`+l.Name+`"`) {
				t.Errorf("chart %s has no bar for %q", key, l.Name)
			}
		}
	}
	// The biggest namespace fills its track; an unpriced one is an empty bar.
	if !strings.Contains(page, `data-name="logging" data-amount="190.10" x="0" y="20" width="100.00%"`) ||
		!strings.Contains(page, `data-name="web" data-amount="0.00" x="0" y="224" width="0%"`) {
		t.Error("namespace bars are not scaled to the largest amount")
	}
	if strings.Contains(page, `name="onlynew"`) || strings.Contains(page, `<span class="badge new">`) || strings.Contains(page, `id="resolved"`) {
		t.Error("a report without state shows new/resolved marks")
	}
}

// TestHTMLChangesAndFixes: with run-to-run state the page marks new findings, lists the
// resolved ones and offers the "only new" filter; fixes show every part.
func TestHTMLChangesAndFixes(t *testing.T) {
	page := renderHTML(t, fixReport(), Options{Rules: catalogDocs()})
	for _, want := range []string{
		`Since the previous run (<time datetime="2026-11-19T09:30:00Z">2026-11-19 09:30 UTC</time>): <span class="badge new">2 new</span> <span class="badge resolved">1 resolved</span>`,
		`<input type="checkbox" name="onlynew">`,
		`data-rule="pod-node-missing" data-namespace="db" data-new="true"`,
		`<span class="badge sev-critical">critical</span> <span class="badge new">new</span>`,
		`<h2 id="resolved-title">Resolved since the previous run (1)</h2>`,
		`<td><code>pvc/streaming/data-kafka-3</code></td>`,
		`<th scope="col" data-sortable>First seen</th>`,
		`Proposed fix: force-delete-pod <span class="badge safety-destructive">destructive</span>`,
		`<code>auditor run --fix --allow destructive</code>`,
		`<pre><code>kubectl delete pod pg-1 -n db --grace-period=0 --force</code></pre>`,
		`<li>patch <code>Pod/db/pg-1</code> with the merge patch <code>{&#34;metadata&#34;:{&#34;finalizers&#34;:null}}</code>, only at resourceVersion 42</li>`,
		`<li>delete <code>Pod/db/pg-1</code>, grace period 0s, re-read after the step before changes it</li>`,
		`Skipped if changed since the audit: <code>StatefulSet/db/pg</code>.`,
		`<strong>Waits for</strong> node gone-1 to have been gone long enough, evidence since <time datetime="2026-11-20T07:30:00Z">2026-11-20 07:30 UTC</time> (Node deletion event).`,
		`Monthly cost</dt><dd class="cost-line">19.71 USD a month</dd>`,
		`<h3>Could not read</h3>`,
		`<li><code>pvc-resize-stuck</code>: needs Events, which could not be read</li>`,
		`<details class="rule-doc" id="rule-pvc-resize-stuck">`, // skipped rules are documented too
		`<li class="suppressed"><span class="n">2</span> suppressed by annotation</li>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="cost"`) || strings.Contains(page, `href="#cost"`) || strings.Contains(page, "Storage cost:") {
		t.Error("a report without cost shows a cost section")
	}
	first := fixReport()
	first.Changes = &audit.Changes{New: 2}
	first.Resolved = nil
	page = renderHTML(t, first, Options{})
	if !strings.Contains(page, "First run with saved state: <strong>2 new</strong>") || strings.Contains(page, `id="resolved"`) || strings.Contains(page, `id="rules"`) {
		t.Error("first run with state: want the first-run line, no resolved section and, without docs, no rules section")
	}
}

// TestHTMLEscaping: text from the cluster (names, messages, facts) cannot add markup or
// script to the page.
func TestHTMLEscaping(t *testing.T) {
	rep := fixReport()
	rep.Cluster = `prod"><script>alert(1)</script>`
	rep.Skipped = append(rep.Skipped, audit.Skipped{Rule: "x</code><script>", Reason: "<b>no</b>"})
	page := renderHTML(t, rep, Options{Rules: map[string]RuleDoc{
		"pod-node-missing": {Title: "<i>t</i>", Action: "<script>a()</script>", Doc: "Doc with <script>x()</script> and `<code>` and [a](javascript:alert(1)) and [b](https://example.com/\"x)"},
	}})
	scripts := regexp.MustCompile(`(?i)<script`).FindAllStringIndex(page, -1)
	if len(scripts) != 1 {
		t.Errorf("%d <script> tags, want only the report's own", len(scripts))
	}
	for _, bad := range []string{"<img", "<b>", "<i>t", "javascript:", `"x)`} {
		if strings.Contains(page, bad) {
			t.Errorf("unescaped %q in the page", bad)
		}
	}
	for _, want := range []string{
		"pod db/pg-1 &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;",
		"<dt>note</dt><dd>&#34;quoted&#34; &lt;b&gt;bold&lt;/b&gt;</dd>",
		"Storage audit of prod&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
		"Doc with &lt;script&gt;x()&lt;/script&gt; and <code>&lt;code&gt;</code> and a) and ",
		`<a href="https://example.com/&#34;x" rel="noreferrer">b</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped %s", want)
		}
	}
}

// TestHTMLSelfContained: opening the page loads nothing from anywhere: no element with
// a src, no stylesheet or script link, no url() or @import in the styles, no network
// API in the script, and no attribute naming another host except <a href> (a click,
// not a load). Text that merely mentions such things (escaped messages) is allowed.
func TestHTMLSelfContained(t *testing.T) {
	withLink := fixReport()
	withLink.Findings[0].Message = `see https://example.com/x and url(https://e.com) <img src="https://e.com/p.png">`
	pages := map[string]string{
		"demo":    renderHTML(t, demoReport(t), Options{Rules: catalogDocs()}),
		"changes": renderHTML(t, withLink, Options{Rules: map[string]RuleDoc{"pvc-unused": {Doc: "[docs](https://kubernetes.io/docs/concepts/storage/)"}}}),
	}
	styleRE := regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	scriptRE := regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	tagRE := regexp.MustCompile(`<([a-zA-Z][\w-]*)((?:\s+[^\s=>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*/?>`)
	attrRE := regexp.MustCompile(`([^\s=>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?`)
	for name, page := range pages {
		styles := styleRE.FindAllStringSubmatch(page, -1)
		scripts := scriptRE.FindAllStringSubmatch(page, -1)
		if len(styles) != 1 || len(scripts) != 1 {
			t.Fatalf("%s: %d style and %d script elements, want the report's own one of each", name, len(styles), len(scripts))
		}
		for _, bad := range []string{"url(", "@import", "http:", "https:", "//"} {
			if strings.Contains(regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(styles[0][1], ""), bad) {
				t.Errorf("%s: the styles contain %q", name, bad)
			}
		}
		for _, api := range []string{"fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "importScripts", "import(", "http:", "https:", ".src", "Image("} {
			if strings.Contains(scripts[0][1], api) {
				t.Errorf("%s: the script uses %q", name, api)
			}
		}
		links := 0
		for _, tag := range tagRE.FindAllStringSubmatch(page, -1) {
			el := strings.ToLower(tag[1])
			if el == "link" || el == "base" || el == "iframe" || el == "img" || el == "object" || el == "embed" || el == "image" || el == "use" {
				t.Errorf("%s: the page has a <%s> element", name, el)
			}
			for _, a := range attrRE.FindAllStringSubmatch(tag[2], -1) {
				attr, val := strings.ToLower(a[1]), strings.Trim(a[2], `"'`)
				switch {
				case attr == "src" || attr == "srcset" || attr == "style" || attr == "http-equiv" || strings.HasPrefix(attr, "on"):
					t.Errorf("%s: <%s %s=%q>", name, el, attr, val)
				case el == "a" && attr == "href" && strings.HasPrefix(val, "https://"):
					links++
				case strings.Contains(val, "//") || strings.HasPrefix(strings.ToLower(val), "javascript:"):
					t.Errorf("%s: <%s %s=%q> names another place", name, el, attr, val)
				}
			}
		}
		if name == "changes" && links != 1 {
			t.Errorf("%s: %d links to other hosts, want the rule doc's one", name, links)
		}
	}
}

// TestMarkdownHTML covers the Markdown subset of rule docs.
func TestMarkdownHTML(t *testing.T) {
	cases := []struct{ in, want string }{
		{"one\ntwo\n\nthree", "<p>one two</p>\n<p>three</p>\n"},
		{"**Why it matters.** Disks *cost* money.", "<p><strong>Why it matters.</strong> Disks <em>cost</em> money.</p>\n"},
		{"Run `kubectl get pv <pv> -o jsonpath='{.a}'` now", "<p>Run <code>kubectl get pv &lt;pv&gt; -o jsonpath=&#39;{.a}&#39;</code> now</p>\n"},
		{"**How:**\n- first,\n  continued `a\n  b`\n- second", "<p><strong>How:</strong></p>\n<ul>\n<li>first, continued <code>a b</code></li>\n<li>second</li>\n</ul>\n"},
		{"1. one\n2. two\n\nafter", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n<p>after</p>\n"},
		{"## Parameters\n\n```yaml\nrules:\n  x: <y>\n```", "<h4>Parameters</h4>\n<pre><code>rules:\n  x: &lt;y&gt;</code></pre>\n"},
		{"odd ` tick <x>", "<p>odd ` tick &lt;x&gt;</p>\n"},
		{"see [docs](https://k8s.io/a) and [rule](pv-failed.md)", "<p>see <a href=\"https://k8s.io/a\" rel=\"noreferrer\">docs</a> and rule</p>\n"},
		{"a * b * c", "<p>a * b * c</p>\n"},
	}
	for _, c := range cases {
		if got := string(markdownHTML(c.in)); got != c.want {
			t.Errorf("markdownHTML(%q) =\n%q\nwant\n%q", c.in, got, c.want)
		}
	}
	// Every catalog doc renders with balanced lists and code spans.
	for id, d := range catalogDocs() {
		out := string(markdownHTML(d.Doc))
		for _, tag := range []string{"ul", "ol", "p", "code", "strong", "em", "pre"} {
			if o, c := strings.Count(out, "<"+tag+">"), strings.Count(out, "</"+tag+">"); o != c {
				t.Errorf("%s: %d <%s> but %d </%s>", id, o, tag, c, tag)
			}
		}
		if strings.Contains(out, "**") || strings.Contains(out, "`") {
			t.Errorf("%s: Markdown left unrendered:\n%s", id, out)
		}
	}
}

func htmlEscaped(s string) string {
	var b bytes.Buffer
	b.WriteString(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s))
	return b.String()
}

// between returns page from the first start up to the next end.
func between(t *testing.T, page, start, end string) string {
	t.Helper()
	i := strings.Index(page, start)
	if i < 0 {
		t.Fatalf("page lacks %s", start)
	}
	j := strings.Index(page[i:], end)
	if j < 0 {
		t.Fatalf("no %s after %s", end, start)
	}
	return page[i : i+j]
}
