package stsresize

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// forCreate returns a copy of st that the API server accepts as a new object: what the
// server owns (uid, resourceVersion, creationTimestamp, generation, managedFields,
// deletion marks, status) is cleared; everything the user set is kept — labels,
// annotations (kubectl's last-applied copy included), ownerReferences (so an owning
// operator or the garbage collector still sees its dependent) and finalizers other
// than the orphan finalizer of the deletion itself.
func forCreate(st *appsv1.StatefulSet) *appsv1.StatefulSet {
	out := st.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}
	out.UID = ""
	out.ResourceVersion = ""
	out.CreationTimestamp = metav1.Time{}
	out.Generation = 0
	out.ManagedFields = nil
	out.DeletionTimestamp = nil
	out.DeletionGracePeriodSeconds = nil
	out.SelfLink = ""
	out.Status = appsv1.StatefulSetStatus{}
	var fins []string
	for _, f := range out.Finalizers {
		if f != metav1.FinalizerOrphanDependents {
			fins = append(fins, f)
		}
	}
	out.Finalizers = fins
	return out
}

// resized returns forCreate(st) with template tpl requesting size: the one change.
func resized(st *appsv1.StatefulSet, tpl string, size resource.Quantity) *appsv1.StatefulSet {
	out := forCreate(st)
	for i := range out.Spec.VolumeClaimTemplates {
		t := &out.Spec.VolumeClaimTemplates[i]
		if t.Name != tpl {
			continue
		}
		if t.Spec.Resources.Requests == nil {
			t.Spec.Resources.Requests = corev1.ResourceList{}
		}
		t.Spec.Resources.Requests[corev1.ResourceStorage] = size
	}
	return out
}

// Backup names the manifests written before the deletion.
type Backup struct {
	Original, Resized string
}

// writeBackup writes both manifests (JSON, which kubectl create -f reads) to dir.
func writeBackup(dir string, orig, next *appsv1.StatefulSet) (Backup, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Backup{}, fmt.Errorf("backup directory: %w", err)
	}
	base := filepath.Join(dir, orig.Namespace+"-"+orig.Name)
	b := Backup{Original: base + ".original.json", Resized: base + ".resized.json"}
	for path, obj := range map[string]*appsv1.StatefulSet{b.Original: orig, b.Resized: next} {
		data, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return Backup{}, fmt.Errorf("encoding %s: %w", path, err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			return Backup{}, fmt.Errorf("writing backup: %w", err)
		}
	}
	return b, nil
}
