package stsresize

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// ExpansionRule is the rule that reports classes promising an expansion they cannot
// deliver. Its ignore annotation on a class is honoured here too (see ignored).
const ExpansionRule = "sc-expansion-unsupported"

// classJudge answers "can this claim really be expanded" from a snapshot, with the
// verdict sc-expansion-unsupported and pvc-expansion-ignored report
// (snapshot.ClaimExpansionBlocker), so the command and `auditor run` never disagree.
type classJudge struct {
	snap    *snapshot.Snapshot
	classes snapshot.ClassBlockers
}

func newClassJudge(snap *snapshot.Snapshot) *classJudge {
	return &classJudge{snap: snap, classes: snapshot.ClassBlockers{}}
}

// ignored reports whether the class carries the ignore annotation for ExpansionRule: the
// user said that verdict is wrong for it (say, a resizer running outside the cluster).
// Facts stay decisive — a provisioner known never to expand, a hostPath/local/nfs volume —
// but the inferred "no resizer" verdict is not used; if the claims then never grow, the
// wait stops the resize before the StatefulSet is touched.
func ignored(sc *storagev1.StorageClass) bool {
	return rules.Ignores(sc.Annotations[rules.IgnoreAnnotation], ExpansionRule)
}

// claimBlocked says why pvc's volume cannot really be expanded, or "".
func (j *classJudge) claimBlocked(pvc *corev1.PersistentVolumeClaim) string {
	class := snapshot.ClaimClass(pvc)
	if class == "" {
		return "it has no StorageClass, and only claims of a class with allowVolumeExpansion: true can be expanded"
	}
	sc := j.snap.StorageClass(class)
	if sc == nil {
		if !j.snap.Loaded(snapshot.StorageClasses) {
			return fmt.Sprintf("StorageClasses could not be read (%s), so whether class %s allows expansion is unknown", j.snap.Unreadable(snapshot.StorageClasses), class)
		}
		return fmt.Sprintf("its StorageClass %s does not exist", class)
	}
	if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
		return fmt.Sprintf("its StorageClass %s does not set allowVolumeExpansion: true, so the API server rejects the larger request", class)
	}
	if why, ok := snapshot.NonExpandingProvisioners[sc.Provisioner]; ok {
		return fmt.Sprintf("class %s uses provisioner %s, which cannot expand volumes (%s) although the class allows expansion; move the data to a class that can expand", class, sc.Provisioner, why)
	}
	if pv := j.snap.PV(pvc.Spec.VolumeName); pv != nil {
		if src := snapshot.NonExpandableSource(pv); src != "" {
			return fmt.Sprintf("its volume %s (%s) can never be expanded, whatever class %s says", pv.Name, src, class)
		}
	}
	if ignored(sc) {
		return ""
	}
	if b := j.snap.ClaimExpansionBlocker(pvc, j.classes); b != nil {
		if b.Fix != "" {
			return b.Reason + "; " + b.Fix
		}
		return b.Reason
	}
	return ""
}

// classNote says what the plan relies on for a class that was not refused.
func (j *classJudge) classNote(class string) string {
	sc := j.snap.StorageClass(class)
	if sc == nil {
		return ""
	}
	if ignored(sc) {
		return fmt.Sprintf("class %s carries %s for %s: whether its CSI driver has a resizer was not judged; if the claims never grow, the resize stops before the StatefulSet is touched", class, rules.IgnoreAnnotation, ExpansionRule)
	}
	prov := sc.Provisioner
	switch {
	case snapshot.InTreeProvisioner(prov):
		return fmt.Sprintf("class %s: in-tree provisioner %s, expanded by kube-controller-manager or its migrated CSI driver", class, prov)
	case j.snap.HasResizerLease(prov):
		return fmt.Sprintf("class %s: CSI driver %s, its external-resizer holds Lease kube-system/%s", class, prov, snapshot.ResizerLeaseName(prov))
	case !strings.Contains(prov, "."):
		return fmt.Sprintf("class %s: provisioner %s is not one known never to expand", class, prov)
	case !j.snap.Complete(snapshot.Pods) || !j.snap.Loaded(snapshot.Leases):
		return fmt.Sprintf("class %s: whether CSI driver %s has a resizer could not be judged (the pods of every namespace and the kube-system Leases are needed); if the claims never grow, the resize stops before the StatefulSet is touched", class, prov)
	}
	return fmt.Sprintf("class %s: no Lease kube-system/%s and no visible controller of %s without a resizer; the resizer may run elsewhere — if the claims never grow, the resize stops before the StatefulSet is touched",
		class, snapshot.ResizerLeaseName(prov), prov)
}
