package metrics

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/internal/demo"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

// The Grafana dashboard the Helm chart ships is built on these metrics: its panels must
// query only what the auditor exports, with labels the series carry.
var dashboardPath = filepath.Join("..", "..", "chart", "dashboards", "storage-auditor.json")

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

// exported returns every metric family `auditor serve` exports once a run has produced
// a report with state, cost and objects and a post has failed, with the label names of
// each family.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	var ids []string
	for _, r := range catalog.All() {
		ids = append(ids, r.ID)
	}
	m := New(ids)
	rep := demo.Report(t)
	if rep.Cost == nil || len(rep.Cost.ByNamespace) == 0 || len(rep.Cost.ByStorageClass) == 0 || len(rep.Cost.WasteByBucket) == 0 {
		t.Fatal("the demo report has no cost by namespace, class and waste: the cost families would be missing")
	}
	rep.Changes = &audit.Changes{Since: demo.Now.Add(-24 * time.Hour), New: 2, Resolved: 1}
	m.Observe(rep, Run{Start: demo.Now, Duration: 2 * time.Second, Objects: map[string]int{"PersistentVolume": 10, "Pod": 40}})
	m.NotificationFailed()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		// Non-nil even without labels: presence in the map is what "exported" means.
		out[mf.GetName()] = append([]string{}, slices.Sorted(maps.Keys(labels))...)
	}
	for _, name := range []string{"storage_auditor_findings", "storage_auditor_findings_new", "storage_auditor_monthly_waste"} {
		if _, ok := out[name]; !ok {
			t.Fatalf("%s is not exported after a full run; have %v", name, slices.Sorted(maps.Keys(out)))
		}
	}
	return out
}

// promFunctions are the PromQL functions and aggregations a dashboard may call.
var promFunctions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`sum min max avg count group stddev stdvar topk bottomk quantile count_values
		limitk limit_ratio sort sort_desc sort_by_label sort_by_label_desc time timestamp vector scalar rate irate
		increase delta idelta deriv predict_linear resets changes abs ceil floor round clamp clamp_min clamp_max exp
		ln log2 log10 sqrt sgn absent absent_over_time present_over_time avg_over_time min_over_time max_over_time
		sum_over_time count_over_time last_over_time quantile_over_time stddev_over_time stdvar_over_time
		label_replace label_join histogram_quantile day_of_month day_of_week day_of_year days_in_month hour minute
		month year`) {
		promFunctions[f] = true
	}
}

// aggregations drop every label not named in a by clause.
var aggregations = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true,
	"stddev": true, "stdvar": true, "quantile": true}

// promKeywords are PromQL words that are neither functions nor metrics.
var promKeywords = map[string]bool{"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true, "inf": true, "nan": true}

// grouping keywords take a parenthesised list of label names.
var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// selector is one metric reference in a PromQL expression: the metric and the label
// names its matchers use.
type selector struct {
	metric string
	labels []string
}

// parsedExpr is what an expression refers to.
type parsedExpr struct {
	selectors []selector
	grouping  []string // label names of by/without/on/ignoring/group_* clauses
	by        []string // label names of by clauses: what an aggregation keeps
	hasBy     bool     // a by or without clause shapes the result's labels
	aggregate bool     // an aggregation (sum, max...) drops labels
}

var identRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

// parsePromQL finds the metrics, matcher labels and grouping labels of expr. It is a
// tokenizer, not a full parser: enough to check names, strict about what it cannot place
// (an unknown function, an unbalanced bracket), so a typo fails rather than slips by.
func parsePromQL(expr string) (parsedExpr, error) {
	var out parsedExpr
	s := expr
	skipSpace := func() { s = strings.TrimLeft(s, " \t\r\n") }
	closing := func(open, close byte) (string, error) {
		depth := 0
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '"', '\'', '`':
				j := strings.IndexByte(s[i+1:], s[i])
				if j < 0 {
					return "", fmt.Errorf("unterminated string in %q", expr)
				}
				i += j + 1
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					inner := s[1:i]
					s = s[i+1:]
					return inner, nil
				}
			}
		}
		return "", fmt.Errorf("unbalanced %c in %q", open, expr)
	}
	for {
		skipSpace()
		if s == "" {
			return out, nil
		}
		switch c := s[0]; {
		case c == '$': // a dashboard variable: $job, ${currency}, $__rate_interval
			s = s[1:]
			if strings.HasPrefix(s, "{") {
				if _, err := closing('{', '}'); err != nil {
					return out, err
				}
			} else {
				s = s[len(identRE.FindString(s)):]
			}
		case c == '[': // a range or subquery
			if _, err := closing('[', ']'); err != nil {
				return out, err
			}
		case c == '{':
			return out, fmt.Errorf("a selector without a metric name in %q: name the metric", expr)
		case c == '"' || c == '\'' || c == '`':
			j := strings.IndexByte(s[1:], c)
			if j < 0 {
				return out, fmt.Errorf("unterminated string in %q", expr)
			}
			s = s[j+2:]
		case c >= '0' && c <= '9' || c == '.':
			s = strings.TrimLeft(s, "0123456789.eE+smhdwy")
		case identRE.MatchString(s):
			word := identRE.FindString(s)
			s = s[len(word):]
			skipSpace()
			switch {
			case grouping[word]:
				if !strings.HasPrefix(s, "(") {
					if word == "group_left" || word == "group_right" {
						continue
					}
					return out, fmt.Errorf("%s without a label list in %q", word, expr)
				}
				inner, err := closing('(', ')')
				if err != nil {
					return out, err
				}
				for l := range strings.SplitSeq(inner, ",") {
					if l = strings.TrimSpace(l); l != "" {
						out.grouping = append(out.grouping, l)
						if word == "by" {
							out.by = append(out.by, l)
						}
					}
				}
				if word == "by" || word == "without" {
					out.hasBy = true
				}
			case promFunctions[word]:
				out.aggregate = out.aggregate || aggregations[word]
			case strings.HasPrefix(s, "("):
				return out, fmt.Errorf("unknown PromQL function %s in %q", word, expr)
			case promKeywords[strings.ToLower(word)]:
			default:
				sel := selector{metric: word}
				if strings.HasPrefix(s, "{") {
					inner, err := closing('{', '}')
					if err != nil {
						return out, err
					}
					for m := range strings.SplitSeq(inner, ",") {
						if m = strings.TrimSpace(m); m == "" {
							continue
						}
						name := identRE.FindString(m)
						if name == "" {
							return out, fmt.Errorf("matcher %q of %s in %q names no label", m, word, expr)
						}
						sel.labels = append(sel.labels, name)
					}
				}
				out.selectors = append(out.selectors, sel)
			}
		default:
			s = s[1:] // operators, parentheses, commas
		}
	}
}

// checkExpr returns what is wrong with expr against the exported families: an unknown
// metric, a matcher or grouping label the series do not carry, a legend label that does
// not exist.
func checkExpr(expr, legend string, families map[string][]string) []error {
	p, err := parsePromQL(expr)
	if err != nil {
		return []error{err}
	}
	var errs []error
	if len(p.selectors) == 0 {
		errs = append(errs, fmt.Errorf("%q queries no auditor metric", expr))
	}
	available := slices.Clone(targetLabels)
	for _, sel := range p.selectors {
		labels, ok := families[sel.metric]
		if !ok {
			errs = append(errs, fmt.Errorf("%q uses metric %s, which the auditor does not export", expr, sel.metric))
			continue
		}
		if !strings.HasPrefix(sel.metric, namespace+"_") {
			errs = append(errs, fmt.Errorf("%q uses %s, which is not one of the auditor's own metrics", expr, sel.metric))
		}
		available = append(available, labels...)
		for _, l := range sel.labels {
			if !slices.Contains(labels, l) && !slices.Contains(targetLabels, l) {
				errs = append(errs, fmt.Errorf("%q matches label %s, which %s does not have (it has %v)", expr, l, sel.metric, labels))
			}
		}
	}
	for _, l := range p.grouping {
		if !slices.Contains(available, l) {
			errs = append(errs, fmt.Errorf("%q groups by %s, which none of its metrics has", expr, l))
		}
	}
	// The result's labels: a by clause's, none after an aggregation without one, else
	// the series'.
	shown := available
	switch {
	case p.hasBy && len(p.by) > 0:
		shown = p.by
	case p.aggregate && !p.hasBy:
		shown = nil
	}
	for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		if !slices.Contains(shown, m[1]) {
			errs = append(errs, fmt.Errorf("legend %q of %q shows label %s, which its result does not have (it has %v)", legend, expr, m[1], shown))
		}
	}
	return errs
}

type dashboardDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardPanel struct {
	ID         int                  `json:"id"`
	Type       string               `json:"type"`
	Title      string               `json:"title"`
	Datasource *dashboardDatasource `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID        string               `json:"refId"`
		Expr         string               `json:"expr"`
		LegendFormat string               `json:"legendFormat"`
		Datasource   *dashboardDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboard struct {
	Title         string           `json:"title"`
	UID           string           `json:"uid"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string               `json:"name"`
			Type       string               `json:"type"`
			Query      json.RawMessage      `json:"query"`
			Datasource *dashboardDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) (dashboard, string) {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d, string(b)
}

// TestDashboard checks the chart's Grafana dashboard structurally and every PromQL
// expression in it against the metrics the auditor exports.
func TestDashboard(t *testing.T) {
	families := exported(t)
	d, raw := loadDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 39 {
		t.Errorf("title %q, uid %q, schemaVersion %d (want ≥ 39)", d.Title, d.UID, d.SchemaVersion)
	}

	// Variables: the data source is chosen by the importer (type prometheus); every
	// $variable the dashboard uses is defined.
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name != "datasource" || string(v.Query) != `"prometheus"` {
				t.Errorf("data source variable %s queries %s, want datasource of type prometheus", v.Name, v.Query)
			}
		case "query":
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
				continue
			}
			m := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`).FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: query %q, want label_values(metric, label)", v.Name, q.Query)
				continue
			}
			if labels, ok := families[m[1]]; !ok || !slices.Contains(append(slices.Clone(labels), targetLabels...), m[2]) {
				t.Errorf("variable %s: %s has no label %s (exported: %v)", v.Name, m[1], m[2], ok)
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s: datasource %+v, want ${datasource}", v.Name, v.Datasource)
			}
		default:
			t.Errorf("variable %s: unexpected type %s", v.Name, v.Type)
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be bound to one Grafana's data source")
	}
	for _, m := range regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`).FindAllStringSubmatch(raw, -1) {
		if !vars[m[1]] && !strings.HasPrefix(m[1], "__") {
			t.Errorf("the dashboard uses $%s, which no variable defines", m[1])
		}
	}

	// Panels: unique ids, a title, a place on the 24-column grid, the variable data
	// source, and queries that exist.
	ids := map[int]string{}
	queried := map[string]bool{}
	var visit func(p dashboardPanel)
	visit = func(p dashboardPanel) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: id must be positive", where)
		} else if prev, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", where, prev)
		}
		ids[p.ID] = p.Title
		switch {
		case strings.TrimSpace(p.Title) == "":
			t.Errorf("%s: no title", where)
		case p.Type == "":
			t.Errorf("%s: no type", where)
		case p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24:
			t.Errorf("%s: gridPos %+v is not on the 24-column grid", where, p.GridPos)
		}
		for _, c := range p.Panels {
			visit(c)
		}
		if p.Type == "row" {
			if len(p.Targets) > 0 {
				t.Errorf("%s: a row with queries", where)
			}
			return
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: target %s datasource %+v", where, tg.RefID, tg.Datasource)
			}
			for _, err := range checkExpr(tg.Expr, tg.LegendFormat, families) {
				t.Errorf("%s: %v", where, err)
			}
			if p, err := parsePromQL(tg.Expr); err == nil {
				for _, s := range p.selectors {
					queried[s.metric] = true
				}
			}
		}
	}
	for _, p := range d.Panels {
		visit(p)
	}

	// What the dashboard is for (issue 12): findings by severity over time, top rules,
	// cost by namespace and class, waste, last successful run, run duration.
	for _, m := range []string{"findings", "monthly_cost", "monthly_cost_by_class", "monthly_waste", "last_success_timestamp_seconds", "last_run_duration_seconds"} {
		if !queried[namespace+"_"+m] {
			t.Errorf("no panel queries %s_%s", namespace, m)
		}
	}
}

// TestDashboardCheck shows the check refuses what a dashboard must not contain, so
// TestDashboard passing means something.
func TestDashboardCheck(t *testing.T) {
	families := exported(t)
	for _, c := range []struct{ expr, legend, want string }{
		{`sum(storage_auditor_findings{job=~"$job"})`, "", ""},
		{`sum by (severity) (storage_auditor_findings{job=~"$job", severity="critical"})`, "{{severity}}", ""},
		{`time() - max(storage_auditor_last_success_timestamp_seconds)`, "", ""},
		{`sum by (result) (increase(storage_auditor_runs_total[$__rate_interval]))`, "{{result}}", ""},
		{`sum(storage_auditor_findings_total)`, "", "storage_auditor_findings_total, which the auditor does not export"},
		{`storage_auditor_monthly_cost{storage_class="gp3"}`, "", "matches label storage_class, which storage_auditor_monthly_cost does not have"},
		{`sum by (namespace) (storage_auditor_monthly_waste)`, "", "groups by namespace"},
		{`sum(storage_auditor_findings)`, "{{rule}}", "legend \"{{rule}}\""},
		{`sumby (rule) (storage_auditor_findings)`, "", "unknown PromQL function sumby"},
		{`vector(1)`, "", "queries no auditor metric"},
		{`{__name__="storage_auditor_findings"}`, "", "without a metric name"},
		{`sum(storage_auditor_findings{rule="a"`, "", "unbalanced {"},
		{`go_goroutines`, "", "not one of the auditor's own metrics"},
	} {
		errs := checkExpr(c.expr, c.legend, families)
		msg := fmt.Sprint(errs)
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%q: %v", c.expr, errs)
		case c.want != "" && !strings.Contains(msg, c.want):
			t.Errorf("%q: errors %v, want one containing %q", c.expr, errs, c.want)
		}
	}
	p, err := parsePromQL(`topk(10, sum by (rule) (storage_auditor_findings{job=~"$job"}) > 0) / on (job) group_left storage_auditor_runs_total offset 5m`)
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	for _, s := range p.selectors {
		metrics = append(metrics, s.metric)
	}
	sort.Strings(metrics)
	if !slices.Equal(metrics, []string{"storage_auditor_findings", "storage_auditor_runs_total"}) || !slices.Equal(p.grouping, []string{"rule", "job"}) {
		t.Errorf("parsed %v, grouping %v", metrics, p.grouping)
	}
}
