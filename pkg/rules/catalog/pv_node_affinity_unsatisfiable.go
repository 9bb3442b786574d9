package catalog

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvNodeAffinityUnsatisfiable = &rules.Rule{
	ID:       "pv-node-affinity-unsatisfiable",
	Title:    "Bound PersistentVolume whose node affinity no existing node satisfies",
	Action:   "Bring back a node the volume can reach, or restore the data into a new claim and delete the stranded one",
	Severity: audit.Critical,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes, snapshot.Nodes},
	Optional: []snapshot.Kind{snapshot.Pods},
	Doc: `A PersistentVolume's ` + "`spec.nodeAffinity.required`" + ` says on which nodes it can be used: the host
of a ` + "`local`" + ` or local-path volume (` + "`kubernetes.io/hostname In (<node>)`" + `), the zone of a cloud disk
(` + "`topology.ebs.csi.aws.com/zone`" + `, ` + "`topology.kubernetes.io/zone`" + `, ` + "`topology.gke.io/zone`" + `…). The
scheduler only places a pod using the volume on a node that satisfies it. When no existing
Node does — the host was deleted, the node pool replaced, or the last node of the zone went
away — pods using the claim stay **Pending forever**
(` + "`node(s) had volume node affinity conflict`" + `), and a StatefulSet replica never comes back.
Common after a node pool is replaced under local or zonal volumes.

Reported for **Bound** PVs only, one finding per PV, when every Node was read. The selector
is evaluated as the scheduler does: terms are ORed, the requirements of a term ANDed
(` + "`matchExpressions`" + ` with ` + "`In`" + `, ` + "`NotIn`" + `, ` + "`Exists`" + `, ` + "`DoesNotExist`" + `, ` + "`Gt`" + `, ` + "`Lt`" + ` on node
labels, ` + "`matchFields`" + ` on ` + "`metadata.name`" + `), and a term without requirements matches no node.
Taints, cordons and readiness are not considered: a cordoned node in the right zone can be
uncordoned. The details name the claim, the selector and the pods that use the claim.

Not reported: Available, Released and Failed PVs (no pod is waiting for them; see
` + "`pv-available-unreserved`" + ` and ` + "`pv-released-retained`" + `), PVs without required node affinity.

**How to fix by hand.**
- Compare what the volume needs with what exists:
  ` + "`kubectl get pv <pv> -o jsonpath='{.spec.nodeAffinity.required}'`" + ` and
  ` + "`kubectl get nodes -L topology.kubernetes.io/zone -L kubernetes.io/hostname`" + `.
- Zonal disk: add a node in that zone (scale the node group of that zone), or copy the data to
  a volume in a zone that has nodes (VolumeSnapshot, then a new claim restored from it).
- Local volume whose host is gone: the data went with the host. Restore it from a backup into a
  new claim, then delete the stranded claim and volume so the workload can get a new one:
  ` + "`kubectl delete pvc <claim> -n <ns>`" + ` and ` + "`kubectl delete pv <pv>`" + ` (for a StatefulSet, then delete
  the Pending pod: ` + "`kubectl delete pod <pod> -n <ns>`" + `; the controller re-creates both).
- Node re-created under another name or with other labels, disk still reachable: label the node
  so it satisfies the affinity (` + "`kubectl label node <node> <key>=<value>`" + `).`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		if !snap.Complete(snapshot.Nodes) {
			return nil // a node not read would look missing
		}
		nodes := snapshot.NewNodeFinder(snap.Nodes)
		for _, pv := range snap.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeBound || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
				continue
			}
			sel := pv.Spec.NodeAffinity.Required
			if nodes.AnyMatches(sel) {
				continue
			}
			d := pvDetails(pv)
			d["nodeAffinity"] = snapshot.DescribeNodeSelector(sel)
			d["nodes"] = strconv.Itoa(len(snap.Nodes))
			claim := d["claim"]
			users := ""
			if ref := pv.Spec.ClaimRef; ref != nil && snap.Loaded(snapshot.Pods) {
				var names []string
				for _, pod := range snap.PodsUsingClaim(ref.Namespace, ref.Name) {
					if !snapshot.PodTerminated(pod) {
						names = append(names, pod.Name)
					}
				}
				d["pods"] = joinOrNone(names)
				if len(names) > 0 {
					users = " (" + joinFirstN(names, 3) + ")"
				}
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumes, pv),
				Message: fmt.Sprintf("PV %s (%s, claim %s) can only be used on a node where %s, and none of the %d nodes is one (its host or zone is gone): pods using the claim%s can never be scheduled; bring back a node there, or restore the data into a new claim and delete the stranded claim and PV",
					pv.Name, d["capacity"], claim, d["nodeAffinity"], len(snap.Nodes), users),
				Details: d,
			})
		}
		return nil
	},
}
