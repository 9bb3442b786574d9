package catalog

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var scMissing = &rules.Rule{
	ID:       "sc-missing",
	Title:    "Claim or StatefulSet template names a StorageClass that does not exist",
	Action:   "Re-create the StorageClass, or re-create the claim or StatefulSet with an existing class",
	Severity: audit.Critical,
	Category: rules.Configuration,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumeClaims, snapshot.StorageClasses, snapshot.PersistentVolumes},
	Optional: []snapshot.Kind{snapshot.StatefulSets},
	Doc: `A claim's ` + "`spec.storageClassName`" + ` (or the legacy
` + "`volume.beta.kubernetes.io/storage-class`" + ` annotation), or a StatefulSet
volumeClaimTemplate's, names a StorageClass that does not exist. Kubernetes accepts such a
claim and leaves it **Pending** until a class of that name appears — usually a typo, a
class renamed during a migration (gp2 → gp3), or a chart written for another cloud.

Severity:
- **critical** for a claim that is not bound yet (it will never be provisioned), and for a
  StatefulSet whose current replicas miss a claim or wait on a Pending one;
- **warning** for a claim that is already bound (it keeps working, but the
  PersistentVolumeClaimResize admission plugin rejects every expansion because it cannot
  look the class up), and for a StatefulSet whose current claims all exist (the next
  scale-up, or a replica whose claim is deleted, hangs).

Not reported: ` + "`storageClassName: \"\"`" + ` (static binding to a PV without class), claims or
templates that name no class at all (they get the default class), and class names used only
as labels for static binding: a name that a PersistentVolume created by hand (one without
the ` + "`pv.kubernetes.io/provisioned-by`" + ` annotation) also carries, such as the common
` + "`storageClassName: manual`" + `. The PV controller binds such claims to those PVs without
looking the class up. A name carried only by dynamically provisioned PVs is still reported:
their class existed and was deleted.

**How to fix by hand.**
- See which classes exist: ` + "`kubectl get storageclass`" + `.
- Re-create the class under the missing name (same provisioner and parameters as the volumes
  that were made with it), or
- for a claim not yet bound, re-create it with an existing class (` + "`storageClassName`" + ` is
  immutable): ` + "`kubectl get pvc <claim> -n <ns> -o yaml > pvc.yaml`" + `, edit, ` + "`kubectl delete pvc <claim> -n <ns>`" + `, ` + "`kubectl apply -f pvc.yaml`" + `;
- for a StatefulSet, volumeClaimTemplates are immutable: ` + "`kubectl delete statefulset <sts> -n <ns> --cascade=orphan`" + `
  and re-create it with the corrected template (pods and claims are adopted).`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		existing := make([]string, 0, len(snap.StorageClasses))
		for _, sc := range snap.StorageClasses {
			existing = append(existing, sc.Name)
		}
		sort.Strings(existing)
		// Class names carried by hand-made PVs are static-binding placeholders, not
		// missing classes. Provisioned PVs do not count: their class was real once.
		placeholder := map[string]bool{}
		for _, pv := range snap.PersistentVolumes {
			if _, provisioned := pv.Annotations[snapshot.ProvisionedByAnnotation]; !provisioned && pv.Spec.StorageClassName != "" {
				placeholder[pv.Spec.StorageClassName] = true
			}
		}
		existingClasses := strings.Join(existing, ", ")
		if existingClasses == "" {
			existingClasses = "none"
		}
		for _, pvc := range snap.PersistentVolumeClaims {
			class, _ := snapshot.ClaimClassSet(pvc)
			if class == "" || snap.StorageClass(class) != nil || placeholder[class] || pvc.DeletionTimestamp != nil {
				continue
			}
			d := claimFacts(pvc)
			d["existingClasses"] = existingClasses
			addAge(d, "age", snapshot.CreationAge(pvc), p.Now)
			sev := audit.Critical
			msg := fmt.Sprintf("claim %s/%s names StorageClass %q, which does not exist, so it will never be provisioned: create the class or re-create the claim with an existing one",
				pvc.Namespace, pvc.Name, class)
			if pvc.Status.Phase == corev1.ClaimBound {
				sev = audit.Warning
				msg = fmt.Sprintf("claim %s/%s is bound but names StorageClass %q, which no longer exists: it cannot be expanded until a class of that name exists again; re-create the class (same provisioner and parameters)",
					pvc.Namespace, pvc.Name, class)
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc), Message: msg, Details: d, Fact: class})
		}
		if !snap.Loaded(snapshot.StatefulSets) {
			return nil
		}
		for _, st := range snap.StatefulSets {
			for i := range st.Spec.VolumeClaimTemplates {
				tpl := &st.Spec.VolumeClaimTemplates[i]
				class, _ := snapshot.ClaimClassSet(tpl)
				if class == "" || snap.StorageClass(class) != nil || placeholder[class] {
					continue
				}
				d := map[string]string{
					"template":        tpl.Name,
					"storageClass":    class,
					"replicas":        fmt.Sprint(snapshot.Replicas(st)),
					"existingClasses": existingClasses,
				}
				if q, ok := snapshot.ClaimRequest(tpl); ok {
					d["request"] = q.String()
				}
				var stuck []string
				start := snapshot.OrdinalStart(st)
				for o := start; o < start+snapshot.Replicas(st); o++ {
					name := fmt.Sprintf("%s-%s-%d", tpl.Name, st.Name, o)
					switch pvc := snap.PVC(st.Namespace, name); {
					case pvc == nil:
						stuck = append(stuck, name+" (missing)")
					case pvc.Status.Phase == corev1.ClaimPending:
						stuck = append(stuck, name+" (Pending)")
					}
				}
				sev := audit.Warning
				msg := fmt.Sprintf("StatefulSet %s/%s: volumeClaimTemplate %q names StorageClass %q, which does not exist: the claims of new replicas will stay Pending; re-create the class or re-create the StatefulSet (--cascade=orphan) with an existing one",
					st.Namespace, st.Name, tpl.Name, class)
				if len(stuck) > 0 {
					sev = audit.Critical
					d["stuckClaims"] = strings.Join(stuck, ", ")
					msg = fmt.Sprintf("StatefulSet %s/%s: volumeClaimTemplate %q names StorageClass %q, which does not exist, and replicas are waiting on claim %s: re-create the class or re-create the StatefulSet (--cascade=orphan) with an existing one",
						st.Namespace, st.Name, tpl.Name, class, stuck[0])
				}
				p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.StatefulSets, st), Message: msg, Details: d, Fact: tpl.Name + "/" + class})
			}
		}
		return nil
	},
}
