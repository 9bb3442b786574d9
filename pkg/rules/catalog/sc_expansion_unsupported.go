package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var scExpansionUnsupported = &rules.Rule{
	ID:       "sc-expansion-unsupported",
	Title:    "StorageClass allows volume expansion but its volumes cannot be expanded",
	Action:   "Set allowVolumeExpansion: false on the class, or install a resizer for its provisioner",
	Severity: audit.Warning,
	Category: rules.Expansion,
	Reads: []snapshot.Kind{snapshot.StorageClasses, snapshot.PersistentVolumes, snapshot.PersistentVolumeClaims,
		snapshot.Pods, snapshot.Leases},
	Optional: []snapshot.Kind{snapshot.CSIDrivers},
	Doc: `The class says ` + "`allowVolumeExpansion: true`" + `, but nothing behind it can grow a volume.
The API server only checks that boolean when a claim's request is raised; nobody checks that
the provisioner can expand. The resize is accepted and then never happens: the claim keeps
asking for more than it has (see ` + "`pvc-expansion-ignored`" + `).

Reported when:
- the provisioner is known never to expand: ` + "`rancher.io/local-path`" + `,
  ` + "`k8s-sigs.io/nfs-subdir-external-provisioner`" + `, ` + "`kubernetes.io/no-provisioner`" + `,
  ` + "`microk8s.io/hostpath`" + `, ` + "`openebs.io/local`" + `, ` + "`k8s.io/minikube-hostpath`" + `,
  ` + "`docker.io/hostpath`" + `, ` + "`kubernetes.io/host-path`" + ` (the local-path and nfs-subdir Helm charts
  set ` + "`allowVolumeExpansion: true`" + ` anyway);
- every PersistentVolume of the class is a ` + "`hostPath`" + `, ` + "`local`" + ` or ` + "`nfs`" + ` volume — this
  catches the same provisioners renamed by Helm to ` + "`cluster.local/<release>`" + `;
- the provisioner is a CSI driver (a CSIDriver object or CSI PVs name it) whose controller
  pod is visible and has a ` + "`csi-provisioner`" + ` sidecar but no ` + "`csi-resizer`" + `, no other pod naming
  the driver runs ` + "`csi-resizer`" + `, and the resizer's leader Lease
  ` + "`kube-system/external-resizer-<driver with dots as dashes>`" + ` does not exist (only kube-system
  Leases are read; resizers elsewhere are found by their pods). A CSI driver needs that
  sidecar even for node-only expansion.

The CSI verdict is conservative: it is not given when pods of every namespace were not read,
when any ` + "`csi-resizer`" + ` pod names no known driver (it might serve this one), or when the
driver's controller is not visible (managed drivers on GKE/AKS run it outside the cluster).
In-tree provisioners (` + "`kubernetes.io/aws-ebs`" + `, ` + "`gce-pd`" + `, ` + "`azure-disk`" + `, ` + "`cinder`" + `…) are not
judged here. A crash-looping resizer counts as present.

The finding is **critical** when a claim of the class already asks for more than it has.

**How to fix by hand.**
- Stop promising: ` + "`kubectl patch storageclass <class> -p '{\"allowVolumeExpansion\":false}'`" + `
  (if Helm owns the class, change it in the chart's values or the next upgrade reverts it).
- For a CSI driver without resizer, deploy the ` + "`csi-resizer`" + ` sidecar with its controller (most
  charts have a switch for it), then check that it took its leader Lease:
  ` + "`kubectl get lease -A | grep external-resizer`" + `.
- Claims that already asked for more stay that way (a request can only be lowered to a value
  above ` + "`status.capacity`" + `); move their data to a claim of a class that can expand.

**Fix** (` + "`auditor run --fix`" + `, safe): sets ` + "`allowVolumeExpansion: false`" + ` on the class and keeps the
old value in the annotation ` + "`storage-auditor.dev/previous-allow-volume-expansion`" + `. Claims and
volumes are not touched. Applied only while the class still allows expansion and is unchanged
since the audit. If Helm or GitOps manages the class, change its source too.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		for _, sc := range snap.StorageClasses {
			if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
				continue
			}
			b := snap.ClassExpansionBlocker(sc)
			if b == nil {
				continue
			}
			d := map[string]string{"provisioner": sc.Provisioner, "allowVolumeExpansion": "true"}
			for k, v := range b.Details {
				d[k] = v
			}
			var waiting []string
			for _, pvc := range snap.PVCsOfClass(sc.Name) {
				if snapshot.ExpansionRequested(pvc) {
					req, _ := snapshot.ClaimRequest(pvc)
					capa, _ := snapshot.ClaimCapacity(pvc)
					waiting = append(waiting, fmt.Sprintf("%s/%s (%s of %s)", pvc.Namespace, pvc.Name, req.String(), capa.String()))
				}
			}
			sort.Strings(waiting)
			d["claims"] = fmt.Sprint(len(snap.PVCsOfClass(sc.Name)))
			sev := audit.Warning
			msg := fmt.Sprintf("StorageClass %s allows volume expansion but %s: resizes are accepted and then never happen; %s",
				sc.Name, b.Reason, b.Fix)
			if len(waiting) > 0 {
				sev = audit.Critical
				d["claimsWaiting"] = strings.Join(waiting, ", ")
				msg = fmt.Sprintf("StorageClass %s allows volume expansion but %s, and claim %s already asks for more than it has: %s",
					sc.Name, b.Reason, snapshot.HeadAndCount(waiting), b.Fix)
				if !b.Curable {
					msg += "; move the data of waiting claims to a class that can expand"
				}
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.StorageClasses, sc), Message: msg, Details: d,
				Fixes: []audit.Fix{disableExpansionFix(sc)}})
		}
		return nil
	},
}
