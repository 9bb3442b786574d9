package catalog

import (
	"fmt"
	"strconv"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var nodeAttachLimit = &rules.Rule{
	ID:       "node-attach-limit",
	Title:    "Node close to its CSI driver's volume attach limit",
	Action:   "Spread volume-heavy pods across nodes or use an instance type with more attach slots",
	Severity: audit.Warning,
	Category: rules.Capacity,
	Reads: []snapshot.Kind{snapshot.CSINodes, snapshot.VolumeAttachments, snapshot.Pods,
		snapshot.PersistentVolumeClaims, snapshot.PersistentVolumes},
	Optional: []snapshot.Kind{snapshot.Nodes},
	Params: []rules.Param{
		{Name: "warnPercent", Type: rules.Percent, Default: "80", Doc: "usage of the attach limit reported as a warning"},
		{Name: "criticalPercent", Type: rules.Percent, Default: "100", Doc: "usage of the attach limit reported as critical"},
	},
	Doc: `Every CSI driver that attaches disks may limit how many of its volumes one node can hold
(cloud VM types allow a fixed number of data disks: AWS EBS 26–39 depending on the instance,
GCE PD 127 or 15 on small machines, Azure by VM size, Alibaba Cloud 15 by default). The node
plugin publishes the limit in ` + "`CSINode(<node>).spec.drivers[name=<driver>].allocatable.count`" + `.

Used, per node and driver, is the number of **unique volumes** among the VolumeAttachments
naming the node with that attacher and the PVs (CSI, or in-tree migrated to CSI) bound to the
claims of the node's non-terminated pods — what the scheduler counts. Inline CSI volumes and
CSI ephemeral volumes in pod specs are not counted unless a VolumeAttachment exists for them.
The finding is a **warning** at 80 % of the limit and **critical** at 100 % (params
` + "`warnPercent`" + `, ` + "`criticalPercent`" + `). One finding per node and driver; the details name the driver,
the count, the limit and some of the volumes.

Not reported: drivers whose ` + "`allocatable`" + ` (or its count) is unset — the driver declares no limit.
Drivers missing from the CSINode are ` + "`csinode-driver-missing`" + `'s business.

**Why it matters.** At the limit the scheduler stops placing pods with such volumes on the
node (they stay Pending with ` + "`node(s) exceed max volume count`" + `); when the published limit is
higher than the VM really allows, attachments fail with ` + "`FailedAttachVolume`" + `
(` + "`AttachmentLimitExceeded`" + `, ` + "`The maximum number of data disks allowed to be attached to a VM of this size is 16.`" + `).

**How to fix by hand.**
- See what is attached: ` + "`kubectl get volumeattachments -o custom-columns=PV:.spec.source.persistentVolumeName,NODE:.spec.nodeName,ATTACHER:.spec.attacher | grep <node>`" + `
  and the limit: ` + "`kubectl get csinode <node> -o jsonpath='{.spec.drivers[*].allocatable}'`" + `.
- Spread volume-heavy pods (` + "`topologySpreadConstraints`" + `, pod anti-affinity), drain some of them
  to other nodes (` + "`kubectl drain <node> --ignore-daemonsets --delete-emptydir-data`" + ` or delete
  single pods), or move to an instance type with more attach slots.
- Detach leftovers: VolumeAttachments of pods that no longer exist (see ` + "`va-orphaned`" + `).`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		warn, crit := p.Percent("warnPercent"), p.Percent("criticalPercent")
		nodes := map[string]bool{}
		for _, n := range snap.NodeNamesWithAttachments() {
			nodes[n] = true
		}
		for _, n := range snap.NodeNamesWithPods() {
			nodes[n] = true
		}
		for _, node := range sortedMapKeys(nodes) {
			cn := snap.CSINode(node)
			if cn == nil {
				continue
			}
			byDriver := nodeCSIVolumes(snap, node)
			for _, driver := range sortedMapKeys(byDriver) {
				limit, limited := snapshot.AttachLimit(cn, driver)
				if !limited {
					continue
				}
				used := len(byDriver[driver])
				var pct float64
				switch {
				case used == 0:
					continue
				case limit <= 0:
					pct = crit // nothing may attach, something is
				default:
					pct = float64(used) * 100 / float64(limit)
				}
				sev, ok := percentSeverity(pct, warn, crit)
				if !ok {
					continue
				}
				vols := sortedMapKeys(byDriver[driver])
				d := map[string]string{
					"driver":  driver,
					"used":    strconv.Itoa(used),
					"limit":   strconv.Itoa(limit),
					"volumes": joinFirstN(vols, 8),
				}
				if limit > 0 {
					d["percent"] = strconv.Itoa(used*100/limit) + "%"
				} else {
					d["percent"] = "over a limit of 0"
				}
				effect := "new pods with such volumes will soon not fit on it"
				if sev == audit.Critical {
					effect = "new pods with such volumes cannot be scheduled there (or fail with FailedAttachVolume)"
				}
				p.Report(audit.Finding{
					Severity: sev,
					Object:   findingNodeRef(snap, node),
					Fact:     driver, // one finding per driver on a node
					Message: fmt.Sprintf("node %s uses %d of the %d volumes driver %s may attach (%s, CSINode allocatable.count): %s; spread volume-heavy pods with topologySpreadConstraints or anti-affinity, move some away, or use an instance type with more attach slots",
						node, used, limit, driver, d["percent"], effect),
					Details: d,
				})
			}
		}
		return nil
	},
}
