package catalog

import (
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// The fixes rules propose (audit.Fix): data built from the snapshot objects the finding is
// about, with the resourceVersion the audit read. pkg/fix plans and applies them; the
// kubectl line is what a person would type instead.

// fixTarget names o as the audit saw it.
func fixTarget(kind snapshot.Kind, o metav1.Object) audit.FixTarget {
	return audit.FixTarget{ObjectRef: rules.Ref(kind, o), ResourceVersion: o.GetResourceVersion()}
}

// mergePatch encodes a JSON merge patch (map keys sorted, so fixtures are stable).
func mergePatch(doc map[string]any) *audit.FixPatch {
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("fix patch does not encode: %v", err)) // maps of strings and bools always do
	}
	return &audit.FixPatch{Type: audit.MergePatch, Data: string(b)}
}

// kubectlPatch is the kubectl line that sends patch p to an object.
func kubectlPatch(resource string, ref audit.ObjectRef, p *audit.FixPatch) string {
	return fmt.Sprintf("kubectl patch %s %s%s --type merge -p '%s'", resource, ref.Name, nsFlag(ref.Namespace), p.Data)
}

func nsFlag(ns string) string {
	if ns == "" {
		return ""
	}
	return " -n " + ns
}

// reservePVFix takes an Available Retain PV out of circulation: a claimRef without UID
// naming a claim that nobody creates (storage-semantics §1: pre-binding) keeps the PV
// Available but bindable by that claim only.
func reservePVFix(pv *corev1.PersistentVolume) audit.Fix {
	placeholder := audit.ReservedNamespace + "/" + pv.Name
	p := mergePatch(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{audit.ReservedForAnnotation: placeholder}},
		"spec": map[string]any{"claimRef": map[string]any{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": audit.ReservedNamespace, "name": pv.Name}},
	})
	t := fixTarget(snapshot.PersistentVolumes, pv)
	return audit.Fix{
		Action: "reserve-pv",
		Safety: audit.Safe,
		Description: fmt.Sprintf("Reserve PV %s for the placeholder claim %s, which nothing creates: no new claim can bind it and its data, which stays untouched; `auditor fix release-pv %s` undoes it.",
			pv.Name, placeholder, pv.Name),
		Steps:   []audit.FixStep{{Target: t, Patch: p}},
		Kubectl: kubectlPatch("pv", t.ObjectRef, p),
	}
}

// disableExpansionFix stops a class from promising expansion it cannot deliver.
// allowVolumeExpansion is the one mutable field of a StorageClass besides its metadata.
func disableExpansionFix(sc *storagev1.StorageClass) audit.Fix {
	p := mergePatch(map[string]any{
		"allowVolumeExpansion": false,
		"metadata":             map[string]any{"annotations": map[string]any{audit.PreviousAllowVolumeExpansionAnnotation: "true"}},
	})
	t := fixTarget(snapshot.StorageClasses, sc)
	return audit.Fix{
		Action: "disable-expansion",
		Safety: audit.Safe,
		Description: fmt.Sprintf("Set allowVolumeExpansion: false on StorageClass %s (the old value is kept in the annotation %s): claims that ask for more are refused at once instead of waiting forever; existing volumes are not touched. If Helm or GitOps manages the class, change it there too, or the next sync sets it back.",
			sc.Name, audit.PreviousAllowVolumeExpansionAnnotation),
		Steps:   []audit.FixStep{{Target: t, Patch: p}},
		Kubectl: kubectlPatch("storageclass", t.ObjectRef, p),
	}
}

// raiseClaimFix raises a StatefulSet claim's request to its template's size. The caller
// has checked that the claim is Bound, smaller than size, and that its class expands.
func raiseClaimFix(pvc *corev1.PersistentVolumeClaim, size resource.Quantity, st *appsv1.StatefulSet, sc *storagev1.StorageClass) audit.Fix {
	req, _ := snapshot.ClaimRequest(pvc)
	p := mergePatch(map[string]any{"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": size.String()}}}})
	t := fixTarget(snapshot.PersistentVolumeClaims, pvc)
	return audit.Fix{
		Action: "raise-claim-request",
		Safety: audit.Safe,
		Description: fmt.Sprintf("Raise claim %s/%s's request from %s to its template's %s (class %s expands volumes): the driver grows the volume, the data stays; a claim cannot shrink afterwards.",
			pvc.Namespace, pvc.Name, req.String(), size.String(), sc.Name),
		Steps:     []audit.FixStep{{Target: t, Patch: p}},
		Unchanged: []audit.FixTarget{fixTarget(snapshot.StatefulSets, st), fixTarget(snapshot.StorageClasses, sc)},
		Kubectl:   kubectlPatch("pvc", t.ObjectRef, p),
	}
}

// rolloutRestartFix restarts a workload's pods the way `kubectl rollout restart` does:
// a new pod-template annotation, which the workload's controller rolls out under its
// update strategy.
func rolloutRestartFix(kind snapshot.Kind, w metav1.Object, pvc *corev1.PersistentVolumeClaim, now time.Time) audit.Fix {
	p := mergePatch(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{audit.RestartedAtAnnotation: now.UTC().Format(time.RFC3339)}}}}})
	t := fixTarget(kind, w)
	return audit.Fix{
		Action: "rollout-restart",
		Safety: audit.Disruptive,
		Description: fmt.Sprintf("Restart the pods of %s %s/%s (a rolling restart, as kubectl rollout restart does) so the kubelet finishes the file system resize of claim %s when the volume is mounted again.",
			kind, w.GetNamespace(), w.GetName(), pvc.Name),
		Steps:     []audit.FixStep{{Target: t, Patch: p}},
		Unchanged: []audit.FixTarget{fixTarget(snapshot.PersistentVolumeClaims, pvc)},
		Kubectl:   fmt.Sprintf("kubectl rollout restart %s/%s -n %s", kindResource(kind), w.GetName(), w.GetNamespace()),
	}
}

func kindResource(k snapshot.Kind) string {
	switch k {
	case snapshot.StatefulSets:
		return "statefulset"
	case snapshot.Deployments:
		return "deployment"
	case snapshot.DaemonSets:
		return "daemonset"
	}
	return k.Resource()
}

// restartableWorkload finds the workload whose rollout restarts pod: its StatefulSet,
// DaemonSet, or the Deployment of its ReplicaSet. Nil for bare pods, Jobs, ReplicaSets
// without a Deployment, workloads being deleted, and OnDelete update strategies (a new
// template annotation restarts nothing there).
func restartableWorkload(snap *snapshot.Snapshot, pod *corev1.Pod) (snapshot.Kind, metav1.Object) {
	ref := snapshot.ControllerOf(pod)
	if ref == nil {
		return "", nil
	}
	var kind snapshot.Kind
	var w metav1.Object
	switch ref.Kind {
	case "StatefulSet":
		kind = snapshot.StatefulSets
		if st := snap.StatefulSet(pod.Namespace, ref.Name); st != nil && st.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
			w = st
		}
	case "DaemonSet":
		kind = snapshot.DaemonSets
		if ds, ok := snap.Object(snapshot.DaemonSets, pod.Namespace, ref.Name).(*appsv1.DaemonSet); ok && ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
			w = ds
		}
	case "ReplicaSet":
		kind = snapshot.Deployments
		if rs, ok := snap.Object(snapshot.ReplicaSets, pod.Namespace, ref.Name).(*appsv1.ReplicaSet); ok {
			if dref := snapshot.ControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
				if d, ok := snap.Object(snapshot.Deployments, pod.Namespace, dref.Name).(*appsv1.Deployment); ok {
					w = d
				}
			}
		}
	}
	if w == nil || w.GetDeletionTimestamp() != nil || (ref.UID != "" && ref.Kind != "ReplicaSet" && ref.UID != w.GetUID()) {
		return "", nil
	}
	return kind, w
}

// deletePVStep deletes a Retain PV. After its claim was deleted by the step before, the
// PV controller releases it, which changes it: changedByPrevious.
func deletePVStep(pv *corev1.PersistentVolume, changedByPrevious bool) audit.FixStep {
	return audit.FixStep{Target: fixTarget(snapshot.PersistentVolumes, pv), Delete: &audit.FixDelete{}, ChangedByPrevious: changedByPrevious}
}

// pvDiskNote reminds that deleting a Retain PV object leaves the disk behind.
func pvDiskNote(pv *corev1.PersistentVolume) string {
	where := "the backing volume"
	if pv.Spec.CSI != nil {
		where = fmt.Sprintf("the backing volume (%s %s)", pv.Spec.CSI.Driver, pv.Spec.CSI.VolumeHandle)
	}
	return fmt.Sprintf("with reclaim policy Retain, deleting PV %s leaves %s in place: back it up if needed and delete it at the provider to stop paying for it", pv.Name, where)
}

// releasedPVFix deletes a Released Retain PV whose claim is gone.
func releasedPVFix(pv *corev1.PersistentVolume) audit.Fix {
	return audit.Fix{
		Action: "delete-claim-and-pv",
		Safety: audit.Destructive,
		Description: fmt.Sprintf("Delete PV %s, Released by its deleted claim %s: Kubernetes forgets the volume and its data; %s.",
			pv.Name, claimRefName(pv), pvDiskNote(pv)),
		Steps:   []audit.FixStep{deletePVStep(pv, false)},
		Kubectl: "kubectl delete pv " + pv.Name,
	}
}

func claimRefName(pv *corev1.PersistentVolume) string {
	if r := pv.Spec.ClaimRef; r != nil {
		return r.Namespace + "/" + r.Name
	}
	return "(none)"
}

// retainedClaimFix deletes a StatefulSet's leftover claim, then its PV when the PV's
// policy is Retain (a Delete PV goes with its claim, by the PV controller).
func retainedClaimFix(pvc *corev1.PersistentVolumeClaim, st *appsv1.StatefulSet, pv *corev1.PersistentVolume) audit.Fix {
	claim := fixTarget(snapshot.PersistentVolumeClaims, pvc)
	f := audit.Fix{
		Action:    "delete-claim-and-pv",
		Safety:    audit.Destructive,
		Steps:     []audit.FixStep{{Target: claim, Delete: &audit.FixDelete{}}},
		Unchanged: []audit.FixTarget{fixTarget(snapshot.StatefulSets, st)},
		Kubectl:   fmt.Sprintf("kubectl delete pvc %s -n %s", pvc.Name, pvc.Namespace),
	}
	what := fmt.Sprintf("Delete claim %s/%s, which StatefulSet %s would re-attach with its stale data on scale-up", pvc.Namespace, pvc.Name, st.Name)
	switch {
	case pv != nil && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain:
		f.Steps = append(f.Steps, deletePVStep(pv, true))
		f.Kubectl += " && kubectl delete pv " + pv.Name
		f.Description = fmt.Sprintf("%s, then its PV %s once no claim refers to it: the data is gone for Kubernetes; %s.", what, pv.Name, pvDiskNote(pv))
	case pv != nil && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		f.Description = fmt.Sprintf("%s: its PV %s has reclaim policy Delete, so the volume and its data are deleted with it.", what, pv.Name)
	case pvc.Spec.VolumeName != "":
		f.Description = fmt.Sprintf("%s: what happens to its volume %s depends on the PV's reclaim policy (Delete deletes the data with the claim, Retain keeps a Released PV), which this audit could not read.", what, pvc.Spec.VolumeName)
	default:
		f.Description = what + " (it has no volume)."
	}
	return f
}

// forceDeletePodFix deletes a pod of a missing node with grace period 0, which is what
// PodGC would have done. A StatefulSet pod waits (fix.podNodeMissingGrace) on evidence
// that its node has been gone for a while: force-deleting it while its old instance may
// still run gives two pods one identity.
func forceDeletePodFix(pod *corev1.Pod, started []snapshot.Age, finished bool) audit.Fix {
	t := fixTarget(snapshot.Pods, pod)
	why := "its controller can re-create it elsewhere and its volumes can attach there"
	if finished {
		why = "it has finished and holds nothing; only the object is left"
	}
	f := audit.Fix{
		Action: "force-delete-pod",
		Safety: audit.Destructive,
		Description: fmt.Sprintf("Force-delete pod %s/%s (grace period 0) bound to the missing node %s, as PodGC would: %s.",
			pod.Namespace, pod.Name, pod.Spec.NodeName, why),
		Steps:   []audit.FixStep{{Target: t, Delete: &audit.FixDelete{GracePeriodSeconds: new(int64)}}},
		Kubectl: fmt.Sprintf("kubectl delete pod %s -n %s --grace-period=0 --force", pod.Name, pod.Namespace),
	}
	if sts := snapshot.PodStatefulSet(pod); sts != "" {
		f.Description += fmt.Sprintf(" StatefulSet %s's pod is only deleted once node %s has been gone longer than the fix grace (fix.podNodeMissingGrace): if the machine still runs, two pods would share one identity.", sts, pod.Spec.NodeName)
		f.Wait = &audit.FixWait{For: "node " + pod.Spec.NodeName + " to have been gone longer than the fix grace"}
		// The earliest evidence dates the node's disappearance best (PodGC acts only
		// after the node has been missing for about 40 s).
		for _, a := range started {
			if f.Wait.Since == nil || a.Since.Before(*f.Wait.Since) {
				since := a.Since.UTC()
				f.Wait.Since, f.Wait.Source = &since, a.Source
			}
		}
	}
	return f
}
