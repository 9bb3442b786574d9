// Package catalog holds the auditor's rules, one file per rule, and the one explicit
// registry list (no init() magic: adding a rule is a new file plus a line in All).
package catalog

import "github.com/storage-auditor/auditor/pkg/rules"

// All returns every rule in the order `auditor rules list` shows them: volume lifecycle,
// claims and classes, expansion, StatefulSets, nodes and pods, quotas, cost.
func All() []*rules.Rule {
	return []*rules.Rule{
		pvReleasedRetained,
		pvReleasedStuck,
		pvAvailableUnreserved,
		pvNodeAffinityUnsatisfiable,
		pvFailed,
		pvcLost,
		pvcPending,
		scMissing,
		scDefaultConflict,
		scExpansionUnsupported,
		pvcExpansionIgnored,
		pvcResizeStuck,
		pvCapacityMismatch,
		stsTemplateDrift,
		stsRetainedOrdinal,
		pvcUnused,
		nodeAttachLimit,
		csinodeDriverMissing,
		podNodeMissing,
		podTerminatingStuck,
		vaOrphaned,
		quotaStorageExhausted,
		costBudget,
	}
}
