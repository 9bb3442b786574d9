package catalog

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var stsRetainedOrdinal = &rules.Rule{
	ID:       "sts-retained-ordinal",
	Title:    "StatefulSet claim kept for an ordinal outside the live range",
	Action:   "Delete the claim (after a backup) before scaling up, or it re-attaches old data",
	Severity: audit.Warning,
	Category: rules.Workload,
	Reads:    []snapshot.Kind{snapshot.StatefulSets, snapshot.PersistentVolumeClaims},
	Optional: []snapshot.Kind{snapshot.PersistentVolumes},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "10m",
		Doc: "with whenScaled: Delete, how long a claim outside the live ordinals may linger before it is reported"}},
	Doc: `A StatefulSet keeps the claims of the ordinals it scales away
(` + "`persistentVolumeClaimRetentionPolicy.whenScaled: Retain`" + `, the default). A claim named
` + "`<template>-<statefulset>-<ordinal>`" + ` whose ordinal is outside the live range —
` + "`ordinal >= start + replicas`" + `, or ` + "`ordinal < start`" + ` with ` + "`spec.ordinals.start`" + ` — is such a leftover.

**Why it matters.** The next scale-up (or a lower ` + "`spec.ordinals.start`" + `) re-attaches the claim
**with its stale data** to the new pod — a replica that rejoins a cluster with months-old
state — and until then the disk is billed by its size.

Not reported:
- StatefulSets with ` + "`replicas: 0`" + `: a paused StatefulSet keeps all its data on purpose;
- StatefulSets being deleted;
- with ` + "`whenScaled: Delete`" + ` the controller deletes the claims of the pods it scales down: the
  claim is only reported when it is still there after the grace period (default 10m). Nothing
  records when a scale-down happened, so nothing is reported while the StatefulSet controller
  has not caught up (` + "`status.observedGeneration`" + ` behind ` + "`metadata.generation`" + `, or
  ` + "`status.replicas`" + ` above ` + "`spec.replicas`" + `: pods are still being removed, and their claims
  with them), and the grace is measured from the claim's ` + "`deletionTimestamp`" + ` when it is
  being deleted, else from its ` + "`creationTimestamp`" + `. The finding's
  ` + "`ageSource`" + ` says which timestamp was used. The controller only deletes claims of pods it scales
  down itself: claims left over from before the policy was switched to Delete stay forever.
- with ` + "`whenScaled: Retain`" + `, a claim already being deleted, within the grace period.

**How to fix by hand.**
- Data not needed: ` + "`kubectl delete pvc <tpl>-<sts>-<ordinal> -n <ns>`" + `. With PV reclaim policy
  ` + "`Delete`" + ` the disk goes too; with ` + "`Retain`" + ` the PV stays Released (see ` + "`pv-released-retained`" + `).
- Data needed later but not on scale-up: back it up (VolumeSnapshot) first, then delete.
- Kept on purpose (e.g. a planned scale-up that must reuse the data):
  ` + "`kubectl annotate pvc <claim> -n <ns> storage-auditor.dev/ignore='sts-retained-ordinal: <why>'`" + `.
- To stop collecting leftovers: ` + "`kubectl patch statefulset <sts> -n <ns> -p '{\"spec\":{\"persistentVolumeClaimRetentionPolicy\":{\"whenScaled\":\"Delete\"}}}'`" + `.

**Fix** (` + "`auditor run --fix --allow destructive`" + ` with the rule in the config's ` + "`fix.allow`" + `,
destructive): deletes the claim (not one already being deleted), with its UID and
resourceVersion as preconditions, only while the claim and its StatefulSet are unchanged since
the audit — a StatefulSet scaled up meanwhile skips it. When the claim's PV has reclaim policy
Retain, the PV is deleted next, once the claim is gone and no claim refers to the PV (its
resourceVersion changes when the PV controller releases it, so its UID, policy and claim are
checked again instead); the disk at the provider survives a Retain PV and must be deleted
there. A Delete PV is removed with its data by the PV controller.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		for _, pvc := range snap.PersistentVolumeClaims {
			st, tpl, ord, ok := snap.RetainedOrdinal(pvc) // shared with `auditor preflight scale`
			if !ok {
				continue
			}
			policy := snapshot.WhenScaled(st)
			d := map[string]string{
				"statefulSet":  st.Namespace + "/" + st.Name,
				"template":     tpl,
				"ordinal":      strconv.Itoa(ord),
				"liveOrdinals": snapshot.OrdinalRange(st),
				"replicas":     strconv.Itoa(snapshot.Replicas(st)),
				"whenScaled":   string(policy),
				"phase":        string(pvc.Status.Phase),
				"request":      storageOf(pvc.Spec.Resources.Requests),
				"capacity":     storageOf(pvc.Status.Capacity),
				"storageClass": snapshot.ClaimClass(pvc),
				"volumeName":   pvc.Spec.VolumeName,
			}
			if pvc.Spec.VolumeName == "" {
				d["volumeName"] = "none"
			}
			pvNote := ""
			if snap.Loaded(snapshot.PersistentVolumes) {
				if pv := snap.BoundPV(pvc); pv != nil {
					d["pvReclaimPolicy"] = string(pv.Spec.PersistentVolumeReclaimPolicy)
					if q, ok := snapshot.PVCapacity(pv); ok {
						d["pvCapacity"] = q.String()
					}
					switch pv.Spec.PersistentVolumeReclaimPolicy {
					case corev1.PersistentVolumeReclaimRetain:
						pvNote = fmt.Sprintf(" (its PV %s has reclaim policy Retain: it stays Released with the disk until deleted too)", pv.Name)
					case corev1.PersistentVolumeReclaimDelete:
						pvNote = fmt.Sprintf(" (its PV %s has reclaim policy Delete: the disk is deleted with it)", pv.Name)
					}
				}
			}
			size := d["capacity"]
			if size == "unset" {
				size = d["request"]
			}
			var msg string
			var pv *corev1.PersistentVolume
			if snap.Loaded(snapshot.PersistentVolumes) {
				pv = snap.BoundPV(pvc)
			}
			fixes := []audit.Fix{retainedClaimFix(pvc, st, pv)}
			switch {
			case policy == appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
				if snapshot.StatefulSetScaling(st) {
					continue // the controller is still scaling down; it deletes the claim itself
				}
				age := deleteWaitAge(pvc)
				if age.Duration(p.Now) < grace {
					continue
				}
				addAge(d, "lingeringFor", age, p.Now)
				d["grace"] = grace.String()
				how := fmt.Sprintf("still exists although whenScaled: Delete removes such claims (claim created %s ago; nothing records when the ordinal was scaled away)", d["lingeringFor"])
				if pvc.DeletionTimestamp != nil {
					d["finalizers"] = joinOrNone(pvc.Finalizers)
					how = fmt.Sprintf("has been terminating for %s (finalizers: %s) although whenScaled: Delete removes such claims", d["lingeringFor"], d["finalizers"])
				}
				msg = fmt.Sprintf("claim %s/%s (%s) of ordinal %d is outside StatefulSet %s's live ordinals %s and %s: the controller only deletes the claims of pods it scales down itself (claims left from before the policy changed stay), or the garbage collector or a finalizer blocks it; check its ownerReferences and finalizers, and if the data is not needed run `kubectl delete pvc %s -n %s`%s",
					pvc.Namespace, pvc.Name, size, ord, st.Name, d["liveOrdinals"], how, pvc.Name, pvc.Namespace, pvNote)
			case pvc.DeletionTimestamp != nil:
				age := snapshot.Age{Since: pvc.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp"}
				if age.Duration(p.Now) < grace {
					continue
				}
				addAge(d, "terminatingFor", age, p.Now)
				d["finalizers"] = joinOrNone(pvc.Finalizers)
				msg = fmt.Sprintf("claim %s/%s (%s) of ordinal %d is outside StatefulSet %s's live ordinals %s and has been terminating for %s: a pod still uses it (finalizer kubernetes.io/pvc-protection) or another finalizer blocks it; find the pod with `kubectl describe pvc %s -n %s`",
					pvc.Namespace, pvc.Name, size, ord, st.Name, d["liveOrdinals"], d["terminatingFor"], pvc.Name, pvc.Namespace)
			default:
				addAge(d, "age", snapshot.CreationAge(pvc), p.Now)
				trigger := fmt.Sprintf("scaling up to %d replicas", ord-snapshot.OrdinalStart(st)+1)
				if ord < snapshot.OrdinalStart(st) {
					trigger = fmt.Sprintf("lowering spec.ordinals.start to %d", ord)
				}
				msg = fmt.Sprintf("claim %s/%s (%s) is kept for ordinal %d of StatefulSet %s, which runs ordinals %s (whenScaled: Retain): %s re-attaches its stale data, and the disk is billed meanwhile; if the data is not needed run `kubectl delete pvc %s -n %s`%s, or annotate the claim to keep it on purpose",
					pvc.Namespace, pvc.Name, size, ord, st.Name, d["liveOrdinals"], trigger, pvc.Name, pvc.Namespace, pvNote)
			}
			if pvc.DeletionTimestamp != nil {
				fixes = nil // already being deleted: another delete changes nothing
			}
			p.Report(audit.Finding{Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc), Message: msg, Details: d, Fixes: fixes})
		}
		return nil
	},
}

// deleteWaitAge dates how long a claim outside the live ordinals of a whenScaled: Delete
// StatefulSet has been waiting to be deleted. Nothing records the scale-down (the
// StatefulSet controller sets no condition or timestamp; its status only says whether it
// has caught up, which the caller checks first), so it is the claim's deletionTimestamp when
// set, else its creationTimestamp: the claim existed at least that long.
func deleteWaitAge(pvc *corev1.PersistentVolumeClaim) snapshot.Age {
	if t := pvc.DeletionTimestamp; t != nil {
		return snapshot.Age{Since: t.Time, Source: "claim metadata.deletionTimestamp"}
	}
	return snapshot.Age{Since: pvc.CreationTimestamp.Time,
		Source: "claim creationTimestamp (no scale-down time is recorded; the StatefulSet controller has caught up with spec.replicas)"}
}
