package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvFailed = &rules.Rule{
	ID:       "pv-failed",
	Title:    "PersistentVolume in phase Failed",
	Action:   "Read kubectl describe pv, then recover or delete the volume by hand",
	Severity: audit.Critical,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes},
	Optional: []snapshot.Kind{snapshot.Events},
	Doc: `A PersistentVolume is **Failed** when automatic reclamation failed (for example the
Recycle policy's scrub pod failed, or an in-tree deleter gave up). Kubernetes will not
retry on its own; ` + "`status.message`" + ` says why.

**Why it matters.** The disk exists, costs money and is usable by nobody.

**How to fix by hand.** Read the reason with ` + "`kubectl describe pv <pv>`" + `. If the data is
not needed, delete the backing disk and ` + "`kubectl delete pv <pv>`" + `; if it is, copy it off
first, or set ` + "`persistentVolumeReclaimPolicy: Retain`" + ` and reserve the PV for a claim.`,
	Check: func(p *rules.Pass) error {
		for _, pv := range p.Snapshot.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeFailed {
				continue
			}
			d := pvDetails(pv)
			addAge(d, "failedFor", snapshot.PVPhaseAge(pv), p.Now)
			why := "no reason recorded"
			if pv.Status.Message != "" {
				why = pv.Status.Message
				d["statusMessage"] = pv.Status.Message
			}
			if pv.Status.Reason != "" {
				d["statusReason"] = pv.Status.Reason
			}
			eventDetail(d, p.Snapshot.EventsFor("PersistentVolume", "", pv.Name, string(pv.UID)), "VolumeFailedDelete", "VolumeFailedRecycle")
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumes, pv),
				Message: fmt.Sprintf("PV %s (%s) is Failed (%s): Kubernetes will not retry; read kubectl describe pv %s, then delete or recover it by hand",
					pv.Name, d["capacity"], why, pv.Name),
				Details: d,
			})
		}
		return nil
	},
}
