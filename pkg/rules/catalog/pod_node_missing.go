package catalog

import (
	"fmt"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var podNodeMissing = &rules.Rule{
	ID:       "pod-node-missing",
	Title:    "Pod bound to a Node that no longer exists",
	Severity: audit.Critical,
	Category: rules.Workload,
	Reads:    []snapshot.Kind{snapshot.Pods, snapshot.Nodes},
	Doc: `A pod whose ` + "`spec.nodeName`" + ` names a Node object that does not exist. kube-controller-manager's
pod garbage collector (PodGC) force-deletes such pods within about a minute, so a pod that stays
means either **finalizers** on the pod block its removal or PodGC is not running
(kube-controller-manager broken). The finding lists the pod's finalizers, its owner and its claims.

**Why it matters.** The pod's claims and VolumeAttachments stay bound to the dead node: a
replacement pod cannot start (a StatefulSet does not create ` + "`<sts>-<i>`" + ` while the old one exists;
RWO volumes show ` + "`Multi-Attach error`" + `).

Pods that already finished (Succeeded/Failed) hold no volumes and are reported as warnings.

**How to fix by hand.**
- **StatefulSet pods: confirm the machine is really gone first.** Force-deleting a StatefulSet
  pod while its old instance may still run breaks the at-most-one-pod-per-identity guarantee
  (two pods with one identity writing to one volume). For a node object that still exists but
  is dead, prefer deleting the Node (` + "`kubectl delete node <node>`" + `) or the out-of-service taint
  (` + "`kubectl taint node <node> node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`" + `); here the
  Node object is already gone, so only the pod object is left.
- Find who set the finalizers (` + "`kubectl get pod <pod> -n <ns> -o jsonpath='{.metadata.finalizers}'`" + `)
  and fix that controller; once it is safe, remove them:
  ` + "`kubectl patch pod <pod> -n <ns> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`" + `.
  A ` + "`kubectl delete pod --grace-period=0 --force`" + ` does **not** clear finalizers.
- No finalizers: PodGC is not working — check kube-controller-manager's logs and health.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		if !snap.Complete(snapshot.Nodes) {
			return nil
		}
		for _, pod := range snap.Pods {
			if pod.Spec.NodeName == "" || snap.Node(pod.Spec.NodeName) != nil {
				continue
			}
			d := podFacts(pod)
			if pod.DeletionTimestamp != nil {
				addAge(d, "terminatingFor", snapshot.Age{Since: pod.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp"}, p.Now)
			}
			blocker := "PodGC should have deleted it within a minute, so kube-controller-manager is not doing it (no finalizers block it): check its logs"
			if len(pod.Finalizers) > 0 {
				blocker = fmt.Sprintf("finalizers %s keep it (PodGC force-deletes such pods, but a grace-0 delete does not clear finalizers): find the controller that set them, and once it is safe remove them with `kubectl patch pod %s -n %s --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`",
					strings.Join(pod.Finalizers, ", "), pod.Name, pod.Namespace)
			}
			sev := audit.Critical
			var msg string
			switch sts := snapshot.PodStatefulSet(pod); {
			case snapshot.PodTerminated(pod):
				sev = audit.Warning
				msg = fmt.Sprintf("finished pod %s/%s (%s) is still bound to node %s, which no longer exists: %s",
					pod.Namespace, pod.Name, d["phase"], pod.Spec.NodeName, blocker)
			case sts != "":
				d["statefulSet"] = sts
				msg = fmt.Sprintf("StatefulSet pod %s/%s is bound to node %s, which no longer exists, and StatefulSet %s will not re-create it (claims: %s) while it exists; %s. Confirm the machine is really off first: force-removing a StatefulSet pod whose old instance still runs gives two pods one identity (split brain)",
					pod.Namespace, pod.Name, pod.Spec.NodeName, sts, d["claims"], blocker)
			default:
				msg = fmt.Sprintf("pod %s/%s (owner %s) is bound to node %s, which no longer exists, and still holds its claims (%s); %s",
					pod.Namespace, pod.Name, d["owner"], pod.Spec.NodeName, d["claims"], blocker)
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.Pods, pod), Message: msg, Details: d})
		}
		return nil
	},
}
