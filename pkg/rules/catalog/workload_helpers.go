package catalog

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// findingNodeRef names a node in a finding: the Node object when the snapshot holds it (so its
// UID and ignore annotation are used), else just its name.
func findingNodeRef(snap *snapshot.Snapshot, name string) audit.ObjectRef {
	if n := snap.Node(name); n != nil {
		return rules.Ref(snapshot.Nodes, n)
	}
	return audit.ObjectRef{Kind: string(snapshot.Nodes), Name: name}
}

// joinFirstN joins the first n items (sorted) and says how many were left out.
func joinFirstN(items []string, n int) string {
	s := append([]string(nil), items...)
	sort.Strings(s)
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}

// joinOrNone joins items, or says "none".
func joinOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

// ownerOf renders an object's controlling owner as Kind/name, or "none".
func ownerOf(o metav1.Object) string {
	if ref := snapshot.ControllerOf(o); ref != nil {
		return ref.Kind + "/" + ref.Name
	}
	return "none"
}

// podFacts are the facts every pod finding carries: phase, node, owner, finalizers and
// the claims its volumes use.
func podFacts(pod *corev1.Pod) map[string]string {
	d := map[string]string{
		"phase":      string(pod.Status.Phase),
		"node":       pod.Spec.NodeName,
		"owner":      ownerOf(pod),
		"finalizers": joinOrNone(pod.Finalizers),
		"claims":     joinOrNone(snapshot.PodClaims(pod)),
	}
	if pod.Spec.NodeName == "" {
		d["node"] = "none (not scheduled)"
	}
	return d
}

// classExpansionFlag says whether a StorageClass allows expansion: "true", "false", "unset"
// (the API treats unset as false), "class not found", or "unknown" when StorageClasses were
// not read.
func classExpansionFlag(snap *snapshot.Snapshot, class string) string {
	if !snap.Loaded(snapshot.StorageClasses) {
		return "unknown (StorageClasses not read)"
	}
	sc := snap.StorageClass(class)
	switch {
	case sc == nil:
		return "class not found"
	case sc.AllowVolumeExpansion == nil:
		return "unset (expansion not allowed)"
	case *sc.AllowVolumeExpansion:
		return "true"
	}
	return "false"
}

// storageOf formats an optional quantity ("unset" when absent).
func storageOf(l corev1.ResourceList) string {
	if q, ok := snapshot.Storage(l); ok {
		return q.String()
	}
	return "unset"
}

// sortedMapKeys returns the keys of a map, sorted.
func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodeCSIVolumes is snapshot.Snapshot.NodeCSIVolumes: the unique volumes in use on a node
// per CSI driver, as the scheduler counts them against CSINode allocatable.count (shared
// with `auditor preflight scale`'s attach headroom).
func nodeCSIVolumes(snap *snapshot.Snapshot, node string) map[string]map[string]bool {
	return snap.NodeCSIVolumes(node)
}
