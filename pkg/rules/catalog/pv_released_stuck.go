package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvReleasedStuck = &rules.Rule{
	ID:       "pv-released-stuck",
	Title:    "Released PersistentVolume that its reclaim policy should have deleted",
	Action:   "Check the provisioner's logs and the disk in the cloud; deletion is failing",
	Severity: audit.Critical,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes},
	Optional: []snapshot.Kind{snapshot.Events},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "15m",
		Doc: "how long a Released Delete/Recycle PV may linger before it is reported"}},
	Doc: `A PersistentVolume with reclaim policy ` + "`Delete`" + ` (or the deprecated ` + "`Recycle`" + `)
should disappear shortly after its claim is deleted: the provisioner or the in-tree deleter
removes the disk and then the PV. A PV that stays **Released** longer than the grace period
(default 15m) means deletion is failing — typically the CSI controller is down, its
credentials lost permission, or the cloud refuses (disk still attached, snapshot
dependency). The PV controller records ` + "`VolumeFailedDelete`" + ` events with the reason; the
finding includes the latest one.

The time a PV became Released is ` + "`status.lastPhaseTransitionTime`" + ` (Kubernetes 1.29+; it stays unset
on PVs that have not changed phase since the feature was turned on). Without it the only date is
the PV's ` + "`creationTimestamp`" + `, which says nothing about when the claim went away: a PV released
seconds ago by a normal, working delete would look months overdue. So on clusters that do not
record the phase transition time, only PVs with a failure event (` + "`VolumeFailedDelete`" + ` or
` + "`VolumeFailedRecycle`" + `) are reported, and their age is given as "at most" (since creation).
Events expire (default 1h), but the PV controller keeps retrying a failing delete and keeps
emitting them.

**Why it matters.** The disk keeps costing money and the deleter keeps retrying.

**How to fix by hand.**
- Read the reason: ` + "`kubectl describe pv <pv>`" + ` (events) and the CSI controller's logs
  (` + "`kubectl logs -n <ns> <csi-controller-pod> -c csi-provisioner`" + `).
- Fix the cause (detach the disk, restore permissions, restart the driver); the PV
  controller retries on its own.
- If the disk is already gone in the cloud, remove the PV:
  ` + "`kubectl delete pv <pv>`" + ` (and its finalizers if it is stuck terminating).`,
	Check: func(p *rules.Pass) error {
		grace := p.Duration("grace")
		for _, pv := range p.Snapshot.PersistentVolumes {
			policy := pv.Spec.PersistentVolumeReclaimPolicy
			if pv.Status.Phase != corev1.VolumeReleased ||
				(policy != corev1.PersistentVolumeReclaimDelete && policy != corev1.PersistentVolumeReclaimRecycle) {
				continue
			}
			age := snapshot.PVPhaseAge(pv)
			if age.Duration(p.Now) < grace {
				continue
			}
			// Without lastPhaseTransitionTime the age is the PV's creation: an upper bound
			// that says nothing about when it was released, so only a failure event counts.
			t := pv.Status.LastPhaseTransitionTime
			fromCreation := t == nil || t.IsZero()
			d := pvDetails(pv)
			addAge(d, "releasedFor", age, p.Now)
			d["grace"] = grace.String()
			why := "no VolumeFailedDelete event is left to say why"
			e := eventDetail(d, p.Snapshot.EventsFor("PersistentVolume", "", pv.Name, string(pv.UID)), "VolumeFailedDelete", "VolumeFailedRecycle")
			if e != nil {
				why = "last error: " + e.Message
			}
			releasedFor := d["releasedFor"]
			if fromCreation {
				if e == nil {
					continue
				}
				releasedFor = "at most " + releasedFor + " (the cluster did not record when it was released; this is the PV's age)"
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumes, pv),
				Message: fmt.Sprintf("PV %s (%s) has been Released for %s but reclaim policy %s should have removed it: deletion is failing (%s); check the provisioner's logs and the disk in the cloud",
					pv.Name, d["capacity"], releasedFor, policy, why),
				Details: d,
			})
		}
		return nil
	},
}
