package catalog

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvcPending = &rules.Rule{
	ID:       "pvc-pending",
	Title:    "PersistentVolumeClaim stuck in phase Pending",
	Action:   "Read kubectl describe pvc: fix the class, provisioner, capacity or topology it waits for",
	Severity: audit.Warning,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumeClaims, snapshot.StorageClasses},
	Optional: []snapshot.Kind{snapshot.Pods, snapshot.Events},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "10m",
		Doc: "how long a claim may stay Pending (from its creation, or from its first consumer pod with a WaitForFirstConsumer class) before it is reported"}},
	Doc: `A claim stays **Pending** until a PersistentVolume is bound to it: either an existing PV
that matches (class, size, access modes, selector) or one its StorageClass's provisioner
creates. A claim Pending longer than the grace period (default 10m) means provisioning or
binding is failing: the provisioner is down or refuses (quota, invalid parameters, no
capacity in the zone), the class does not exist, or — for ` + "`storageClassName: \"\"`" + ` — no
static PV matches. The PV controller and the provisioner record ` + "`ProvisioningFailed`" + ` /
` + "`FailedBinding`" + ` events; the finding quotes the latest one.

Not reported: claims of a class with ` + "`volumeBindingMode: WaitForFirstConsumer`" + ` that no
scheduled pod uses yet — they are *meant* to wait. Such a claim is judged once provisioning
has started: a (non-terminated) pod using it has a node (` + "`spec.nodeName`" + `), the scheduler has
picked one (annotation ` + "`volume.kubernetes.io/selected-node`" + ` on the claim), or a
` + "`ProvisioningFailed`" + ` event is left on the claim. Pods that use it but cannot be scheduled at
all (CPU, taints, affinity: see their ` + "`FailedScheduling`" + ` events; the claim shows
` + "`WaitForPodScheduled`" + `) are a scheduling problem, not a storage one. Once judged, the grace
period counts from the oldest such pod's creation. When pods could not be read,
WaitForFirstConsumer claims are not judged at all.

**Why it matters.** Every pod using the claim stays Pending; a StatefulSet stops rolling out.

**How to fix by hand.**
- Read the reason: ` + "`kubectl describe pvc <claim> -n <ns>`" + ` (Events at the bottom).
- Check the provisioner: ` + "`kubectl get storageclass <class> -o jsonpath='{.provisioner}'`" + `, then
  its controller's logs, e.g. ` + "`kubectl logs -n kube-system deploy/<csi-controller> -c csi-provisioner`" + `.
- Missing class: create it, or re-create the claim with an existing class
  (` + "`storageClassName`" + ` is immutable).
- Static binding (` + "`storageClassName: \"\"`" + `): create a PV that matches, or pre-bind one with
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"claimRef\":{\"namespace\":\"<ns>\",\"name\":\"<claim>\"}}}'`" + `.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		for _, pvc := range snap.PersistentVolumeClaims {
			if pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
				continue
			}
			class, classSet := snapshot.ClaimClassSet(pvc)
			sc := snap.StorageClass(class)
			age := snapshot.CreationAge(pvc)
			var consumers []*corev1.Pod
			if snap.Loaded(snapshot.Pods) {
				for _, pod := range snap.PodsUsingClaim(pvc.Namespace, pvc.Name) {
					if !snapshot.PodTerminated(pod) {
						consumers = append(consumers, pod)
					}
				}
				sort.Slice(consumers, func(i, j int) bool { return consumers[i].Name < consumers[j].Name })
			}
			if snapshot.WaitForFirstConsumer(sc) {
				if !snap.Loaded(snapshot.Pods) || len(consumers) == 0 {
					continue // waiting for its first pod, as designed (or we cannot tell)
				}
				// Provisioning starts once the scheduler picks a node (it sets the
				// selected-node annotation). Consumers that are all unscheduled, with no
				// node selected and no failed provisioning attempt on record, wait for CPU,
				// taints, affinity…: a scheduling problem, not a storage one.
				if !wffcProvisioningStarted(snap, pvc, consumers) {
					continue
				}
				// Provisioning starts when the first consumer is scheduled: count from the
				// oldest consumer if it is younger than the claim.
				first := consumers[0]
				for _, pod := range consumers[1:] {
					if pod.CreationTimestamp.Before(&first.CreationTimestamp) {
						first = pod
					}
				}
				if first.CreationTimestamp.After(age.Since) {
					age = snapshot.Age{Since: first.CreationTimestamp.Time,
						Source: "creationTimestamp of pod " + first.Name + " (first consumer; WaitForFirstConsumer class)"}
				}
			}
			if age.Duration(p.Now) < grace {
				continue
			}
			d := claimFacts(pvc)
			addAge(d, "pendingFor", age, p.Now)
			d["grace"] = grace.String()
			if len(consumers) > 0 {
				d["usedBy"] = podNameList(consumers)
			}
			if n := pvc.Annotations[snapshot.SelectedNodeAnnotation]; n != "" {
				d["selectedNode"] = n
			}
			if sc != nil {
				d["provisioner"] = sc.Provisioner
				d["volumeBindingMode"] = "Immediate"
				if sc.VolumeBindingMode != nil {
					d["volumeBindingMode"] = string(*sc.VolumeBindingMode)
				}
			}
			var next string
			switch {
			case class != "" && sc == nil:
				d["storageClassExists"] = "false"
				next = fmt.Sprintf("StorageClass %q does not exist: create it or re-create the claim with an existing class", class)
			case classSet && class == "":
				next = "it asks for static binding (storageClassName \"\"): create a matching PV or re-create the claim with a StorageClass"
			case !classSet:
				next = "it names no StorageClass and none was defaulted: mark a class as default or re-create the claim with storageClassName set"
			default:
				next = fmt.Sprintf("check provisioner %s and its controller's logs", sc.Provisioner)
			}
			why := "no ProvisioningFailed or FailedBinding event is left to say why"
			evs := snap.EventsFor("PersistentVolumeClaim", pvc.Namespace, pvc.Name, string(pvc.UID))
			if e := eventDetail(d, evs, "ProvisioningFailed", "FailedBinding"); e != nil {
				why = e.Reason + ": " + e.Message
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc),
				Message: fmt.Sprintf("claim %s/%s (%s) has been Pending for %s (%s); %s",
					pvc.Namespace, pvc.Name, d["request"], d["pendingFor"], why, next),
				Details: d,
			})
		}
		return nil
	},
}

// wffcProvisioningStarted reports whether provisioning of a WaitForFirstConsumer claim has
// begun: a consumer pod has a node, the scheduler selected one for the claim, or a
// provisioner recorded a failed attempt.
func wffcProvisioningStarted(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim, consumers []*corev1.Pod) bool {
	if pvc.Annotations[snapshot.SelectedNodeAnnotation] != "" {
		return true
	}
	for _, pod := range consumers {
		if pod.Spec.NodeName != "" {
			return true
		}
	}
	for _, e := range snap.EventsFor("PersistentVolumeClaim", pvc.Namespace, pvc.Name, string(pvc.UID)) {
		if e.Reason == "ProvisioningFailed" {
			return true
		}
	}
	return false
}
