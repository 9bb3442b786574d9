// Package catalog holds the auditor's rules, one file per rule, and the one explicit
// registry list (no init() magic: adding a rule is a new file plus a line in All).
package catalog

import "github.com/storage-auditor/auditor/pkg/rules"

// All returns every rule in the order `auditor rules list` shows them.
func All() []*rules.Rule {
	all := []*rules.Rule{
		pvReleasedRetained,
		pvReleasedStuck,
		pvAvailableUnreserved,
		pvFailed,
		pvcLost,
	}
	// TEMPORARY while two engineers add rules in parallel: merged into the list above
	// before this lands.
	all = append(all, expansionRules()...)
	all = append(all, workloadRules()...)
	return all
}
