package catalog

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Helpers shared by the claim and StorageClass rules (pvc-pending, sc-*, pvc-expansion-*,
// pvc-resize-stuck, pv-capacity-mismatch).

// claimFacts are the facts every claim finding of these rules carries.
func claimFacts(pvc *corev1.PersistentVolumeClaim) map[string]string {
	d := map[string]string{
		"phase":    string(pvc.Status.Phase),
		"request":  "unknown",
		"capacity": "unknown",
	}
	switch class, set := snapshot.ClaimClassSet(pvc); {
	case !set:
		d["storageClass"] = "(not set)"
	case class == "":
		d["storageClass"] = `"" (static binding)`
	default:
		d["storageClass"] = class
	}
	if q, ok := snapshot.ClaimRequest(pvc); ok {
		d["request"] = q.String()
	}
	if q, ok := snapshot.ClaimCapacity(pvc); ok {
		d["capacity"] = q.String()
	} else if pvc.Status.Phase != corev1.ClaimBound {
		delete(d, "capacity") // not provisioned yet: nothing to report
	}
	if pvc.Spec.VolumeName != "" {
		d["volumeName"] = pvc.Spec.VolumeName
	}
	return d
}

// runningClaimUsers returns the running pods that use a claim, sorted by name.
func runningClaimUsers(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range snap.PodsUsingClaim(pvc.Namespace, pvc.Name) {
		if snapshot.PodRunning(p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// podNameList joins pod names.
func podNameList(pods []*corev1.Pod) string {
	n := make([]string, len(pods))
	for i, p := range pods {
		n[i] = p.Name
	}
	return strings.Join(n, ", ")
}

// ageQualifier marks an age that is only an upper bound (snapshot.UpperBoundAge).
func ageQualifier(a snapshot.Age) string {
	if strings.Contains(a.Source, "upper bound") {
		return " at most (no event left to date the request; measured from the claim's creation)"
	}
	return ""
}
