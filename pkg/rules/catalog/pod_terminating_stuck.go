package catalog

import (
	"fmt"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var podTerminatingStuck = &rules.Rule{
	ID:       "pod-terminating-stuck",
	Title:    "Pod stuck in Terminating",
	Action:   "Find what holds the pod (finalizers, an unreachable kubelet, a stuck unmount) and clear it",
	Severity: audit.Warning,
	Category: rules.Workload,
	Reads:    []snapshot.Kind{snapshot.Pods},
	Optional: []snapshot.Kind{snapshot.Nodes},
	Params: []rules.Param{{Name: "slack", Type: rules.Duration, Default: "5m",
		Doc: "how long after its deletionTimestamp a pod may still exist before it is reported"}},
	Doc: `A pod's ` + "`metadata.deletionTimestamp`" + ` is the moment its termination grace period ends (it
already includes ` + "`terminationGracePeriodSeconds`" + `). A pod that still exists longer than the slack
(default 5m) after it is stuck: its **finalizers** block it, or its **node** is down so the
kubelet never confirms that the containers stopped and the volumes are unmounted. The details
list the finalizers, the node's readiness and the claims the pod holds.

**Why it matters.** Its claims stay in use: a replacement pod (always for a StatefulSet, which
re-creates ` + "`<sts>-<i>`" + ` only after the old pod is gone) cannot start, and RWO volumes stay attached
to the old node (` + "`Multi-Attach error`" + `).

**How to fix by hand.**
- Node NotReady/Unknown and the machine confirmed off: delete the Node object
  (` + "`kubectl delete node <node>`" + `) or add the out-of-service taint so the volumes are detached:
  ` + "`kubectl taint node <node> node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`" + `.
- Finalizers: find the controller that owns them and fix it; once it is safe remove them:
  ` + "`kubectl patch pod <pod> -n <ns> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`" + `.
  ` + "`kubectl delete pod --grace-period=0 --force`" + ` does not clear finalizers.
- Node Ready and no finalizers: the kubelet cannot stop the containers or unmount a volume —
  ` + "`kubectl describe pod <pod> -n <ns>`" + ` and the kubelet's log on the node.
- StatefulSet pods: never force-delete while the old instance may still run — two pods with
  one identity on one volume (split brain).`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		slack := p.Duration("slack")
		for _, pod := range snap.Pods {
			if pod.DeletionTimestamp == nil {
				continue
			}
			age := snapshot.Age{Since: pod.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp (end of the grace period)"}
			if age.Duration(p.Now) < slack {
				continue
			}
			d := podFacts(pod)
			addAge(d, "overdueBy", age, p.Now)
			d["slack"] = slack.String()
			ready := ""
			switch {
			case pod.Spec.NodeName == "":
				d["nodeReady"] = "not scheduled"
			case !snap.Loaded(snapshot.Nodes):
				d["nodeReady"] = "unknown (Nodes not read)"
			case snap.Node(pod.Spec.NodeName) == nil:
				d["nodeReady"] = "node not found"
			default:
				ready = snapshot.NodeReady(snap.Node(pod.Spec.NodeName))
				d["nodeReady"] = ready
				if ready == "" {
					d["nodeReady"] = "no Ready condition"
				}
			}
			var why []string
			if len(pod.Finalizers) > 0 {
				why = append(why, fmt.Sprintf("finalizers %s block its removal (find the controller that set them; a grace-0 delete does not clear them)", strings.Join(pod.Finalizers, ", ")))
			}
			switch {
			case ready == "False" || ready == "Unknown":
				why = append(why, fmt.Sprintf("its node %s is NotReady (Ready=%s), so the kubelet cannot confirm the containers stopped: once the machine is confirmed off, delete the Node object or taint it node.kubernetes.io/out-of-service", pod.Spec.NodeName, ready))
			case d["nodeReady"] == "node not found":
				why = append(why, fmt.Sprintf("its node %s no longer exists (see pod-node-missing)", pod.Spec.NodeName))
			case len(pod.Finalizers) == 0 && pod.Spec.NodeName != "" && !snap.Loaded(snapshot.Nodes):
				why = append(why, fmt.Sprintf("the kubelet on %s has not confirmed that its containers stopped (Nodes were not read: if %s is down and the machine confirmed off, delete the Node object or taint it node.kubernetes.io/out-of-service; otherwise check `kubectl describe pod %s -n %s` and the kubelet log)", pod.Spec.NodeName, pod.Spec.NodeName, pod.Name, pod.Namespace))
			case len(pod.Finalizers) == 0 && pod.Spec.NodeName != "":
				why = append(why, fmt.Sprintf("the kubelet on %s has not confirmed that its containers stopped and its volumes are unmounted: check `kubectl describe pod %s -n %s` and the kubelet log", pod.Spec.NodeName, pod.Name, pod.Namespace))
			}
			if len(why) == 0 {
				why = append(why, "nothing visible blocks it: check kube-apiserver and kube-controller-manager")
			}
			warn := ""
			if sts := snapshot.PodStatefulSet(pod); sts != "" {
				d["statefulSet"] = sts
				warn = fmt.Sprintf("; StatefulSet %s will not re-create it until it is gone — do not force-delete it before the old instance is confirmed stopped (two pods with one identity)", sts)
			}
			holds := ""
			if claims := snapshot.PodClaims(pod); len(claims) > 0 {
				holds = " and still holds claims " + strings.Join(claims, ", ")
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.Pods, pod),
				Message: fmt.Sprintf("pod %s/%s has been terminating %s past its grace period%s: %s%s",
					pod.Namespace, pod.Name, d["overdueBy"], holds, strings.Join(why, "; "), warn),
				Details: d,
			})
		}
		return nil
	},
}
