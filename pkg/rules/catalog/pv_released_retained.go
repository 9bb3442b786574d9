package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvReleasedRetained = &rules.Rule{
	ID:       "pv-released-retained",
	Title:    "Released PersistentVolume kept by reclaim policy Retain",
	Action:   "Back up and delete the PV (and its disk) if the data is no longer needed",
	Severity: audit.Warning,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes},
	Doc: `A PersistentVolume is **Released** when the claim it was bound to is deleted. With
reclaim policy ` + "`Retain`" + ` nothing else ever happens to it: it never binds again
(its ` + "`claimRef`" + ` still names the deleted claim), and the disk — with its data and its
bill — stays until someone acts. This is what a StatefulSet scale-down followed by
deleting the retained claims leaves behind.

**Why it matters.** Retained disks are paid for by size whether attached or not, and
nobody remembers them: they accumulate after every scale-down, namespace cleanup or
re-install.

**How to fix by hand.** Decide whether the data is still needed.

- Still needed, for the *same* claim name (e.g. a re-created StatefulSet): remove only the
  old UID so the PV is reserved for a new claim of that name:
  ` + "`kubectl patch pv <pv> --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/claimRef/uid\"},{\"op\":\"remove\",\"path\":\"/spec/claimRef/resourceVersion\"}]'`" + `
- Not needed: back it up if in doubt, then ` + "`kubectl delete pv <pv>`" + ` and delete the
  disk in the cloud console (a Retain PV's disk survives the PV's deletion).
- Do **not** remove the whole ` + "`claimRef`" + `: that makes the PV Available to *any* matching
  claim, which then mounts the old data (see ` + "`pv-available-unreserved`" + `).

To keep a Released PV on purpose, annotate it:
` + "`kubectl annotate pv <pv> storage-auditor.dev/ignore='pv-released-retained: kept for audit'`" + `.

**Fix** (` + "`auditor run --fix --allow destructive`" + ` with the rule in the config's ` + "`fix.allow`" + `,
destructive): deletes the PV, with its UID and resourceVersion as preconditions, only while it is
still Released, has reclaim policy Retain and no claim refers to it (its claim is gone, or exists
with another UID). The disk at the provider is **not** deleted: with Retain it survives its PV,
so delete it there (after a backup if in doubt) to stop paying for it.`,
	Check: func(p *rules.Pass) error {
		for _, pv := range p.Snapshot.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
				continue
			}
			age := snapshot.PVPhaseAge(pv)
			d := pvDetails(pv)
			addAge(d, "releasedFor", age, p.Now)
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumes, pv),
				Fact:   d["formerClaim"], // released again by another claim: a new problem
				Message: fmt.Sprintf("PV %s (%s) was released by claim %s %s ago and is kept by reclaim policy Retain: its data and cost remain; delete it once the data is no longer needed, or reserve it for a claim of the same name",
					pv.Name, d["capacity"], d["formerClaim"], d["releasedFor"]),
				Details: d,
				Fixes:   []audit.Fix{releasedPVFix(pv)},
			})
		}
		return nil
	},
}
