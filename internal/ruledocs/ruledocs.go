// Package ruledocs turns the rules' own documentation into the form the HTML report
// shows. It lives apart from both: pkg/report must not import the rules, and the rules
// have no business knowing about reports.
package ruledocs

import (
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/rules"
)

// For documents rs for report.Options.Rules, by rule ID.
func For(rs []*rules.Rule) map[string]report.RuleDoc {
	docs := make(map[string]report.RuleDoc, len(rs))
	for _, r := range rs {
		docs[r.ID] = report.RuleDoc{Title: r.Title, Action: r.Action, Severity: r.Severity, Category: string(r.Category), Doc: r.Doc}
	}
	return docs
}
