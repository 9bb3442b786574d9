package catalog

import "github.com/storage-auditor/auditor/pkg/rules"

func workloadRules() []*rules.Rule {
	return []*rules.Rule{
		stsTemplateDrift,
		stsRetainedOrdinal,
		pvcUnused,
		nodeAttachLimit,
		csinodeDriverMissing,
		podNodeMissing,
		podTerminatingStuck,
		vaOrphaned,
		quotaStorageExhausted,
	}
}
