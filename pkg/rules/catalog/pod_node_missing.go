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

var podNodeMissing = &rules.Rule{
	ID:       "pod-node-missing",
	Title:    "Pod bound to a Node that no longer exists",
	Action:   "Confirm the machine is gone, then force-delete the pod so its controller re-creates it",
	Severity: audit.Critical,
	Category: rules.Workload,
	Reads:    []snapshot.Kind{snapshot.Pods, snapshot.Nodes},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "2m",
		Doc: "how long after its deletionTimestamp or DisruptionTarget condition (PodGC started removing it) a pod may still exist before it is reported critical"}},
	Doc: `A pod whose ` + "`spec.nodeName`" + ` names a Node object that does not exist. kube-controller-manager's
pod garbage collector (PodGC) force-deletes such pods: it waits about 40 s (the node might be
re-registering), then — since Kubernetes 1.26 — marks a pod that has not finished with phase
` + "`Failed`" + ` and the condition ` + "`DisruptionTarget`" + ` (reason ` + "`DeletionByPodGC`" + `), and deletes it with grace
period 0. A pod seen in that window is normal. A pod that stays means either **finalizers** on
the pod block its removal or PodGC is not running (kube-controller-manager broken). The finding
lists the pod's finalizers, its owner and its claims.

Severity depends on how far the removal got:
- **critical**: the pod's ` + "`deletionTimestamp`" + `, or its ` + "`DisruptionTarget`" + ` condition's
  ` + "`lastTransitionTime`" + `, is older than the grace period (default 2m; the earlier of the two counts):
  the deletion started and did not finish — finalizers, or PodGC not finishing;
- **warning**: neither timestamp is set: PodGC has not acted at all. Either the audit caught the
  pod in PodGC's ~40 s wait, or PodGC is not running — audit again a minute later; if it is still
  there, check kube-controller-manager;
- nothing within the grace period of one of those timestamps (the deletion is under way).

Pods that had finished on their own (Succeeded, or Failed without a ` + "`DisruptionTarget`" + ` condition)
hold no volumes and are reported as warnings at most. A pod that PodGC itself marked Failed (it
carries ` + "`DisruptionTarget`" + `) was running when its node went away and is judged like a running pod.

**Why it matters.** The pod's claims and VolumeAttachments stay bound to the dead node: a
replacement pod cannot start (a StatefulSet does not create ` + "`<sts>-<i>`" + ` while the old one exists;
RWO volumes show ` + "`Multi-Attach error`" + `).

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
- No finalizers: PodGC is not working — check kube-controller-manager's logs and health.

**Fix** (` + "`auditor run --fix --allow destructive`" + ` with the rule in the config's ` + "`fix.allow`" + `,
destructive): force-deletes the pod (grace period 0) with its UID and resourceVersion as
preconditions, as PodGC would have, only while the pod is unchanged since the audit and its node
still does not exist. Pods with finalizers get no fix: a grace-0 delete does not clear them, and
removing them skips whatever their controller must clean up first. A **StatefulSet** pod is
held back until its node has been gone longer than ` + "`fix.podNodeMissingGrace`" + ` (config, default
10m), dated by the earliest of the pod's ` + "`deletionTimestamp`" + `, its ` + "`DisruptionTarget`" + ` condition and,
with run-to-run state, when the auditor first saw it; with none of them it is not deleted.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		if !snap.Complete(snapshot.Nodes) {
			return nil
		}
		grace := p.Duration("grace")
		for _, pod := range snap.Pods {
			if pod.Spec.NodeName == "" || snap.Node(pod.Spec.NodeName) != nil {
				continue
			}
			d := podFacts(pod)
			// When did someone (PodGC, a user, an eviction) start removing the pod? The
			// earliest evidence counts; the last addAge names it in ageSource.
			var started []snapshot.Age
			if pod.DeletionTimestamp != nil {
				started = append(started, snapshot.Age{Since: pod.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp"})
			}
			disrupted := false
			if c := disruptionTarget(pod); c != nil {
				disrupted = true
				d["disruptionTarget"] = c.Reason
				if !c.LastTransitionTime.IsZero() {
					started = append(started, snapshot.Age{Since: c.LastTransitionTime.Time, Source: "status.conditions[DisruptionTarget].lastTransitionTime"})
				}
			}
			sort.SliceStable(started, func(i, j int) bool { return started[i].Since.After(started[j].Since) })
			for _, a := range started {
				key := "terminatingFor"
				if a.Source != "metadata.deletionTimestamp" {
					key = "disruptionTargetFor"
				}
				addAge(d, key, a, p.Now)
			}
			if len(started) > 0 {
				if started[len(started)-1].Duration(p.Now) < grace {
					continue // the removal is under way
				}
				d["grace"] = grace.String()
			}
			// A pod that finished on its own holds no volumes; one PodGC marked Failed
			// (DisruptionTarget) was running when its node went.
			finished := snapshot.PodTerminated(pod) && !disrupted
			sev := audit.Critical
			var blocker string
			switch {
			case len(started) == 0 && disrupted:
				sev = audit.Warning
				blocker = "it carries a DisruptionTarget condition without a time (something marked it for deletion) but has no deletionTimestamp: if it is still there a minute later, check kube-controller-manager's logs"
			case len(started) == 0:
				sev = audit.Warning
				blocker = "PodGC has not acted on it yet (no deletionTimestamp, no DisruptionTarget condition): either the audit caught it in PodGC's ~40 s wait for pods of deleted nodes, or PodGC (kube-controller-manager) is not running — if it is still there a minute later, check kube-controller-manager's logs"
				if len(pod.Finalizers) > 0 {
					blocker += fmt.Sprintf("; note that finalizers %s will keep it even after PodGC deletes it", strings.Join(pod.Finalizers, ", "))
				}
			case len(pod.Finalizers) > 0:
				blocker = fmt.Sprintf("finalizers %s keep it (PodGC force-deletes such pods, but a grace-0 delete does not clear finalizers): find the controller that set them, and once it is safe remove them with `kubectl patch pod %s -n %s --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`",
					strings.Join(pod.Finalizers, ", "), pod.Name, pod.Namespace)
			default:
				blocker = fmt.Sprintf("its removal started %s ago and PodGC should have force-deleted it within a minute, so kube-controller-manager is not doing it (no finalizers block it): check its logs", snapshot.HumanDuration(started[len(started)-1].Duration(p.Now)))
			}
			var msg string
			switch sts := snapshot.PodStatefulSet(pod); {
			case finished:
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
			var fixes []audit.Fix
			if len(pod.Finalizers) == 0 {
				fixes = []audit.Fix{forceDeletePodFix(pod, started, finished)}
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.Pods, pod), Message: msg, Details: d, Fact: pod.Spec.NodeName, Fixes: fixes})
		}
		return nil
	},
}

// disruptionTarget returns a pod's DisruptionTarget condition when it is True: PodGC (reason
// DeletionByPodGC), the taint manager, an eviction or preemption is about to delete the pod.
func disruptionTarget(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if c := &pod.Status.Conditions[i]; c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
