package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvCapacityMismatch = &rules.Rule{
	ID:       "pv-capacity-mismatch",
	Title:    "Bound PersistentVolume's capacity differs from its claim's capacity",
	Action:   "Check the disk's real size and set the PV's capacity to it; resize through the claim",
	Severity: audit.Warning,
	Category: rules.Capacity,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes, snapshot.PersistentVolumeClaims},
	Doc: `A **Bound** PV's ` + "`spec.capacity.storage`" + ` differs from its claim's ` + "`status.capacity.storage`" + `
while no resize is in progress or pending (no resize condition, no
` + "`status.allocatedResourceStatuses`" + `). The two are equal after binding and after every
completed expansion, so a difference means someone edited the PV by hand, or a status update
was lost. Sizes are compared as quantities: ` + "`10Gi`" + ` and ` + "`10737418240`" + ` are equal.

**Why it matters.** Editing a PV's capacity resizes nothing: the disk and the file system keep
their size. Worse, a later expansion through the claim up to that size is silently skipped:
the CSI external-resizer takes a PV whose capacity already reaches the request for a volume it
has resized and does nothing, so the claim keeps asking for more than it has. Cost and
capacity reports that read the PV are wrong too.

**How to fix by hand.**
- Find the disk's real size in the storage backend (cloud console, ` + "`lsblk`" + ` / ` + "`df -h`" + ` in a pod
  that mounts it).
- Set the PV back to it — normally the claim's ` + "`status.capacity`" + `:
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"capacity\":{\"storage\":\"<claim capacity>\"}}}'`" + `.
- Then grow the volume the supported way, through the claim (if its class allows expansion):
  ` + "`kubectl patch pvc <claim> -n <ns> -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"<new size>\"}}}}'`" + `.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		for _, pv := range snap.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeBound {
				continue
			}
			pvc := snap.ClaimOf(pv)
			if pvc == nil || pvc.Spec.VolumeName != pv.Name || snapshot.ResizeActivity(pvc) {
				continue
			}
			pvCap, ok1 := snapshot.PVCapacity(pv)
			claimCap, ok2 := snapshot.ClaimCapacity(pvc)
			if !ok1 || !ok2 || pvCap.Cmp(claimCap) == 0 {
				continue
			}
			d := pvDetails(pv)
			d["claimCapacity"] = claimCap.String()
			if q, ok := snapshot.ClaimRequest(pvc); ok {
				d["claimRequest"] = q.String()
			}
			relation := "larger"
			if pvCap.Cmp(claimCap) < 0 {
				relation = "smaller"
			}
			next := ", then grow the volume through the claim's request if it needs more room"
			if snapshot.ExpansionRequested(pvc) {
				next = fmt.Sprintf("; the claim already asks for %s, so the resizer can then expand it the supported way", d["claimRequest"])
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumes, pv),
				Fact:   pvCap.String() + "!=" + claimCap.String(),
				Message: fmt.Sprintf("PV %s says %s but its claim %s/%s has %s and no resize is in progress: the PV is %s than its claim (a hand edit or a lost status update), and editing a PV's capacity resizes nothing; check the disk's real size and set the PV's capacity to it (normally %s)%s",
					pv.Name, pvCap.String(), pvc.Namespace, pvc.Name, claimCap.String(), relation, claimCap.String(), next),
				Details: d,
			})
		}
		return nil
	},
}
