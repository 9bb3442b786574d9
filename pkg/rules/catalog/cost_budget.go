package catalog

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var costBudget = &rules.Rule{
	ID:       "cost-budget",
	Title:    "Monthly storage cost above its budget",
	Action:   "Delete unused volumes (see the waste findings) or raise the budget in the config",
	Severity: audit.Warning,
	Category: rules.Cost,
	// Without the classes, prices are unknown (a budget could read as met); without the
	// claims, pending volumes and namespaces of unbound claims are missing.
	Reads: []snapshot.Kind{snapshot.PersistentVolumes, snapshot.PersistentVolumeClaims, snapshot.StorageClasses},
	Doc: `A namespace's volumes, or all the volumes the run covers, cost more per month than the
budget set in the config file:

` + "```yaml" + `
cost:
  budgets:
    cluster: {USD: 5000}
    namespaces:
      shop: {USD: 300}
` + "```" + `

The cost is the report's cost section (see docs/cost.md): every PV at its provisioned
capacity (` + "`spec.capacity`" + `), and every claim that has no PV yet at its request, priced by
the first matching entry of ` + "`cost.prices`" + `, else by the shipped list prices. A PV counts in its
claim's namespace, also once Released. Budgets are per currency and compared with the
amount in that currency only; a namespace that spends in a currency it has no budget
in is not judged in that currency. Unpriced volumes (hostPath, local, NFS, unknown
provisioners) cost nothing here, so a budget can only be exceeded by priced volumes.

With a namespace filter (` + "`-n`" + `, ` + "`namespaces.include`" + `/` + "`exclude`" + `) the cost section, and so the
cluster budget, covers only the namespaces the run covers: a filtered run can miss a
cluster over its budget, never report one that is not.

**Why it matters.** Storage is billed by provisioned size whether anyone reads it or not,
and grows quietly: retained StatefulSet claims, Released volumes and claims nobody mounts
keep costing after the workload that made them is gone.

**How to act.**
- Look at where the money goes: the cost section of ` + "`auditor run`" + ` (or ` + "`auditor cost -n <ns>`" + `)
  lists the namespace's classes, workloads and its most expensive wasted volumes;
  ` + "`kubectl get pvc -n <ns> --sort-by=.status.capacity.storage`" + ` lists its claims by size.
- Remove the waste the other rules report — ` + "`pv-released-retained`" + `, ` + "`pv-released-stuck`" + `,
  ` + "`pv-available-unreserved`" + `, ` + "`pvc-unused`" + `, ` + "`sts-retained-ordinal`" + ` — after backing up what may
  still be needed (their findings carry ` + "`monthlyCost`" + `).
- Move data that does not need fast disks to a cheaper class (e.g. gp3 instead of io2).
- If the spending is expected, raise the budget in the config
  (` + "`cost.budgets.namespaces.<ns>.<currency>`" + `).`,
	Check: func(p *rules.Pass) error {
		c := p.Cost()
		b := p.Budgets()
		if c == nil || b.Empty() {
			return nil
		}
		for _, cur := range sortedMapKeys(b.Cluster) {
			limit, spent := b.Cluster[cur], c.Monthly[cur]
			if spent <= limit {
				continue
			}
			d := budgetDetails("cluster", cur, spent, limit)
			d["volumes"] = strconv.Itoa(c.Volumes)
			d["largestNamespaces"] = largestIn(c.ByNamespace, cur, 3)
			name := p.Snapshot.Source
			if name == "" {
				name = "cluster"
			}
			p.Report(audit.Finding{
				Object: audit.ObjectRef{Kind: "Cluster", Name: name},
				Message: fmt.Sprintf("the cluster's volumes cost %s a month, %s over the budget of %s (largest namespaces: %s): the report's cost section shows where it goes; remove the waste the other findings point at, or raise cost.budgets.cluster.%s in the config",
					audit.FormatMoney(spent, cur), overBy(spent, limit, cur), audit.FormatMoney(limit, cur), d["largestNamespaces"], cur),
				Details: d,
				Fact:    cur,
			})
		}
		byName := make(map[string]*audit.CostLine, len(c.ByNamespace))
		for i := range c.ByNamespace {
			byName[c.ByNamespace[i].Name] = &c.ByNamespace[i]
		}
		for _, ns := range sortedMapKeys(b.Namespaces) {
			line := byName[ns]
			if line == nil {
				continue // no volumes, or outside the run's namespaces
			}
			for _, cur := range sortedMapKeys(b.Namespaces[ns]) {
				limit, spent := b.Namespaces[ns][cur], line.Monthly[cur]
				if spent <= limit {
					continue
				}
				d := budgetDetails("namespace", cur, spent, limit)
				d["namespace"] = ns
				d["volumes"] = strconv.Itoa(line.Volumes)
				d["gib"] = strconv.FormatFloat(line.GiB, 'f', -1, 64)
				p.Report(audit.Finding{
					Object: audit.ObjectRef{Kind: "Namespace", Name: ns},
					Message: fmt.Sprintf("namespace %s's %d volumes (%s GiB) cost %s a month, %s over its budget of %s: the report's cost section shows its classes, workloads and wasted volumes; remove the waste the other findings point at, move data to a cheaper class, or raise cost.budgets.namespaces.%s.%s in the config",
						ns, line.Volumes, d["gib"], audit.FormatMoney(spent, cur), overBy(spent, limit, cur), audit.FormatMoney(limit, cur), ns, cur),
					Details: d,
					Fact:    cur,
				})
			}
		}
		return nil
	},
}

func budgetDetails(scope, cur string, spent, limit float64) map[string]string {
	d := map[string]string{
		"scope":       scope,
		"currency":    cur,
		"monthlyCost": cost.FormatAmount(spent),
		"budget":      cost.FormatAmount(limit),
		"overBy":      cost.FormatAmount(spent - limit),
	}
	if limit > 0 {
		d["overPercent"] = strconv.Itoa(int((spent - limit) / limit * 100))
	}
	return d
}

// overBy renders how far over budget, with the percentage when the budget is not zero.
func overBy(spent, limit float64, cur string) string {
	s := audit.FormatMoney(spent-limit, cur)
	if limit > 0 {
		s += fmt.Sprintf(" (%d%%)", int((spent-limit)/limit*100))
	}
	return s
}

// largestIn names the n lines costing most in currency cur: "shop 2,800.00, web 35.00".
func largestIn(ls []audit.CostLine, cur string, n int) string {
	var priced []audit.CostLine
	for _, l := range ls {
		if l.Monthly[cur] > 0 {
			priced = append(priced, l)
		}
	}
	sort.SliceStable(priced, func(i, j int) bool { return priced[i].Monthly[cur] > priced[j].Monthly[cur] })
	var parts []string
	for _, l := range priced {
		parts = append(parts, l.Name+" "+audit.FormatMoney(l.Monthly[cur], ""))
	}
	return firstOf(parts, n, ", ")
}
