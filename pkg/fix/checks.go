package fix

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// check re-checks, on the live object of a step, the condition that made the rule propose
// the fix — cheaply, from the object and at most one more read. An unchanged
// resourceVersion already says the object is as audited; the checks also catch what
// other objects decide (a placeholder claim created meanwhile, a node that came back, a
// claim that still refers to a PV) and guard steps whose target changed on purpose.
func (ap *Applier) check(ctx context.Context, a *Action, r Request, obj metav1.Object) error {
	if obj.GetDeletionTimestamp() != nil && r.Step.Delete == nil {
		return skipf("%s is being deleted", r.Step.Target.ObjectRef)
	}
	switch o := obj.(type) {
	case *corev1.PersistentVolume:
		switch a.Fix.Action {
		case "reserve-pv":
			return ap.checkReservable(ctx, o)
		case "delete-claim-and-pv":
			return ap.checkPVUnclaimed(ctx, o, r.Step.ChangedByPrevious)
		}
	case *storagev1.StorageClass:
		if a.Fix.Action == "disable-expansion" {
			if o.AllowVolumeExpansion == nil || !*o.AllowVolumeExpansion {
				return skipf("StorageClass %s no longer allows volume expansion", o.Name)
			}
			return nil
		}
	case *corev1.PersistentVolumeClaim:
		switch a.Fix.Action {
		case "raise-claim-request":
			return ap.checkRaisable(ctx, o, r)
		case "delete-claim-and-pv":
			if o.DeletionTimestamp != nil {
				return skipf("claim %s/%s is already being deleted", o.Namespace, o.Name)
			}
			return nil
		}
	case *appsv1.StatefulSet, *appsv1.Deployment, *appsv1.DaemonSet:
		if a.Fix.Action == "rollout-restart" {
			return nil // the claim's pending resize is pinned by Unchanged
		}
	case *corev1.Pod:
		if a.Fix.Action == "force-delete-pod" {
			return ap.checkPodOrphaned(ctx, o)
		}
	}
	return skipf("this auditor does not know how to check action %s on %s", a.Fix.Action, r.Step.Target.ObjectRef)
}

// checkReservable: still Available with no claimRef and reclaim policy Retain, and no
// claim exists under the placeholder's name (it would bind the PV).
func (ap *Applier) checkReservable(ctx context.Context, pv *corev1.PersistentVolume) error {
	switch {
	case pv.Spec.ClaimRef != nil:
		return skipf("PV %s already has a claimRef (%s/%s)", pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
	case pv.Status.Phase != corev1.VolumeAvailable:
		return skipf("PV %s is %s, no longer Available", pv.Name, pv.Status.Phase)
	case pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain:
		return skipf("PV %s's reclaim policy is %s, no longer Retain", pv.Name, pv.Spec.PersistentVolumeReclaimPolicy)
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	_, err := ap.Client.CoreV1().PersistentVolumeClaims(audit.ReservedNamespace).Get(rctx, pv.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking that no placeholder claim %s/%s exists: %w", audit.ReservedNamespace, pv.Name, err)
	}
	return skipf("a claim %s/%s exists and would bind PV %s: not reserved", audit.ReservedNamespace, pv.Name, pv.Name)
}

// checkPVUnclaimed: reclaim policy Retain and no claim refers to the PV. A PV deleted on
// its own (not after its claim) must also still be Released.
func (ap *Applier) checkPVUnclaimed(ctx context.Context, pv *corev1.PersistentVolume, afterClaim bool) error {
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		return skipf("PV %s's reclaim policy is %s, not Retain", pv.Name, pv.Spec.PersistentVolumeReclaimPolicy)
	}
	if !afterClaim && pv.Status.Phase != corev1.VolumeReleased {
		return skipf("PV %s is %s, no longer Released", pv.Name, pv.Status.Phase)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return nil
	}
	if afterClaim && ap.DryRun {
		return nil // the claim was only deleted in a dry run: it still refers to the PV
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	pvc, err := ap.Client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(rctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking that claim %s/%s no longer refers to PV %s: %w", ref.Namespace, ref.Name, pv.Name, err)
	case ref.UID != "" && ref.UID != pvc.UID:
		return nil // a new claim of the same name: not this PV's
	}
	return skipf("claim %s/%s still refers to PV %s", ref.Namespace, ref.Name, pv.Name)
}

// checkRaisable: the claim is Bound, asks for less than the target, and its class still
// allows expansion.
func (ap *Applier) checkRaisable(ctx context.Context, pvc *corev1.PersistentVolumeClaim, r Request) error {
	want, err := patchedStorage(r.Step.Patch)
	if err != nil {
		return err
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return skipf("claim %s/%s is %s, not Bound", pvc.Namespace, pvc.Name, pvc.Status.Phase)
	}
	if have, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok && have.Cmp(want) >= 0 {
		return skipf("claim %s/%s already requests %s (never shrunk)", pvc.Namespace, pvc.Name, have.String())
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	sc, err := ap.Client.StorageV1().StorageClasses().Get(rctx, class, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return skipf("claim %s/%s's StorageClass %q no longer exists", pvc.Namespace, pvc.Name, class)
	case err != nil:
		return fmt.Errorf("reading StorageClass %s: %w", class, err)
	case sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion:
		return skipf("StorageClass %s no longer allows volume expansion", class)
	}
	return nil
}

// patchedStorage reads spec.resources.requests.storage from a raise-claim-request patch.
func patchedStorage(p *audit.FixPatch) (resource.Quantity, error) {
	var doc struct {
		Spec struct {
			Resources struct {
				Requests map[string]string `json:"requests"`
			} `json:"resources"`
		} `json:"spec"`
	}
	if p == nil {
		return resource.Quantity{}, fmt.Errorf("raise-claim-request without a patch")
	}
	if err := json.Unmarshal([]byte(p.Data), &doc); err != nil {
		return resource.Quantity{}, fmt.Errorf("raise-claim-request patch: %v", err)
	}
	q, err := resource.ParseQuantity(doc.Spec.Resources.Requests["storage"])
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("raise-claim-request patch: storage request: %v", err)
	}
	return q, nil
}

// checkPodOrphaned: the pod's node still does not exist, and no finalizer would keep the
// pod anyway (a grace-0 delete does not clear them).
func (ap *Applier) checkPodOrphaned(ctx context.Context, pod *corev1.Pod) error {
	if len(pod.Finalizers) > 0 {
		return skipf("pod %s/%s has finalizers (%s), which a force delete does not clear", pod.Namespace, pod.Name, strings.Join(pod.Finalizers, ", "))
	}
	if pod.Spec.NodeName == "" {
		return skipf("pod %s/%s is bound to no node", pod.Namespace, pod.Name)
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	_, err := ap.Client.CoreV1().Nodes().Get(rctx, pod.Spec.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking that node %s is still gone: %w", pod.Spec.NodeName, err)
	}
	return skipf("node %s exists again", pod.Spec.NodeName)
}
