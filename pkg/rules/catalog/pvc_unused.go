package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvcUnused = &rules.Rule{
	ID:       "pvc-unused",
	Title:    "Bound PersistentVolumeClaim that no pod or workload uses",
	Action:   "Back up and delete the claim if nobody needs it, or annotate it to keep it",
	Severity: audit.Info,
	Category: rules.Cost,
	Reads: []snapshot.Kind{snapshot.PersistentVolumeClaims, snapshot.Pods, snapshot.StatefulSets,
		snapshot.Deployments, snapshot.ReplicaSets, snapshot.DaemonSets, snapshot.Jobs, snapshot.CronJobs},
	Optional: []snapshot.Kind{snapshot.PersistentVolumes},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "7d",
		Doc: "how long a claim must have been unused before it is reported"}},
	Doc: `A **Bound** claim that no pod (except finished ones) mounts and no workload's pod template
references — Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, or a CronJob's job
template — for longer than the grace period (default 7d). The disk behind it is billed by
its provisioned size whether anything reads it or not.

How long it has been unused: on clusters that set the claim's ` + "`Unused`" + ` condition (1.36+, alpha
gate ` + "`PersistentVolumeClaimUnusedSinceTime`" + `) its ` + "`lastTransitionTime`" + `; otherwise the newest of the
claim's ` + "`creationTimestamp`" + ` and the last container exit of a finished pod that used it. The
finding's ` + "`ageSource`" + ` says which; ` + "`creationTimestamp`" + ` overstates the idle time of a claim that was
used by pods that are gone now.

Not reported:
- claims that a StatefulSet's volumeClaimTemplate pattern ` + "`<template>-<sts>-<ordinal>`" + ` names,
  including those of a StatefulSet scaled to 0 (live data, kept on purpose) — claims above the
  replicas are ` + "`sts-retained-ordinal`" + `'s business;
- claims only a CronJob uses (between runs nothing mounts them);
- claims with ` + "`ownerReferences`" + ` (generic ephemeral volumes, operator-managed claims): their owner
  decides their lifetime and the garbage collector deletes them with it;
- claims whose ` + "`Unused`" + ` condition is False (the API server saw a pod using them);
- claims being deleted.

The rule needs pods and every workload kind: if one cannot be read it is skipped rather than
report claims as unused.

**How to fix by hand.** Find out who owned it (` + "`kubectl get pvc <claim> -n <ns> -o yaml`" + `:
labels, annotations such as ` + "`meta.helm.sh/release-name`" + `), then either
- back it up (VolumeSnapshot) if in doubt and delete it: ` + "`kubectl delete pvc <claim> -n <ns>`" + `
  (with PV reclaim policy ` + "`Delete`" + ` the disk goes too; with ` + "`Retain`" + ` the PV stays Released), or
- keep it on purpose:
  ` + "`kubectl annotate pvc <claim> -n <ns> storage-auditor.dev/ignore='pvc-unused: <why>'`" + `.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		for _, pvc := range snap.PersistentVolumeClaims {
			if pvc.Status.Phase != corev1.ClaimBound || pvc.DeletionTimestamp != nil || len(pvc.OwnerReferences) > 0 {
				continue
			}
			if _, _, _, ok := snap.StatefulSetClaim(pvc); ok {
				continue
			}
			if len(snap.WorkloadsUsingClaim(pvc.Namespace, pvc.Name)) > 0 {
				continue
			}
			used, lastPod := false, ""
			age := snapshot.Age{Since: pvc.CreationTimestamp.Time,
				Source: "creationTimestamp (no Unused condition; nothing records when the claim was last used)"}
			for _, pod := range snap.PodsUsingClaim(pvc.Namespace, pvc.Name) {
				if !snapshot.PodTerminated(pod) {
					used = true
					break
				}
				if t := snapshot.PodFinishedAt(pod); t.After(age.Since) {
					age = snapshot.Age{Since: t, Source: "last container exit of finished pod " + pod.Name}
					lastPod = pod.Name
				}
			}
			if used {
				continue
			}
			unused, known, since := snapshot.ClaimUnused(pvc)
			if known {
				if !unused {
					continue // the API server saw a non-terminal pod using it
				}
				age = snapshot.Age{Since: since, Source: "status.conditions[Unused].lastTransitionTime"}
				lastPod = ""
			}
			if age.Duration(p.Now) < grace {
				continue
			}
			d := map[string]string{
				"capacity":     storageOf(pvc.Status.Capacity),
				"request":      storageOf(pvc.Spec.Resources.Requests),
				"storageClass": snapshot.ClaimClass(pvc),
				"volumeName":   pvc.Spec.VolumeName,
				"grace":        grace.String(),
			}
			addAge(d, "unusedFor", age, p.Now)
			size := d["capacity"]
			if size == "unset" {
				size = d["request"]
			}
			pvNote := ""
			if snap.Loaded(snapshot.PersistentVolumes) {
				if pv := snap.BoundPV(pvc); pv != nil {
					d["pvReclaimPolicy"] = string(pv.Spec.PersistentVolumeReclaimPolicy)
					switch pv.Spec.PersistentVolumeReclaimPolicy {
					case corev1.PersistentVolumeReclaimDelete:
						pvNote = "; its PV has reclaim policy Delete, so the disk is deleted with it"
					case corev1.PersistentVolumeReclaimRetain:
						pvNote = "; its PV has reclaim policy Retain, so the disk stays until the PV is deleted too"
					}
				}
			}
			var how string
			switch {
			case known:
				how = fmt.Sprintf("has been unused for %s according to its Unused condition (Bound, no pod mounts it, no workload references it)", d["unusedFor"])
			case lastPod != "":
				how = fmt.Sprintf("has been unused for %s, since finished pod %s exited (Bound, no other pod mounts it, no workload references it)", d["unusedFor"], lastPod)
			default:
				how = fmt.Sprintf("is Bound but no pod mounts it and no workload references it; it was created %s ago and nothing records when it was last used", d["unusedFor"])
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc),
				Message: fmt.Sprintf("claim %s/%s (%s, class %q) %s: if the data is not needed, back it up and run `kubectl delete pvc %s -n %s`%s; to keep it, annotate it",
					pvc.Namespace, pvc.Name, size, d["storageClass"], how, pvc.Name, pvc.Namespace, pvNote),
				Details: d,
			})
		}
		return nil
	},
}
