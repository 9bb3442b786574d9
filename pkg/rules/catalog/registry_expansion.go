package catalog

import "github.com/storage-auditor/auditor/pkg/rules"

// expansionRules are the claim, StorageClass and expansion rules, in `rules list` order.
func expansionRules() []*rules.Rule {
	return []*rules.Rule{
		pvcPending,
		scMissing,
		scDefaultConflict,
		scExpansionUnsupported,
		pvcExpansionIgnored,
		pvcResizeStuck,
		pvCapacityMismatch,
	}
}
