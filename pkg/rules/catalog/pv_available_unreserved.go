package catalog

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvAvailableUnreserved = &rules.Rule{
	ID:       "pv-available-unreserved",
	Title:    "Available Retain PersistentVolume that the next matching claim will get, data included",
	Severity: audit.Warning,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes, snapshot.PersistentVolumeClaims, snapshot.StatefulSets},
	Doc: `A PersistentVolume in phase **Available** with no ` + "`claimRef`" + ` and reclaim policy
` + "`Retain`" + ` is free for *any* claim. The PV controller prefers an existing matching PV over
provisioning a new one, so the next claim with the same StorageClass, a request the PV can
hold, compatible access modes and volume mode is bound to it **with whatever data is on
it** — for example ` + "`data-web-5`" + ` after a StatefulSet scales up. This usually happens when
someone "frees" a Released PV by removing its whole ` + "`claimRef`" + `.

The finding is **critical** when a Pending claim, or a StatefulSet's volumeClaimTemplate
(its next scale-up), would bind the PV right now; the details name it.

Not reported: a PV whose ` + "`claimRef`" + ` names a claim but has no UID (pre-bound, reserved
for that claim only), and PVs still in phase ` + "`Pending`" + `.

**How to fix by hand.** Take the PV out of circulation without touching its data:
- Reserve it for the claim that should get it:
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"claimRef\":{\"namespace\":\"<ns>\",\"name\":\"<claim>\"}}}'`" + `
- or reserve it for a placeholder nobody uses:
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"claimRef\":{\"namespace\":\"storage-auditor-quarantine\",\"name\":\"<pv>\"}}}'`" + `
- or, once the data is backed up or unneeded, ` + "`kubectl delete pv <pv>`" + `.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		var pending []*corev1.PersistentVolumeClaim
		for _, pvc := range snap.PersistentVolumeClaims {
			if pvc.Status.Phase == corev1.ClaimPending && pvc.Spec.VolumeName == "" && pvc.DeletionTimestamp == nil {
				pending = append(pending, pvc)
			}
		}
		for _, pv := range snap.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef != nil ||
				pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
				continue
			}
			d := pvDetails(pv)
			addAge(d, "availableFor", snapshot.PVPhaseAge(pv), p.Now)
			sev := audit.Warning
			var takers []string
			for _, pvc := range pending {
				req, _ := snapshot.ClaimRequest(pvc)
				if pvMatches(pv, snapshot.ClaimClass(pvc), req, pvc.Spec.AccessModes, pvc.Spec.VolumeMode, pvc.Spec.Selector) {
					takers = append(takers, "pending claim "+pvc.Namespace+"/"+pvc.Name)
				}
			}
			for _, st := range snap.StatefulSets {
				for _, tpl := range st.Spec.VolumeClaimTemplates {
					class := snapshot.ClaimClass(&tpl)
					req, _ := snapshot.ClaimRequest(&tpl)
					if pvMatches(pv, class, req, tpl.Spec.AccessModes, tpl.Spec.VolumeMode, tpl.Spec.Selector) {
						// The first ordinal above the live range whose claim does not exist
						// yet gets a new claim; lower ones re-attach their retained claims.
						next := snapshot.OrdinalStart(st) + snapshot.Replicas(st)
						for snap.PVC(st.Namespace, fmt.Sprintf("%s-%s-%d", tpl.Name, st.Name, next)) != nil {
							next++
						}
						takers = append(takers, fmt.Sprintf("StatefulSet %s/%s on scale-up (claim %s-%s-%d)", st.Namespace, st.Name, tpl.Name, st.Name, next))
					}
				}
			}
			msg := fmt.Sprintf("PV %s (%s, class %q) is Available to any matching claim and keeps its data (reclaim policy Retain): reserve it with a claimRef or delete it once the data is not needed",
				pv.Name, d["capacity"], pv.Spec.StorageClassName)
			if len(takers) > 0 {
				sev = audit.Critical
				d["wouldBind"] = strings.Join(takers, "; ")
				msg = fmt.Sprintf("PV %s (%s, class %q) is Available with its old data and would be bound by %s: reserve it with a claimRef or delete it now",
					pv.Name, d["capacity"], pv.Spec.StorageClassName, takers[0])
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.PersistentVolumes, pv), Message: msg, Details: d})
		}
		return nil
	},
}

// pvMatches reports whether the PV controller could bind pv to a claim with these
// properties: same class, enough capacity, every requested access mode offered, the same
// volume mode (unset means Filesystem), and the claim's label selector matching.
func pvMatches(pv *corev1.PersistentVolume, class string, request resource.Quantity,
	modes []corev1.PersistentVolumeAccessMode, mode *corev1.PersistentVolumeMode, sel *metav1.LabelSelector) bool {
	if pv.Spec.StorageClassName != class {
		return false
	}
	capa, ok := snapshot.PVCapacity(pv)
	if !ok || capa.Cmp(request) < 0 {
		return false
	}
	for _, m := range modes {
		found := false
		for _, have := range pv.Spec.AccessModes {
			if have == m {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if volumeMode(pv.Spec.VolumeMode) != volumeMode(mode) {
		return false
	}
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || !s.Matches(labels.Set(pv.Labels)) {
			return false
		}
	}
	return true
}

func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}
