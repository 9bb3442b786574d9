package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvcLost = &rules.Rule{
	ID:       "pvc-lost",
	Title:    "PersistentVolumeClaim in phase Lost",
	Action:   "Re-create the PV for the disk with a claimRef to the claim, or delete the claim",
	Severity: audit.Critical,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumeClaims},
	Doc: `A claim is **Lost** when the PersistentVolume it was bound to no longer exists (someone
deleted the PV object, or it was never restored after a backup/migration). Pods using the
claim cannot start; Kubernetes does not recover it on its own.

**How to fix by hand.**
- If the disk still exists, re-create a PV for it with ` + "`claimRef`" + ` naming this claim
  (namespace, name and UID) and the same ` + "`volumeName`" + ` the claim expects
  (` + "`kubectl get pvc <claim> -n <ns> -o jsonpath='{.spec.volumeName}'`" + `): the PV controller
  binds them again.
- If the data is gone, delete the claim and let the workload create a new one:
  ` + "`kubectl delete pvc <claim> -n <ns>`" + `.`,
	Check: func(p *rules.Pass) error {
		for _, pvc := range p.Snapshot.PersistentVolumeClaims {
			if pvc.Status.Phase != corev1.ClaimLost {
				continue
			}
			d := map[string]string{"volumeName": pvc.Spec.VolumeName, "storageClass": snapshot.ClaimClass(pvc)}
			if q, ok := snapshot.ClaimRequest(pvc); ok {
				d["request"] = q.String()
			}
			addAge(d, "age", snapshot.CreationAge(pvc), p.Now)
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc),
				Message: fmt.Sprintf("claim %s/%s is Lost: its volume %q no longer exists; re-create the PV for the disk with a claimRef to this claim, or delete the claim if the data is gone",
					pvc.Namespace, pvc.Name, pvc.Spec.VolumeName),
				Details: d,
			})
		}
		return nil
	},
}
