package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// ReportListKind is the kind of the document -o json|yaml prints when many clusters are
// audited at once (auditor run --contexts, --all-contexts).
const ReportListKind = "AuditReportList"

// ReportList is that document, shaped like a kubectl List: one AuditReport per cluster,
// in the order the clusters were given. A cluster that could not be audited is an item
// with its error set (audit.Report.Error) and no findings.
type ReportList struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Items      []*audit.Report `json:"items"`
}

// NewReportList wraps reps; the items slice is non-nil so it encodes as [].
func NewReportList(reps []*audit.Report) *ReportList {
	return &ReportList{APIVersion: audit.APIVersion, Kind: ReportListKind, Items: append([]*audit.Report{}, reps...)}
}

// MultiFormats are the formats that can show many clusters in one output.
var MultiFormats = []Format{Table, JSON, YAML, Markdown}

// SupportsMulti reports whether WriteMulti can render format f.
func SupportsMulti(f Format) bool {
	for _, m := range MultiFormats {
		if m == f {
			return true
		}
	}
	return false
}

// WriteMulti renders the reports of a many-cluster run in format f: one table with a
// CLUSTER column, a ReportList document, or one Markdown section per cluster.
func WriteMulti(w io.Writer, reps []*audit.Report, f Format, o Options) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(NewReportList(reps))
	case YAML:
		return WriteYAMLDocument(w, NewReportList(reps))
	case Table:
		return WriteMultiTable(w, reps, o)
	case Markdown:
		return WriteMultiMarkdown(w, reps)
	}
	return fmt.Errorf("output format %q shows one cluster at a time (many clusters: %s)", f, formatNames(MultiFormats))
}

func formatNames(fs []Format) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// multiFinding is a finding with the cluster it was found in.
type multiFinding struct {
	cluster string
	f       audit.Finding
}

// allFindings merges the clusters' findings, highest severity first; within a severity
// the clusters keep their order and each cluster its report's order (rule, then object).
func allFindings(reps []*audit.Report) []multiFinding {
	var out []multiFinding
	for _, rep := range reps {
		for _, f := range rep.Findings {
			out = append(out, multiFinding{rep.Cluster, f})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].f.Severity > out[j].f.Severity })
	return out
}

// WriteMultiTable renders many clusters' findings as one table with columns CLUSTER,
// SEVERITY, RULE, OBJECT, MESSAGE (highest severity first, across clusters), then one
// summary line per cluster (with its cost and what it could not check, or why it could
// not be audited) and a total.
func WriteMultiTable(w io.Writer, reps []*audit.Report, o Options) error {
	width := o.Width
	if width <= 0 {
		width = 120
	}
	if fs := allFindings(reps); len(fs) > 0 {
		rows := make([][]string, 0, len(fs))
		var last audit.Severity
		for _, m := range fs {
			sev := ""
			if m.f.Severity != last {
				sev = paint(o.Color, severityColor(m.f.Severity), strings.ToUpper(m.f.Severity.String()))
				last = m.f.Severity
			}
			rows = append(rows, []string{m.cluster, sev, m.f.RuleID, shortRef(m.f.Object), m.f.Message})
		}
		if err := Columns(w, width, 34, []string{"CLUSTER", "SEVERITY", "RULE", "OBJECT", "MESSAGE"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	var total audit.Summary
	failed := 0
	for _, rep := range reps {
		if rep.Error != "" {
			failed++
			fmt.Fprintln(w, rep.Cluster+": "+paint(o.Color, ansiRed, "could not audit: "+rep.Error))
			continue
		}
		s := rep.Summary
		total.Critical += s.Critical
		total.Warning += s.Warning
		total.Info += s.Info
		total.Suppressed += s.Suppressed
		fmt.Fprintf(w, "%s: %s (%s)\n", rep.Cluster, summaryLine(s, o), tableTime(rep))
		if rep.Cost != nil {
			monthly, waste := costSummary(rep.Cost)
			fmt.Fprintln(w, "  Storage cost: "+monthly+".")
			if waste != "" {
				fmt.Fprintln(w, "  "+paint(o.Color, ansiYellow, "Waste: "+waste+"."))
			}
		}
		writeUnchecked(w, rep, "  ", o)
	}
	line := fmt.Sprintf("%d %s", len(reps), plural(len(reps), "cluster", "clusters"))
	if failed > 0 {
		line += fmt.Sprintf(" (%d could not be audited)", failed)
	}
	fmt.Fprintf(w, "%s: %s\n", line, summaryLine(total, o))
	return nil
}

// WriteMultiMarkdown renders many clusters as one Markdown document: an overview table
// (a line per cluster), then each cluster's report as its own section, exactly as
// WriteMarkdown writes it with every heading one level down.
func WriteMultiMarkdown(w io.Writer, reps []*audit.Report) error {
	bw := bufio.NewWriter(w)
	md := &mdWriter{w: bw}
	md.line("# Storage audit of %d %s", len(reps), plural(len(reps), "cluster", "clusters"))
	md.line("")
	rows := make([][]string, 0, len(reps))
	for _, rep := range reps {
		if rep.Error != "" {
			rows = append(rows, []string{mdText(rep.Cluster), "", "", "", mdCell("could not audit: " + rep.Error)})
			continue
		}
		s := rep.Summary
		var notes []string
		if n := len(rep.Unreadable); n > 0 {
			notes = append(notes, fmt.Sprintf("%d %s unreadable", n, plural(n, "kind", "kinds")))
		}
		if n := len(rep.Skipped); n > 0 {
			notes = append(notes, fmt.Sprintf("%d %s skipped", n, plural(n, "rule", "rules")))
		}
		if c := rep.Changes; c != nil && !c.Since.IsZero() {
			notes = append(notes, fmt.Sprintf("%d new, %d resolved", c.New, c.Resolved))
		}
		rows = append(rows, []string{mdText(rep.Cluster), strconv.Itoa(s.Critical), strconv.Itoa(s.Warning), strconv.Itoa(s.Info), strings.Join(notes, "; ")})
	}
	md.table([]string{"Cluster", "Critical", "Warning", "Info", "Notes"}, rows)
	for _, rep := range reps {
		if rep.Error != "" {
			md.line("## Storage audit of %s, %s", mdText(rep.Cluster), mdTime(rep.GeneratedAt))
			md.line("")
			md.line("**Could not audit**: %s.", mdInline(strings.TrimSuffix(rep.Error, ".")))
			md.line("")
			continue
		}
		var one bytes.Buffer
		if err := WriteMarkdown(&one, rep); err != nil {
			return err
		}
		demoteHeadings(bw, one.String())
	}
	return bw.Flush()
}

// WriteMultiCostTable renders many clusters' cost sections for a terminal, one after the
// other, each under a line naming its cluster; a cluster without a cost section says
// why (its report's error).
func WriteMultiCostTable(w io.Writer, reps []*audit.Report, o Options) error {
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if rep.Cost == nil {
			fmt.Fprintln(w, "Cluster "+rep.Cluster+": "+paint(o.Color, ansiRed, "no cost: "+rep.Error))
			continue
		}
		fmt.Fprintln(w, "Cluster "+rep.Cluster+":")
		if err := WriteCostTable(w, rep.Cost, o); err != nil {
			return err
		}
	}
	return nil
}

// WriteMultiCostMarkdown renders many clusters' cost sections as one Markdown document:
// a section per cluster holding its cost section (headings one level down) or why it has
// none.
func WriteMultiCostMarkdown(w io.Writer, reps []*audit.Report) error {
	bw := bufio.NewWriter(w)
	md := &mdWriter{w: bw}
	md.line("# Storage cost of %d %s", len(reps), plural(len(reps), "cluster", "clusters"))
	md.line("")
	for _, rep := range reps {
		md.line("## %s", mdText(rep.Cluster))
		md.line("")
		if rep.Cost == nil {
			md.line("**No cost**: %s.", mdInline(strings.TrimSuffix(rep.Error, ".")))
			md.line("")
			continue
		}
		var one bytes.Buffer
		if err := WriteCostMarkdown(&one, rep.Cost); err != nil {
			return err
		}
		demoteHeadings(bw, one.String())
	}
	return bw.Flush()
}

// demoteHeadings writes md, a renderer's Markdown, with every heading one level down.
// The renderers start every heading line with '#' and nothing else does: text is escaped
// (mdText turns '#' into \#) and other lines start with '|', '-', '*' or a word. So
// adding a '#' to those lines demotes exactly the headings.
func demoteHeadings(w *bufio.Writer, md string) {
	for _, l := range strings.SplitAfter(md, "\n") {
		if strings.HasPrefix(l, "#") {
			w.WriteByte('#')
		}
		w.WriteString(l)
	}
}
