package catalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var quotaStorageExhausted = &rules.Rule{
	ID:       "quota-storage-exhausted",
	Title:    "ResourceQuota for storage nearly or fully used",
	Action:   "Raise the quota's hard limit or delete claims nobody uses",
	Severity: audit.Warning,
	Category: rules.Capacity,
	Reads:    []snapshot.Kind{snapshot.ResourceQuotas},
	Params: []rules.Param{
		{Name: "warnPercent", Type: rules.Percent, Default: "90", Doc: "usage of a storage quota reported as a warning"},
		{Name: "criticalPercent", Type: rules.Percent, Default: "100", Doc: "usage of a storage quota reported as critical"},
	},
	Doc: `Compares ` + "`status.used`" + ` with ` + "`status.hard`" + ` (falling back to ` + "`spec.hard`" + ` before the quota
controller has filled the status) of every ResourceQuota, for the storage resources:
` + "`requests.storage`" + `, ` + "`persistentvolumeclaims`" + ` (and ` + "`count/persistentvolumeclaims`" + `),
` + "`<class>.storageclass.storage.k8s.io/requests.storage`" + ` and
` + "`<class>.storageclass.storage.k8s.io/persistentvolumeclaims`" + `. Quantities are parsed and compared
as quantities. One finding per quota and resource: a **warning** from 90 % and **critical** from
100 % (params ` + "`warnPercent`" + `, ` + "`criticalPercent`" + `).

A hard limit of ` + "`0`" + ` is a policy ("this namespace may not use this class"), not exhaustion: it is
reported (critical) only when something is already used against it; ` + "`hard: 0`" + ` with nothing used is
healthy. Resources without a ` + "`status.used`" + ` entry (not yet computed) are skipped.

**Why it matters.** Admission rejects any new claim — and any **expansion** of an existing claim —
that would exceed the quota (` + "`exceeded quota: <quota>, requested: requests.storage=…`" + `): a
StatefulSet scale-up leaves pods Pending because their claims cannot be created, and a full volume
cannot be grown.

**How to fix by hand.**
- See the numbers: ` + "`kubectl describe resourcequota <quota> -n <ns>`" + `.
- Raise the limit: ` + "`kubectl patch resourcequota <quota> -n <ns> --type=merge -p '{\"spec\":{\"hard\":{\"requests.storage\":\"<size>\"}}}'`" + `.
- Or free space: delete claims nobody uses (see ` + "`pvc-unused`" + `, ` + "`sts-retained-ordinal`" + `).`,
	Check: func(p *rules.Pass) error {
		warn, crit := p.Percent("warnPercent"), p.Percent("criticalPercent")
		for _, q := range p.Snapshot.ResourceQuotas {
			for _, use := range snapshot.StorageQuotaUses(q) {
				if !use.HasUsed {
					continue
				}
				name, h, u := use.Resource, use.Hard, use.Used
				var pct float64
				pctText := ""
				switch {
				case h.Sign() <= 0 && u.Sign() <= 0:
					continue // hard 0 with nothing used: a policy forbidding it, not exhaustion
				case h.Sign() <= 0:
					pct = crit
					pctText = "over a hard limit of 0"
				default:
					pct = u.AsApproximateFloat64() * 100 / h.AsApproximateFloat64()
					if u.Cmp(h) >= 0 && pct < 100 {
						pct = 100 // float rounding must not hide a full quota
					}
					pctText = strconv.Itoa(int(pct)) + "%"
				}
				sev, ok := percentSeverity(pct, warn, crit)
				if !ok {
					continue
				}
				d := map[string]string{
					"resource": name,
					"used":     u.String(),
					"hard":     h.String(),
					"percent":  pctText,
				}
				scope := "namespace " + q.Namespace
				if use.Class != "" {
					d["storageClass"] = use.Class
					scope = fmt.Sprintf("class %q in namespace %s", use.Class, q.Namespace)
				}
				left := h.DeepCopy()
				left.Sub(u)
				d["remaining"] = left.String()
				effect := fmt.Sprintf("new claims and expansions needing more than the remaining %s are rejected", left.String())
				if strings.HasSuffix(name, "persistentvolumeclaims") {
					effect = fmt.Sprintf("only %s more claim(s) can be created (a StatefulSet scale-up beyond that leaves pods Pending)", left.String())
				}
				if sev == audit.Critical {
					effect = "new claims and expansions are rejected now"
					if strings.HasSuffix(name, "persistentvolumeclaims") {
						effect = "new claims are rejected now (a StatefulSet scale-up leaves pods Pending)"
					}
					d["remaining"] = "0"
				}
				state := fmt.Sprintf("%s for %s is at %s (%s used of %s)", name, scope, pctText, u.String(), h.String())
				if h.Sign() <= 0 {
					state = fmt.Sprintf("%s for %s has a hard limit of 0 (not allowed) but %s is used", name, scope, u.String())
				}
				p.Report(audit.Finding{
					Severity: sev,
					Object:   rules.Ref(snapshot.ResourceQuotas, q),
					Fact:     string(name), // one finding per resource of a quota
					Message: fmt.Sprintf("ResourceQuota %s/%s: %s: %s; raise spec.hard.%s or delete claims nobody uses",
						q.Namespace, q.Name, state, effect, name),
					Details: d,
				})
			}
		}
		return nil
	},
}
