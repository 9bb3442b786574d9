package report

import (
	"bufio"
	"embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// RuleDoc is what the HTML report shows about a rule: the CLI fills Options.Rules from
// the rule catalog (this package does not import it, so renderers stay independent of
// the rules). Doc is the rule's Markdown documentation: what it checks, why it matters,
// how to fix it by hand.
type RuleDoc struct {
	Title string
	// Action is the fix in one line.
	Action   string
	Severity audit.Severity
	Category string
	Doc      string
}

//go:embed htmlassets/report.html.tmpl htmlassets/report.css htmlassets/report.js
var htmlAssets embed.FS

// htmlPage is parsed once: the template and its assets are part of the binary, so a
// parse error is a programming error caught by every test.
var htmlPage = template.Must(template.New("report.html.tmpl").ParseFS(htmlAssets, "htmlassets/report.html.tmpl"))

var (
	htmlCSS    = mustAsset("htmlassets/report.css")
	htmlScript = mustAsset("htmlassets/report.js")
)

func mustAsset(name string) string {
	b, err := htmlAssets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// WriteHTML renders rep as one self-contained HTML page: styles, script and charts are
// inline and nothing is loaded from anywhere else, so the file can be mailed, attached
// or opened offline. The findings table can be filtered and sorted (with JavaScript)
// and every finding opens to its facts, the rule's advice and the proposed fixes
// (without JavaScript too). o.Rules adds each rule's title, action and documentation.
// The output depends only on rep and o: no clock, no random IDs.
func WriteHTML(w io.Writer, rep *audit.Report, o Options) error {
	bw := bufio.NewWriter(w)
	if err := htmlPage.Execute(bw, newHTMLView(rep, o)); err != nil {
		return err
	}
	return bw.Flush()
}

// htmlView is the page's data, computed here so the template only places it.
type htmlView struct {
	Cluster, Generated, GeneratedISO string
	Summary                          audit.Summary
	Total                            int
	Severities                       []htmlSeverity
	Changes                          *htmlChanges
	Findings                         []htmlFinding
	WithFirstSeen                    bool
	Columns                          int
	RuleIDs                          []string
	Namespaces                       []htmlOption
	Resolved                         []htmlFinding
	ResolvedFirstSeen                bool
	Cost                             *htmlCost
	Rules                            []htmlRule
	Skipped                          []audit.Skipped
	Unreadable                       []audit.Unreadable
	CSS                              template.CSS
	Script                           template.JS
}

type htmlSeverity struct {
	Name  string
	Count int
}

type htmlChanges struct {
	FirstRun        bool
	Since, SinceISO string
	New, Resolved   int
}

type htmlOption struct{ Value, Label string }

type htmlFinding struct {
	ID, Ref                 string
	Index                   int
	Severity                string
	SeverityRank            int
	RuleID                  string
	RuleTitle, RuleAction   string
	HasRuleDoc              bool
	Object                  audit.ObjectRef
	Message                 template.HTML
	Fingerprint             string
	FirstSeen, FirstSeenISO string
	New                     bool
	MonthlyCost             string
	Facts                   []htmlFact
	Fixes                   []htmlFix
}

type htmlFact struct{ Key, Value string }

type htmlFix struct {
	Action, Safety, Description, Kubectl, Command string
	Wait                                          *htmlWait
	Steps                                         []htmlStep
	Unchanged                                     []string
}

type htmlWait struct{ For, Since, SinceISO, Source string }

type htmlStep struct{ Verb, Target, PatchType, Patch, Note string }

type htmlRule struct {
	ID, Title, Action, Severity, Category string
	Doc                                   template.HTML
}

type htmlCost struct {
	Monthly, Waste string
	Unpriced       int
	Charts         []htmlChart
	Workloads      []htmlBar
	MoreWorkloads  int
	TopWaste       []htmlWaste
}

type htmlChart struct {
	ID, Key, Title, NameHeader, Currency string
	Waste                                bool
	Height                               int
	Bars                                 []htmlBar
}

type htmlBar struct {
	Name, Label                 string
	Value, Money, Amount, Width string
	Volumes                     int
	GiB                         string
	TextY, BarY                 int
}

type htmlWaste struct {
	Ref, Bucket, RuleID, Money, GiB string
}

func newHTMLView(rep *audit.Report, o Options) *htmlView {
	s := rep.Summary
	v := &htmlView{
		Cluster:      rep.Cluster,
		Generated:    htmlTime(rep.GeneratedAt),
		GeneratedISO: isoTime(rep.GeneratedAt),
		Summary:      s,
		Total:        s.Critical + s.Warning + s.Info,
		Severities:   []htmlSeverity{{"critical", s.Critical}, {"warning", s.Warning}, {"info", s.Info}},
		Skipped:      rep.Skipped,
		Unreadable:   rep.Unreadable,
		CSS:          template.CSS(htmlCSS),
		Script:       template.JS(htmlScript),
	}
	if c := rep.Changes; c != nil {
		v.Changes = &htmlChanges{FirstRun: c.Since.IsZero(), New: c.New, Resolved: c.Resolved}
		if !c.Since.IsZero() {
			v.Changes.Since, v.Changes.SinceISO = htmlTime(c.Since), isoTime(c.Since)
		}
	}

	// Most severe first, then by rule, as the engine sorts; stable keeps the object order
	// of hand-built reports.
	fs := append([]audit.Finding(nil), rep.Findings...)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		return fs[i].RuleID < fs[j].RuleID
	})
	rules := map[string]bool{}
	namespaces := map[string]bool{}
	for i, f := range fs {
		hf := newHTMLFinding(f, o)
		hf.Index, hf.ID = i, fmt.Sprintf("finding-%d", i+1)
		v.Findings = append(v.Findings, hf)
		v.WithFirstSeen = v.WithFirstSeen || f.FirstSeen != nil
		rules[f.RuleID] = true
		namespaces[f.Object.Namespace] = true
	}
	v.Columns = 5
	if v.WithFirstSeen {
		v.Columns++
	}
	v.RuleIDs = sortedKeys(rules)
	for _, ns := range sortedKeys(namespaces) {
		label := ns
		if ns == "" {
			label = "(cluster-scoped)"
		}
		v.Namespaces = append(v.Namespaces, htmlOption{Value: ns, Label: label})
	}
	for _, f := range rep.Resolved {
		v.Resolved = append(v.Resolved, newHTMLFinding(f, o))
		v.ResolvedFirstSeen = v.ResolvedFirstSeen || f.FirstSeen != nil
		rules[f.RuleID] = true
	}
	for _, sk := range rep.Skipped {
		rules[sk.Rule] = true
	}
	// The documentation of every rule the page names, once.
	for _, id := range sortedKeys(rules) {
		d, ok := o.Rules[id]
		if !ok {
			continue
		}
		r := htmlRule{ID: id, Title: d.Title, Action: sentence(d.Action), Category: d.Category, Doc: markdownHTML(d.Doc)}
		if d.Severity != 0 {
			r.Severity = d.Severity.String()
		}
		v.Rules = append(v.Rules, r)
	}
	if rep.Cost != nil {
		v.Cost = newHTMLCost(rep.Cost)
	}
	return v
}

func newHTMLFinding(f audit.Finding, o Options) htmlFinding {
	hf := htmlFinding{
		Ref:          shortRef(f.Object),
		Severity:     f.Severity.String(),
		SeverityRank: int(f.Severity),
		RuleID:       f.RuleID,
		Object:       f.Object,
		Message:      messageHTML(f.Message),
		Fingerprint:  f.Fingerprint,
		New:          f.New,
	}
	if d, ok := o.Rules[f.RuleID]; ok {
		hf.RuleTitle, hf.RuleAction, hf.HasRuleDoc = d.Title, sentence(d.Action), true
	}
	if f.FirstSeen != nil {
		hf.FirstSeen, hf.FirstSeenISO = htmlTime(*f.FirstSeen), isoTime(*f.FirstSeen)
	}
	if amount, ok := f.Details["monthlyCost"]; ok {
		cur := f.Details["currency"]
		if a, err := strconv.ParseFloat(amount, 64); err == nil {
			hf.MonthlyCost = audit.FormatMoney(a, cur) + " a month"
		} else {
			hf.MonthlyCost = strings.TrimSpace(amount + " " + cur)
		}
	}
	for _, k := range sortedKeys(f.Details) {
		hf.Facts = append(hf.Facts, htmlFact{Key: k, Value: f.Details[k]})
	}
	for _, fx := range f.Fixes {
		hf.Fixes = append(hf.Fixes, newHTMLFix(fx))
	}
	return hf
}

func newHTMLFix(fx audit.Fix) htmlFix {
	h := htmlFix{
		Action:      fx.Action,
		Safety:      fx.Safety.String(),
		Description: fx.Description,
		Kubectl:     fx.Kubectl,
		Command:     "auditor run --fix",
	}
	switch fx.Safety {
	case audit.Disruptive:
		h.Command += " --allow disruptive"
	case audit.Destructive:
		h.Command += " --allow destructive"
	}
	if w := fx.Wait; w != nil {
		h.Wait = &htmlWait{For: w.For, Source: w.Source}
		if w.Since != nil {
			h.Wait.Since, h.Wait.SinceISO = htmlTime(*w.Since), isoTime(*w.Since)
		}
	}
	for _, st := range fx.Steps {
		s := htmlStep{Target: st.Target.ObjectRef.String()}
		var notes []string
		switch {
		case st.Patch != nil:
			s.Verb, s.PatchType, s.Patch = "patch", st.Patch.Type, st.Patch.Data
			if s.PatchType == "" {
				s.PatchType = audit.MergePatch
			}
		case st.Delete != nil:
			s.Verb = "delete"
			if g := st.Delete.GracePeriodSeconds; g != nil {
				notes = append(notes, fmt.Sprintf("grace period %ds", *g))
			}
		default:
			s.Verb = "check"
		}
		if st.ChangedByPrevious {
			notes = append(notes, "re-read after the step before changes it")
		} else if st.Target.ResourceVersion != "" {
			notes = append(notes, "only at resourceVersion "+st.Target.ResourceVersion)
		}
		s.Note = strings.Join(notes, ", ")
		h.Steps = append(h.Steps, s)
	}
	for _, u := range fx.Unchanged {
		h.Unchanged = append(h.Unchanged, u.ObjectRef.String())
	}
	return h
}

// htmlWorkloads is how many workloads the page lists; the JSON document has them all.
const htmlWorkloads = costTopLines

func newHTMLCost(c *audit.Cost) *htmlCost {
	h := &htmlCost{Unpriced: c.Unpriced}
	h.Monthly, h.Waste = costSummary(c)
	same := func(s string) string { return s }
	charts := []struct {
		key, title, header string
		lines              []audit.CostLine
		name               func(string) string
		waste              bool
	}{
		{"namespace", "Monthly cost by namespace", "Namespace", c.ByNamespace, namespaceLabel, false},
		{"storageclass", "Monthly cost by StorageClass", "StorageClass", c.ByStorageClass, same, false},
		{"waste", "Monthly waste by kind", "Kind of waste", c.WasteByBucket, bucketTitle, true},
	}
	for _, ch := range charts {
		if len(ch.lines) == 0 {
			continue
		}
		// One chart per currency (amounts in different currencies are never added or
		// compared); a breakdown without any price still gets one chart of empty bars.
		curs := lineCurrencies(ch.lines)
		for _, cur := range curs {
			hc := htmlChart{ID: "chart-" + ch.key, Key: ch.key, Title: ch.title, NameHeader: ch.header, Currency: cur, Waste: ch.waste}
			if len(curs) > 1 {
				hc.ID += "-" + strings.ToLower(cur)
				hc.Title += " (" + cur + ")"
			}
			hc.Bars = bars(ch.lines, cur, ch.name)
			hc.Height = len(hc.Bars)*barRow + 4
			h.Charts = append(h.Charts, hc)
		}
	}
	n := min(len(c.ByWorkload), htmlWorkloads)
	for _, l := range c.ByWorkload[:n] {
		h.Workloads = append(h.Workloads, htmlBar{Label: workloadLabel(l.Name), Money: moneyList(l.Monthly), Volumes: l.Volumes, GiB: gibText(l.GiB)})
	}
	h.MoreWorkloads = len(c.ByWorkload) - n
	for _, wv := range c.TopWaste {
		h.TopWaste = append(h.TopWaste, htmlWaste{
			Ref: shortRef(wv.Object), Bucket: bucketTitle(wv.Bucket), RuleID: wv.RuleID,
			Money: audit.FormatMoney(wv.Monthly, wv.Currency), GiB: gibText(wv.GiB),
		})
	}
	return h
}

// barRow is the height of one bar's row in a chart: a label line, then the bar.
const barRow = 34

// bars lays out one bar per line, its length relative to the largest amount in cur.
func bars(lines []audit.CostLine, cur string, name func(string) string) []htmlBar {
	top := 0.0
	for _, l := range lines {
		top = max(top, l.Monthly[cur])
	}
	out := make([]htmlBar, 0, len(lines))
	for i, l := range lines {
		amount, priced := l.Monthly[cur]
		b := htmlBar{
			Name: l.Name, Label: name(l.Name), Money: moneyList(l.Monthly), Volumes: l.Volumes, GiB: gibText(l.GiB),
			Amount: strconv.FormatFloat(amount, 'f', 2, 64), Width: "0%",
			TextY: i*barRow + 14, BarY: i*barRow + 20,
		}
		b.Value = "no price"
		if priced && cur != "" {
			b.Value = audit.FormatMoney(amount, cur)
		}
		b.Value += fmt.Sprintf(" · %d %s · %s GiB", l.Volumes, plural(l.Volumes, "volume", "volumes"), gibText(l.GiB))
		if top > 0 && amount > 0 {
			b.Width = strconv.FormatFloat(100*amount/top, 'f', 2, 64) + "%"
		}
		out = append(out, b)
	}
	return out
}

// lineCurrencies lists the currencies of a breakdown; [""] when nothing has a price.
func lineCurrencies(lines []audit.CostLine) []string {
	all := audit.Money{}
	for _, l := range lines {
		for c, a := range l.Monthly {
			all[c] += a
		}
	}
	if len(all) == 0 {
		return []string{""}
	}
	return all.Currencies()
}

func namespaceLabel(ns string) string {
	if ns == "" {
		return "(no claim)"
	}
	return ns
}

func workloadLabel(w string) string {
	if w == "" {
		return "(no workload)"
	}
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sentence ends s with a full stop (rule actions are written without one).
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func htmlTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// markdownHTML renders the Markdown subset rule docs are written in: paragraphs, "-"
// and "1." lists (continuation lines indented), "#" headings, fenced code blocks, and
// inline code, **strong**, *emphasis* and [links](https://…). Every piece of text is
// HTML-escaped before markup is added, so a doc cannot inject markup; only http(s) links
// become links (to be clicked, never loaded), any other target leaves the text alone.
func markdownHTML(doc string) template.HTML {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(doc), "\r\n", "\n"), "\n")
	var para []string
	var list string // "ul" or "ol" while a list is open
	var item []string
	flushItem := func() {
		if item != nil {
			b.WriteString("<li>" + mdInlineHTML(strings.Join(item, " ")) + "</li>\n")
			item = nil
		}
	}
	closeBlocks := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + mdInlineHTML(strings.Join(para, " ")) + "</p>\n")
			para = nil
		}
		flushItem()
		if list != "" {
			b.WriteString("</" + list + ">\n")
			list = ""
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			closeBlocks()
		case strings.HasPrefix(trimmed, "```"):
			closeBlocks()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			b.WriteString("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		case mdHeadingRE.MatchString(line):
			closeBlocks()
			m := mdHeadingRE.FindStringSubmatch(line)
			// Rule docs sit under the page's h2 and the rule's summary: start at h3.
			level := min(len(m[1])+2, 6)
			fmt.Fprintf(&b, "<h%d>%s</h%d>\n", level, mdInlineHTML(m[2]), level)
		case mdItemRE.MatchString(line):
			m := mdItemRE.FindStringSubmatch(line)
			kind := "ul"
			if m[2] != "-" && m[2] != "*" {
				kind = "ol"
			}
			if len(para) > 0 {
				b.WriteString("<p>" + mdInlineHTML(strings.Join(para, " ")) + "</p>\n")
				para = nil
			}
			flushItem()
			if list != kind {
				if list != "" {
					b.WriteString("</" + list + ">\n")
				}
				b.WriteString("<" + kind + ">\n")
				list = kind
			}
			item = []string{m[3]}
		case item != nil:
			// An indented (or lazy) continuation of the open list item.
			item = append(item, trimmed)
		default:
			para = append(para, trimmed)
		}
	}
	closeBlocks()
	return template.HTML(b.String())
}

var (
	mdHeadingRE = regexp.MustCompile(`^(#{1,4})\s+(.*)$`)
	mdItemRE    = regexp.MustCompile(`^(\s*)([-*]|\d+\.)\s+(.*)$`)
	mdStrongRE  = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdEmRE      = regexp.MustCompile(`(^|[^\w*])\*([^*\s][^*]*)\*`)
	mdLinkRE    = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
)

// messageHTML renders a finding's message: plain text whose commands are in backticks
// (the convention every reporter shares) shown as code, everything escaped.
func messageHTML(s string) template.HTML { return template.HTML(inlineHTML(s, false)) }

// mdInlineHTML renders one paragraph's inline Markdown: code spans verbatim (escaped),
// the rest escaped, then strong, emphasis and links marked up.
func mdInlineHTML(s string) string { return inlineHTML(s, true) }

func inlineHTML(s string, markdown bool) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unbalanced backtick opens no code span
		parts = []string{s}
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + html.EscapeString(p) + "</code>")
			continue
		}
		t := html.EscapeString(p)
		if !markdown {
			b.WriteString(t)
			continue
		}
		t = mdLinkRE.ReplaceAllStringFunc(t, func(m string) string {
			sub := mdLinkRE.FindStringSubmatch(m)
			target := html.UnescapeString(sub[2])
			if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
				return `<a href="` + html.EscapeString(target) + `" rel="noreferrer">` + sub[1] + `</a>`
			}
			return sub[1]
		})
		t = mdStrongRE.ReplaceAllString(t, "<strong>$1</strong>")
		t = mdEmRE.ReplaceAllString(t, "$1<em>$2</em>")
		b.WriteString(t)
	}
	return b.String()
}
