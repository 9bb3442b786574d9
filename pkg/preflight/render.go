package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

// WriteJSON writes the result document: {"verdict", "checks", "costDelta"}.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable writes the result for people: what was checked and the verdict, the checks
// (most severe first) in columns SEVERITY, CHECK, OBJECT, MESSAGE sized to o.Width, and the
// monthly cost delta.
func WriteTable(w io.Writer, r *Result, o report.Options) error {
	crit, warn, info := r.Counts()
	if _, err := fmt.Fprintf(w, "Pre-flight: %s\nVerdict: %s (%d critical, %d warning, %d info)\n\n",
		r.Subject, strings.ToUpper(string(r.Verdict)), crit, warn, info); err != nil {
		return err
	}
	if len(r.Checks) > 0 {
		rows := make([][]string, 0, len(r.Checks))
		var last audit.Severity
		for _, c := range r.Checks {
			sev := ""
			if c.Severity != last {
				sev, last = strings.ToUpper(c.Severity.String()), c.Severity
			}
			rows = append(rows, []string{sev, c.Check, report.ShortRef(c.Object), c.Message})
		}
		if err := report.Columns(w, o.Width, 34, []string{"SEVERITY", "CHECK", "OBJECT", "MESSAGE"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "Monthly cost delta: %s\n", costDeltaText(r.CostDelta))
	return err
}

// costDeltaText renders the cost delta with its sign ("+2.00 EUR", "none").
func costDeltaText(m audit.Money) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range m.Currencies() {
		s := audit.FormatMoney(m[c], c)
		if m[c] > 0 {
			s = "+" + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
