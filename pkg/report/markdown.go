package report

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// WriteMarkdown renders rep as GitHub-flavoured Markdown, to paste into a ticket or a pull
// request: a title naming the cluster and the time, the counts (and what changed since the
// previous run when state was kept), the findings grouped by severity then rule as tables,
// what was resolved, the storage cost, and what could not be checked.
func WriteMarkdown(w io.Writer, rep *audit.Report) error {
	bw := bufio.NewWriter(w)
	md := &mdWriter{w: bw}
	md.title(rep)
	md.summary(rep)
	md.findings(rep)
	md.resolved(rep)
	if rep.Cost != nil {
		md.cost(rep.Cost)
	}
	md.unchecked(rep)
	return bw.Flush()
}

type mdWriter struct {
	w *bufio.Writer
}

func (m *mdWriter) line(format string, args ...any) {
	fmt.Fprintf(m.w, format, args...)
	m.w.WriteByte('\n')
}

func (m *mdWriter) title(rep *audit.Report) {
	m.line("# Storage audit of %s, %s", mdText(rep.Cluster), mdTime(rep.GeneratedAt))
	m.line("")
}

func (m *mdWriter) summary(rep *audit.Report) {
	s := rep.Summary
	total := s.Critical + s.Warning + s.Info
	noun := "findings"
	if total == 1 {
		noun = "finding"
	}
	line := fmt.Sprintf("**%d %s**: %d critical, %d warning, %d info", total, noun, s.Critical, s.Warning, s.Info)
	if s.Suppressed > 0 {
		line += fmt.Sprintf("; %d suppressed by annotation", s.Suppressed)
	}
	m.line("%s.", line)
	if c := rep.Changes; c != nil {
		m.line("")
		if c.Since.IsZero() {
			m.line("First run with saved state: **%d new**, nothing to compare with yet.", c.New)
		} else {
			m.line("Since the previous run (%s): **%d new**, **%d resolved**.", mdTime(c.Since), c.New, c.Resolved)
		}
	}
	m.line("")
	if total == 0 && s.Suppressed == 0 {
		m.line("No storage problems found.")
		m.line("")
	}
}

// findings writes one section per severity (highest first) and one table per rule in it.
// The engine already sorts findings that way; sorting a copy again keeps hand-built
// reports (tests, other producers) grouped too, and stable keeps their object order.
func (m *mdWriter) findings(rep *audit.Report) {
	fs := append([]audit.Finding(nil), rep.Findings...)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		return fs[i].RuleID < fs[j].RuleID
	})
	withFirstSeen := false
	for _, f := range fs {
		withFirstSeen = withFirstSeen || f.FirstSeen != nil
	}
	for i := 0; i < len(fs); {
		sev := fs[i].Severity
		end := i
		for end < len(fs) && fs[end].Severity == sev {
			end++
		}
		m.line("## %s (%d)", severityTitle(sev), end-i)
		m.line("")
		for i < end {
			rule := fs[i].RuleID
			last := i
			for last < end && fs[last].RuleID == rule {
				last++
			}
			m.line("### %s (%d)", mdText(rule), last-i)
			m.line("")
			header := []string{"Object", "Message"}
			if withFirstSeen {
				header = append(header, "First seen")
			}
			rows := make([][]string, 0, last-i)
			for _, f := range fs[i:last] {
				obj := mdCode(shortRef(f.Object))
				if f.New {
					obj = "**NEW** " + obj
				}
				row := []string{obj, mdCell(f.Message)}
				if withFirstSeen {
					row = append(row, firstSeen(f))
				}
				rows = append(rows, row)
			}
			m.table(header, rows)
			i = last
		}
	}
}

func (m *mdWriter) resolved(rep *audit.Report) {
	if len(rep.Resolved) == 0 {
		return
	}
	m.line("## Resolved since the previous run (%d)", len(rep.Resolved))
	m.line("")
	withFirstSeen := false
	for _, f := range rep.Resolved {
		withFirstSeen = withFirstSeen || f.FirstSeen != nil
	}
	header := []string{"Severity", "Rule", "Object"}
	if withFirstSeen {
		header = append(header, "First seen")
	}
	rows := make([][]string, 0, len(rep.Resolved))
	for _, f := range rep.Resolved {
		row := []string{f.Severity.String(), mdCell(f.RuleID), mdCode(shortRef(f.Object))}
		if withFirstSeen {
			row = append(row, firstSeen(f))
		}
		rows = append(rows, row)
	}
	m.table(header, rows)
}

func (m *mdWriter) unchecked(rep *audit.Report) {
	if len(rep.Unreadable) > 0 {
		m.line("## Could not read")
		m.line("")
		for _, u := range rep.Unreadable {
			m.line("- **%s**: %s", mdText(u.Kind), mdInline(u.Reason))
		}
		m.line("")
	}
	if len(rep.Skipped) > 0 {
		m.line("## Skipped rules")
		m.line("")
		for _, s := range rep.Skipped {
			m.line("- %s: %s", mdCode(s.Rule), mdInline(s.Reason))
		}
		m.line("")
	}
}

// table writes a GitHub table; cells must already be escaped with mdCell or mdCode.
func (m *mdWriter) table(header []string, rows [][]string) {
	m.line("| %s |", strings.Join(header, " | "))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	m.line("| %s |", strings.Join(seps, " | "))
	for _, r := range rows {
		m.line("| %s |", strings.Join(r, " | "))
	}
	m.line("")
}

func severityTitle(s audit.Severity) string {
	n := s.String()
	return strings.ToUpper(n[:1]) + n[1:]
}

func firstSeen(f audit.Finding) string {
	if f.FirstSeen == nil {
		return ""
	}
	return mdTime(*f.FirstSeen)
}

func mdTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// mdCell makes s safe inside a table cell while keeping the Markdown messages carry
// (commands in backticks): a pipe would end the cell and a newline the row, so pipes are
// escaped (GitHub honours \| inside code spans in tables too) and newlines become <br>
// (a space inside a code span, where <br> would show literally). A '<' outside code is
// written as &lt; so text such as <none> is not swallowed as an HTML tag; inside code it
// is shown as written.
func mdCell(s string) string { return mdEscape(s, true) }

// mdInline is mdCell for text outside tables (list items): pipes are plain text there,
// and line breaks become spaces so an item stays one line.
func mdInline(s string) string { return mdEscape(s, false) }

func mdEscape(s string, inTable bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n"))
	// Unbalanced backticks open no code span: treat the whole text as plain then.
	codeSpans := strings.Count(s, "`")%2 == 0
	var b strings.Builder
	inCode := false
	for _, r := range s {
		switch {
		case r == '`' && codeSpans:
			inCode = !inCode
			b.WriteRune(r)
		case r == '|' && inTable:
			b.WriteString(`\|`)
		case r == '\n' && (inCode || !inTable):
			b.WriteByte(' ')
		case r == '\n':
			b.WriteString("<br>")
		case r == '<' && !inCode:
			b.WriteString("&lt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdText escapes plain text (a cluster name, a rule ID) so it renders as written.
func mdText(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return mdEscaper.Replace(s)
}

var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `&lt;`, `|`, `\|`, `#`, `\#`,
)

// mdCode renders s as a code span; a name holding a backtick gets a longer fence.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}
