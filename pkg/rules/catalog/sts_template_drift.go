package catalog

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var stsTemplateDrift = &rules.Rule{
	ID:       "sts-template-drift",
	Title:    "StatefulSet volumeClaimTemplate differs from the claims it created",
	Action:   "Re-create the StatefulSet with --cascade=orphan and the intended template",
	Severity: audit.Warning,
	Category: rules.Workload,
	Reads:    []snapshot.Kind{snapshot.StatefulSets, snapshot.PersistentVolumeClaims},
	Optional: []snapshot.Kind{snapshot.StorageClasses, snapshot.PersistentVolumes, snapshot.Pods, snapshot.Leases},
	Doc: `A StatefulSet creates one claim per ordinal and volumeClaimTemplate,
` + "`<template>-<statefulset>-<ordinal>`" + `, and then never touches it again: the controller does
not reconcile an existing claim's size or class with the template. This rule compares the
template's ` + "`spec.resources.requests.storage`" + ` (with ` + "`Quantity.Cmp`" + `) and, when the template names
one, its ` + "`storageClassName`" + ` with the ` + "`spec`" + ` of the existing claims of the **live** ordinals
(` + "`spec.ordinals.start`" + ` … start+replicas-1). One finding per StatefulSet and template lists
every drifting claim.

Drift appears in two ways:
- claims were expanded by hand (` + "`kubectl patch pvc`" + `) but the template still has the old
  size: the next scale-up, or a claim re-created after a disk loss, gets the **old, smaller
  size**;
- the StatefulSet was re-created with a bigger template but the existing claims were never
  patched: the template promises space the pods do not have.

A template class that differs from the claims' class cannot be fixed on the claims (the class
of a claim is immutable): only new ordinals get the new class.

Not reported: claims whose request matches but whose ` + "`status.capacity`" + ` lags behind (an expansion
in progress or failing — the expansion rules judge that); claims of ordinals outside the live
range (see ` + "`sts-retained-ordinal`" + `); templates without ` + "`storageClassName`" + ` are not compared by class
(their claims got whatever the default class was).

**Why it matters.** volumeClaimTemplates cannot be changed in place in any Kubernetes release:
` + "`kubectl apply`" + ` fails with ` + "`spec: Forbidden: updates to statefulset spec for fields other than ...`" + `
and Helm with ` + "`UPGRADE FAILED: cannot patch \"<sts>\" with kind StatefulSet`" + `.

**How to fix by hand** (the standard procedure):
1. Check the class really expands (` + "`kubectl get storageclass <class> -o jsonpath='{.allowVolumeExpansion}'`" + `
   and the rule ` + "`sc-expansion-unsupported`" + `).
2. Patch every claim and wait for ` + "`status.capacity`" + `:
   ` + "`kubectl patch pvc <tpl>-<sts>-<i> -n <ns> -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"<size>\"}}}}'`" + `
3. Delete the StatefulSet but keep its pods and claims:
   ` + "`kubectl delete statefulset <sts> -n <ns> --cascade=orphan`" + `
4. Re-create it with the new template (same selector, serviceName and podManagementPolicy):
   ` + "`kubectl apply -f <sts>.yaml`" + ` — it adopts the pods and claims.
5. Restart pods only where the file system resize waits for it (` + "`FileSystemResizePending`" + `).

Risks: while the StatefulSet is gone nothing re-creates failed pods; a GitOps tool may
re-create the old spec; a delete without ` + "`--cascade=orphan`" + ` removes the claims when
` + "`whenDeleted: Delete`" + `; claims cannot shrink.

**Fix** (` + "`auditor run --fix`" + `, safe): raises the request of each listed claim that is smaller
than the template to the template's size — step 2 above — when the claim is Bound and its
class really expands: ` + "`allowVolumeExpansion: true`" + ` and nothing ` + "`sc-expansion-unsupported`" + `
would report (a hostPath, local or NFS volume, a provisioner that never expands, a CSI driver
without resizer; PersistentVolumes, pods and Leases are read for that verdict). Claims are
never shrunk, and claims larger than the template are left alone. Applied only while the
claim, its StatefulSet and its StorageClass are unchanged since the audit and the request is
still below the target. The StatefulSet itself is not re-created: that is steps 3–4.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		blockers := snapshot.ClassBlockers{}
		for _, st := range snap.StatefulSets {
			if st.DeletionTimestamp != nil {
				continue
			}
			start, n := snapshot.OrdinalStart(st), snapshot.Replicas(st)
			for ti := range st.Spec.VolumeClaimTemplates {
				tpl := &st.Spec.VolumeClaimTemplates[ti]
				tplReq, tplHasReq := snapshot.ClaimRequest(tpl)
				tplClass, tplHasClass := snapshot.ClaimClassSet(tpl)
				var drift, sizeDrift, classDrift []string
				var fixes []audit.Fix
				live, larger := 0, 0
				requests := map[string]bool{}
				classes := map[string]bool{}
				for i := start; i < start+n; i++ {
					pvc := snap.PVC(st.Namespace, snapshot.StatefulSetClaimName(tpl.Name, st.Name, i))
					if pvc == nil || pvc.DeletionTimestamp != nil {
						continue
					}
					live++
					req, hasReq := snapshot.ClaimRequest(pvc)
					class := snapshot.ClaimClass(pvc)
					sizeDiff := tplHasReq && hasReq && req.Cmp(tplReq) != 0
					classDiff := tplHasClass && class != tplClass
					if !sizeDiff && !classDiff {
						continue
					}
					desc := pvc.Name + ": " + storageOf(pvc.Spec.Resources.Requests)
					if classDiff {
						desc += fmt.Sprintf(" class %q", class)
						classDrift = append(classDrift, pvc.Name)
					}
					if sizeDiff {
						if req.Cmp(tplReq) > 0 {
							larger++
						} else if sc := expandingClass(snap, pvc, blockers); sc != nil {
							fixes = append(fixes, raiseClaimFix(pvc, tplReq, st, sc))
						}
						sizeDrift = append(sizeDrift, pvc.Name)
						requests[req.String()] = true
						classes[class] = true
					}
					drift = append(drift, desc)
				}
				if len(drift) == 0 {
					continue
				}
				d := map[string]string{
					"statefulSet":     st.Namespace + "/" + st.Name,
					"template":        tpl.Name,
					"templateRequest": storageOf(tpl.Spec.Resources.Requests),
					"templateClass":   tplClass,
					"liveOrdinals":    snapshot.OrdinalRange(st),
					"driftingClaims":  strconv.Itoa(len(drift)) + " of " + strconv.Itoa(live),
					"claims":          joinFirstN(drift, 10),
				}
				if !tplHasClass {
					d["templateClass"] = "unset (claims got the default class)"
				}
				var parts []string
				fix := "patch each claim to the intended size and wait for status.capacity, then"
				if len(sizeDrift) == 0 {
					fix = "migrate the data to claims of the new class, or put the claims' class back into the template with"
				}
				if len(sizeDrift) > 0 {
					d["claimRequest"] = strings.Join(sortedMapKeys(requests), ", ")
					var exp, expMsg []string
					for _, c := range sortedMapKeys(classes) {
						exp = append(exp, fmt.Sprintf("%s: %s", c, classExpansionFlag(snap, c)))
						expMsg = append(expMsg, fmt.Sprintf("class %s allowVolumeExpansion: %s", c, classExpansionFlag(snap, c)))
					}
					d["allowVolumeExpansion"] = strings.Join(exp, "; ")
					expansion := strings.Join(expMsg, "; ")
					switch {
					case larger == len(sizeDrift):
						parts = append(parts, fmt.Sprintf("requests %s but claim(s) %s were expanded to %s: new ordinals and re-created claims get only %s",
							d["templateRequest"], joinFirstN(sizeDrift, 5), d["claimRequest"], d["templateRequest"]))
						fix = "to make the template match,"
					case larger == 0:
						parts = append(parts, fmt.Sprintf("requests %s but claim(s) %s still request %s: the controller never resizes existing claims (%s)",
							d["templateRequest"], joinFirstN(sizeDrift, 5), d["claimRequest"], expansion))
						switch classesExpandable(snap, classes) {
						case "yes":
							fix = fmt.Sprintf("patch each listed claim to %s and wait for status.capacity; any further template change needs", d["templateRequest"])
						case "no":
							fix = fmt.Sprintf("the claims' class does not allow expansion, so patching them is rejected: migrate the data to larger claims, or revert the template to %s with", d["claimRequest"])
						default:
							fix = fmt.Sprintf("if the claims' class really expands, patch each listed claim to %s and wait for status.capacity; any further template change needs", d["templateRequest"])
						}
					default:
						parts = append(parts, fmt.Sprintf("requests %s but claim(s) %s request %s (%s)",
							d["templateRequest"], joinFirstN(sizeDrift, 5), d["claimRequest"], expansion))
					}
				}
				if len(classDrift) > 0 {
					note := ""
					if snap.Loaded(snapshot.StorageClasses) && snap.StorageClass(tplClass) == nil {
						d["templateClassExists"] = "false"
						note = " (and that class does not exist: claims of new ordinals would stay Pending)"
					}
					parts = append(parts, fmt.Sprintf("names class %q but claim(s) %s use another class, which cannot be changed on an existing claim%s",
						tplClass, joinFirstN(classDrift, 5), note))
				}
				p.Report(audit.Finding{
					Object: rules.Ref(snapshot.StatefulSets, st),
					// A new template size or class is a new drift, not the old one still open.
					Fact: tpl.Name + "=" + d["templateRequest"] + "/" + tplClass,
					Message: fmt.Sprintf("StatefulSet %s/%s: volumeClaimTemplate %q %s; volumeClaimTemplates cannot be changed in place: %s `kubectl delete statefulset %s -n %s --cascade=orphan` and re-create it with the intended template (pods and claims are adopted)",
						st.Namespace, st.Name, tpl.Name, strings.Join(parts, "; it also "), fix, st.Name, st.Namespace),
					Details: d,
					Fixes:   fixes,
				})
			}
		}
		return nil
	},
}

// expandingClass returns the class of a Bound claim when the claim can be expanded: the
// class allows it and neither the class nor the claim's volume is one that
// sc-expansion-unsupported (or pvc-expansion-ignored) reports as never expanding. Nil
// otherwise, including when StorageClasses were not read.
func expandingClass(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim, blockers snapshot.ClassBlockers) *storagev1.StorageClass {
	if pvc.Status.Phase != corev1.ClaimBound || classExpansionFlag(snap, snapshot.ClaimClass(pvc)) != "true" {
		return nil
	}
	if snap.ClaimExpansionBlocker(pvc, blockers) != nil {
		return nil
	}
	return snap.StorageClass(snapshot.ClaimClass(pvc))
}

// classesExpandable says whether every class in classes allows expansion: "yes", "no" (one
// forbids it) or "unknown" (a class is missing or StorageClasses were not read).
func classesExpandable(snap *snapshot.Snapshot, classes map[string]bool) string {
	out := "yes"
	for c := range classes {
		switch classExpansionFlag(snap, c) {
		case "true":
		case "false", "unset (expansion not allowed)":
			return "no"
		default:
			out = "unknown"
		}
	}
	return out
}
