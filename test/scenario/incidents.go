package scenario

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func patchJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static patch documents always marshal
	}
	return b
}

// Claim returns a claim of class for size, pre-bound to volume when volume is set.
func Claim(ns, name, class, size, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			VolumeName:       volume,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// RetainResult names what RetainScaleDown left behind.
type RetainResult struct {
	StatefulSet   string
	RetainedClaim string // data-web-1: kept by whenScaled: Retain above the live ordinals
	// ReleasedPVs are the volumes of data-web-2 and data-web-3, whose claims were deleted.
	ReleasedPVs []string
}

// RetainScaleDown (incident a): a StatefulSet on a Retain class runs 4 replicas, is scaled
// down to 1, and someone deletes the claims of ordinals 2 and 3. The StatefulSet
// controller keeps data-web-1 (a retained ordinal) and the PV controller releases the
// deleted claims' volumes, which Retain keeps forever.
func (e *Env) RetainScaleDown(ctx context.Context, ns string) (*RetainResult, error) {
	const replicas = 4
	for i := 0; i < replicas; i++ {
		pv := CSIPV(fmt.Sprintf("%s-web-%d", ns, i), RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain)
		if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating PV %s: %w", pv.Name, err)
		}
	}
	if _, err := e.CS.AppsV1().StatefulSets(ns).Create(ctx, StatefulSet(ns, "web", replicas, RetainClass, "1Gi"), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating StatefulSet %s/web: %w", ns, err)
	}
	e.logf("%s: StatefulSet web with %d replicas on class %s; waiting for its claims to bind", ns, replicas, RetainClass)
	volumes := map[int]string{}
	for i := 0; i < replicas; i++ {
		v, err := e.WaitClaimBound(ctx, ns, fmt.Sprintf("data-web-%d", i))
		if err != nil {
			return nil, err
		}
		volumes[i] = v
	}
	if err := e.Scale(ctx, ns, "web", 1); err != nil {
		return nil, err
	}
	if err := e.WaitPodCount(ctx, ns, "app=web", 1); err != nil {
		return nil, err
	}
	res := &RetainResult{StatefulSet: "web", RetainedClaim: "data-web-1"}
	for _, i := range []int{2, 3} {
		claim := fmt.Sprintf("data-web-%d", i)
		e.logf("%s: scaled web down to 1; deleting claim %s", ns, claim)
		if err := e.CS.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
			return nil, fmt.Errorf("deleting claim %s/%s: %w", ns, claim, err)
		}
		if err := e.WaitPVPhase(ctx, volumes[i], corev1.VolumeReleased); err != nil {
			return nil, err
		}
		res.ReleasedPVs = append(res.ReleasedPVs, volumes[i])
	}
	return res, nil
}

// FreeReleasedPV is the well-meant mistake of incident a: removing a Released PV's whole
// claimRef to "make it usable again". The PV controller makes it Available to any claim.
func (e *Env) FreeReleasedPV(ctx context.Context, pv string) error {
	patch := []byte(`[{"op":"remove","path":"/spec/claimRef"}]`)
	if _, err := e.CS.CoreV1().PersistentVolumes().Patch(ctx, pv, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("removing claimRef of PV %s: %w", pv, err)
	}
	e.logf("PV %s: claimRef removed", pv)
	return e.WaitPVPhase(ctx, pv, corev1.VolumeAvailable)
}

// ScaleUp scales StatefulSet ns/name to replicas and returns the volume the claim of
// ordinal `watch` gets bound to: with a freed PV around, the trap springs.
func (e *Env) ScaleUp(ctx context.Context, ns, name string, replicas int32, watch int) (string, error) {
	if err := e.Scale(ctx, ns, name, replicas); err != nil {
		return "", err
	}
	return e.WaitClaimBound(ctx, ns, fmt.Sprintf("data-%s-%d", name, watch))
}

// ExpandResult names the claim of LocalPathResize.
type ExpandResult struct {
	Claim, PV string
}

// LocalPathResize (incident b): a claim on a local-path class (which says
// allowVolumeExpansion: true) is raised from 1Gi to 2Gi. Admission accepts it; the expand
// controller finds no plugin, emits ExternalExpanding and nobody ever expands it.
func (e *Env) LocalPathResize(ctx context.Context, ns string) (*ExpandResult, error) {
	pvName := ns + "-uploads"
	hostPathType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              LocalPathClass,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/opt/local-path-provisioner/" + pvName, Type: &hostPathType}},
		},
	}
	if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating PV %s: %w", pvName, err)
	}
	if _, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Create(ctx, Claim(ns, "uploads", LocalPathClass, "1Gi", pvName), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating claim %s/uploads: %w", ns, err)
	}
	if _, err := e.WaitClaimBound(ctx, ns, "uploads"); err != nil {
		return nil, err
	}
	if err := e.waitFor(ctx, "claim "+ns+"/uploads to report its capacity", func(ctx context.Context) (bool, error) {
		pvc, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "uploads", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, ok := pvc.Status.Capacity[corev1.ResourceStorage]
		return ok, nil
	}); err != nil {
		return nil, err
	}
	patch := patchJSON(map[string]any{"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "2Gi"}}}})
	if _, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "uploads", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return nil, fmt.Errorf("resizing claim %s/uploads to 2Gi: %w", ns, err)
	}
	e.logf("%s: claim uploads resized 1Gi -> 2Gi on class %s; waiting for ExternalExpanding", ns, LocalPathClass)
	err := e.waitFor(ctx, "an ExternalExpanding event on claim "+ns+"/uploads", func(ctx context.Context) (bool, error) {
		evs, err := e.CS.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=uploads,reason=ExternalExpanding"})
		if err != nil {
			return false, err
		}
		return len(evs.Items) > 0, nil
	})
	return &ExpandResult{Claim: "uploads", PV: pvName}, err
}

// PVCapacityEdit (incident c): a bound PV's spec.capacity is raised by hand (as after a
// resize in the cloud console). Nothing resizes, and the claim keeps reporting 1Gi.
func (e *Env) PVCapacityEdit(ctx context.Context, ns string) (*ExpandResult, error) {
	pvName := ns + "-reports"
	if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, CSIPV(pvName, RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating PV %s: %w", pvName, err)
	}
	if _, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Create(ctx, Claim(ns, "reports", RetainClass, "1Gi", pvName), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating claim %s/reports: %w", ns, err)
	}
	if _, err := e.WaitClaimBound(ctx, ns, "reports"); err != nil {
		return nil, err
	}
	patch := patchJSON(map[string]any{"spec": map[string]any{"capacity": map[string]any{"storage": "5Gi"}}})
	if _, err := e.CS.CoreV1().PersistentVolumes().Patch(ctx, pvName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return nil, fmt.Errorf("editing capacity of PV %s: %w", pvName, err)
	}
	e.logf("%s: PV %s capacity edited 1Gi -> 5Gi behind the claim's back", ns, pvName)
	return &ExpandResult{Claim: "reports", PV: pvName}, nil
}

// DriftResult records what TemplateDrift saw.
type DriftResult struct {
	StatefulSet string
	// Refusal is the API server's answer to the volumeClaimTemplates change.
	Refusal string
}

// TemplateDrift (incident d): a StatefulSet's volumeClaimTemplate cannot be changed (the API
// server refuses); the usual workaround — orphan-delete and re-create with the new size —
// leaves the existing claims at the old size, and the controller never reconciles them.
func (e *Env) TemplateDrift(ctx context.Context, ns string) (*DriftResult, error) {
	for i := 0; i < 2; i++ {
		pv := CSIPV(fmt.Sprintf("%s-db-%d", ns, i), StandardClass, "1Gi", corev1.PersistentVolumeReclaimDelete)
		if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating PV %s: %w", pv.Name, err)
		}
	}
	sts := StatefulSet(ns, "db", 2, StandardClass, "1Gi")
	if _, err := e.CS.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating StatefulSet %s/db: %w", ns, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.WaitClaimBound(ctx, ns, fmt.Sprintf("data-db-%d", i)); err != nil {
			return nil, err
		}
	}
	// The StatefulSet controller writes the status meanwhile: a conflict is retried, so the
	// answer checked is the API server's verdict on the template change itself.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := e.CS.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		_, err = e.CS.AppsV1().StatefulSets(ns).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err == nil || !apierrors.IsInvalid(err) {
		return nil, fmt.Errorf("expected the API server to refuse a volumeClaimTemplates change of %s/db, got %v", ns, err)
	}
	res := &DriftResult{StatefulSet: "db", Refusal: err.Error()}
	e.logf("%s: template change refused as expected; orphan-deleting and re-creating db with 2Gi", ns)
	if err := e.CS.AppsV1().StatefulSets(ns).Delete(ctx, "db", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		return nil, fmt.Errorf("orphan-deleting StatefulSet %s/db: %w", ns, err)
	}
	if err := e.WaitGone(ctx, "StatefulSet "+ns+"/db", func(ctx context.Context) error {
		_, err := e.CS.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	if _, err := e.CS.AppsV1().StatefulSets(ns).Create(ctx, StatefulSet(ns, "db", 2, StandardClass, "2Gi"), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("re-creating StatefulSet %s/db: %w", ns, err)
	}
	// The new StatefulSet adopts the orphaned pods; wait for that so the snapshot is settled.
	err = e.waitFor(ctx, "StatefulSet "+ns+"/db to adopt its pods", func(ctx context.Context) (bool, error) {
		pods, err := e.CS.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if metav1.GetControllerOf(&p) == nil {
				return false, nil
			}
		}
		return len(pods.Items) == 2, nil
	})
	return res, err
}

// GhostResult names the pod and node of PodOnDeletedNode.
type GhostResult struct {
	Pod, Node string
}

// PodOnDeletedNode (incident e): a pod bound to a node that is then deleted; a finalizer
// keeps PodGC's force-delete from removing it.
func (e *Env) PodOnDeletedNode(ctx context.Context, ns string) (*GhostResult, error) {
	node := ns + "-node-gone"
	if _, err := e.CS.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating node %s: %w", node, err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ghost", Finalizers: []string{"storage-auditor.dev/test-hold"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	if _, err := e.CS.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating pod %s/ghost: %w", ns, err)
	}
	if err := e.CS.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
		return nil, fmt.Errorf("deleting node %s: %w", node, err)
	}
	e.logf("%s: pod ghost bound to node %s, which is now deleted", ns, node)
	return &GhostResult{Pod: "ghost", Node: node}, nil
}

// ReleaseFinalizer removes the test finalizer so the ghost pod can go (cleanup).
func (e *Env) ReleaseFinalizer(ctx context.Context, ns, pod string) error {
	_, err := e.CS.CoreV1().Pods(ns).Patch(ctx, pod, types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
	return client(err)
}

// AttachResult names the node of AttachLimit.
type AttachResult struct {
	Node  string
	Limit int32
}

// AttachLimit (incident f): a node whose CSINode allows 2 volumes of the driver already has
// 2 VolumeAttachments: the next pod with a volume of that driver will never attach.
func (e *Env) AttachLimit(ctx context.Context, ns string) (*AttachResult, error) {
	node := ns + "-node-full"
	const limit = 2
	if _, err := e.CS.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating node %s: %w", node, err)
	}
	csiNode := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: Driver, NodeID: node, Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To(int32(limit))},
		}}},
	}
	if _, err := e.CS.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating CSINode %s: %w", node, err)
	}
	for i := 0; i < limit; i++ {
		// Each attached volume belongs to a claim used by a pod on the node, as on a real
		// node: the attach/detach controller attached it for that pod.
		pvName := fmt.Sprintf("%s-att-%d", ns, i)
		claim := fmt.Sprintf("cache-builder-%d", i)
		if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, CSIPV(pvName, RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating PV %s: %w", pvName, err)
		}
		if _, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Create(ctx, Claim(ns, claim, RetainClass, "1Gi", pvName), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating claim %s/%s: %w", ns, claim, err)
		}
		if _, err := e.WaitClaimBound(ctx, ns, claim); err != nil {
			return nil, err
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("builder-%d", i)},
			Spec: corev1.PodSpec{
				NodeName:   node,
				Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
			},
		}
		if _, err := e.CS.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating pod %s/%s: %w", ns, pod.Name, err)
		}
		va := &storagev1.VolumeAttachment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("csi-%s-%d", ns, i)},
			Spec: storagev1.VolumeAttachmentSpec{
				Attacher: Driver, NodeName: node,
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)},
			},
		}
		if _, err := e.CS.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating VolumeAttachment %s: %w", va.Name, err)
		}
	}
	e.logf("%s: node %s has %d of %d attachment slots of %s in use", ns, node, limit, limit, Driver)
	return &AttachResult{Node: node, Limit: limit}, nil
}
