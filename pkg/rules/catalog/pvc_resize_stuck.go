package catalog

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvcResizeStuck = &rules.Rule{
	ID:       "pvc-resize-stuck",
	Title:    "Volume expansion started and does not finish",
	Action:   "Read the csi-resizer and kubelet logs; lower the request to retry a failed resize",
	Severity: audit.Warning,
	Category: rules.Expansion,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumeClaims},
	Optional: []snapshot.Kind{snapshot.Pods, snapshot.Events, snapshot.StatefulSets, snapshot.Deployments,
		snapshot.DaemonSets, snapshot.ReplicaSets},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "30m",
		Doc: "how long a resize may stay in progress, keep failing with an error that is retried, or leave a file system resize pending under a running pod, before it is reported"}},
	Doc: `An expansion was picked up (by the CSI external-resizer, the in-tree expand controller or
the kubelet) and does not complete. What the claim shows:

| state | severity |
|---|---|
| ` + "`status.allocatedResourceStatuses.storage`" + ` = ` + "`ControllerResizeInfeasible`" + ` / ` + "`NodeResizeInfeasible`" + ` (1.31+), ` + "`ControllerResizeFailed`" + ` / ` + "`NodeResizeFailed`" + ` (1.28–1.30): the backend refused for good, nothing retries | critical |
| condition ` + "`ControllerResizeError`" + ` or ` + "`NodeResizeError`" + ` (status still ` + "`...InProgress`" + `): failing, retried with back-off, for longer than the grace period counted from the condition's ` + "`lastTransitionTime`" + ` | warning |
| ` + "`ControllerResizeInProgress`" + ` or condition ` + "`Resizing`" + ` for longer than the grace period (default 30m) | warning |
| condition ` + "`FileSystemResizePending`" + ` or ` + "`NodeResizePending`" + `/` + "`NodeResizeInProgress`" + ` while a running pod uses the claim, for longer than the grace period (counted from the later of the condition and the pod's start) | warning |

Not reported: a ` + "`ControllerResizeError`" + `/` + "`NodeResizeError`" + ` younger than the grace period while the
resize is still retried — the condition appears on the first failed try, and transient errors
(throttling, a busy volume) clear on a retry; ` + "`FileSystemResizePending`" + ` on a claim that no
running pod uses — the control plane is done and the kubelet finishes when a pod mounts the
volume (start or restart a pod to finish); a resize whose capacity already reaches the
request without an error or terminal state (leftovers); unknown status values.

**Limitation.** Clusters before 1.28 with ` + "`RecoverVolumeExpansionFailure`" + ` on reported
` + "`status.resizeStatus`" + ` (` + "`ControllerExpansionFailed`" + `, ` + "`NodeExpansionFailed`" + `…). The Kubernetes API types
this auditor is built with (k8s.io/api v0.36) no longer have that field, so it is dropped when
the claim is read; on such clusters the rule relies on the conditions only.

**How to fix by hand.**
- Read why: ` + "`kubectl describe pvc <claim> -n <ns>`" + ` (conditions and events), the resizer's logs
  (` + "`kubectl logs -n <ns> <csi-controller-pod> -c csi-resizer`" + `), for node-side states the pod's
  events (` + "`kubectl describe pod <pod> -n <ns>`" + `: ` + "`VolumeResizeFailed`" + `, ` + "`FileSystemResizeFailed`" + `) and the
  kubelet's log on that node. Only XFS, ext3 and ext4 are grown by the kubelet; AWS EBS allows
  one modification per volume every 6 hours.
- Infeasible or failing: since 1.32 you may lower the request to any size above
  ` + "`status.capacity`" + ` to retry with a size the backend accepts:
  ` + "`kubectl patch pvc <claim> -n <ns> -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"<size>\"}}}}'`" + `.
- File system resize pending under a running pod: if the driver only expands offline, restart
  the pod (` + "`kubectl delete pod <pod> -n <ns>`" + ` for a controller-managed pod).

**Fix** (` + "`auditor run --fix --allow disruptive`" + `, disruptive): for a file system resize pending
under running pods, a rolling restart of the workloads that own those pods, as
` + "`kubectl rollout restart`" + ` does (the annotation ` + "`kubectl.kubernetes.io/restartedAt`" + ` on the pod
template): the kubelet finishes the resize when it mounts the volume again. Proposed for
StatefulSets and DaemonSets (not with the ` + "`OnDelete`" + ` update strategy, which a template change does
not restart) and for the Deployment of a ReplicaSet; bare pods and Jobs get no fix. Applied only
while the workload and the claim are unchanged since the audit. Failed and stuck controller-side
resizes have no automatic fix: their cause needs a person.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		for _, pvc := range snap.PersistentVolumeClaims {
			if pvc.DeletionTimestamp != nil {
				continue
			}
			status := snapshot.ResizeStatus(pvc)
			errCond := snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimControllerResizeError)
			if errCond == nil {
				errCond = snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimNodeResizeError)
			}
			terminal := snapshot.TerminalResizeStatus(status)
			resizing := status == snapshot.ControllerResizeInProgress ||
				snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimResizing) != nil
			nodePending := snapshot.NodeResizeStatus(status) ||
				snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimFileSystemResizePending) != nil
			if !terminal && errCond == nil && !resizing && !nodePending {
				continue
			}
			req, reqOK := snapshot.ClaimRequest(pvc)
			capa, capOK := snapshot.ClaimCapacity(pvc)
			if !terminal && errCond == nil && reqOK && capOK && capa.Cmp(req) >= 0 {
				continue // done: what is left is a stale leftover
			}
			evs := snap.EventsFor("PersistentVolumeClaim", pvc.Namespace, pvc.Name, string(pvc.UID))
			d := claimFacts(pvc)
			if status != "" {
				d["allocatedResourceStatus"] = status
			}
			d["grace"] = grace.String()
			ref := rules.Ref(snapshot.PersistentVolumeClaims, pvc)
			name := pvc.Namespace + "/" + pvc.Name

			switch {
			case terminal || errCond != nil:
				sev, state := audit.Warning, ""
				age := resizeStartAge(pvc, evs)
				if errCond != nil {
					state = string(errCond.Type)
					if !errCond.LastTransitionTime.IsZero() {
						age = snapshot.Age{Since: errCond.LastTransitionTime.Time, Source: "status.conditions[" + state + "].lastTransitionTime"}
					}
					// The error condition appears on the first failed try and the resize
					// is retried: give it the grace period. Terminal states do not wait.
					if !terminal && age.Duration(p.Now) < grace {
						continue
					}
					d["condition"] = state
					if m := strings.TrimSpace(errCond.Message); m != "" {
						d["conditionMessage"] = m
					}
				}
				eventDetail(d, evs, "VolumeResizeFailed", "FileSystemResizeFailed")
				why := d["conditionMessage"]
				if why == "" {
					why = strings.TrimPrefix(strings.TrimPrefix(d["lastEvent"], "VolumeResizeFailed: "), "FileSystemResizeFailed: ")
				}
				if why == "" {
					why = "no error message is left"
				}
				why = strings.TrimSuffix(why, ".")
				var msg string
				if terminal {
					sev, state = audit.Critical, status
					if errCond != nil {
						addAge(d, "failingFor", age, p.Now)
					} else {
						addAge(d, "sinceResizeStart", age, p.Now)
					}
					msg = fmt.Sprintf("claim %s: the resize to %s failed for good (%s) and is not retried: %s; lower the request to a size the backend accepts (any value above %s, Kubernetes 1.32+) to retry",
						name, d["request"], status, why, d["capacity"])
				} else {
					addAge(d, "failingFor", age, p.Now)
					msg = fmt.Sprintf("claim %s: the resize to %s has been failing for %s (%s, retried with back-off): %s; fix the cause, or lower the request to a size the backend accepts (any value above %s, Kubernetes 1.32+)",
						name, d["request"], d["failingFor"], state, why, d["capacity"])
				}
				p.Report(audit.Finding{Severity: sev, Object: ref, Message: msg, Details: d, Fact: "failing:" + d["request"]})

			case resizing:
				age := resizeStartAge(pvc, evs)
				if age.Duration(p.Now) < grace {
					continue
				}
				addAge(d, "resizingFor", age, p.Now)
				eventDetail(d, evs, "Resizing", "ExternalExpanding")
				p.Report(audit.Finding{Object: ref, Details: d, Fact: "resizing:" + d["request"],
					Message: fmt.Sprintf("claim %s: the resize from %s to %s has been in progress for %s%s without finishing: read the csi-resizer's logs of the volume's driver and the claim's events (kubectl describe pvc %s -n %s)",
						name, d["capacity"], d["request"], d["resizingFor"], ageQualifier(age), pvc.Name, pvc.Namespace)})

			case nodePending:
				users := runningClaimUsers(snap, pvc)
				if len(users) == 0 {
					continue // normal: the kubelet finishes when a pod mounts it
				}
				age := snapshot.UpperBoundAge(pvc, "the pending file system resize")
				if t, ok := snapshot.ClaimConditionSince(pvc, corev1.PersistentVolumeClaimFileSystemResizePending); ok {
					age = snapshot.Age{Since: t, Source: "status.conditions[FileSystemResizePending].lastTransitionTime"}
				}
				// The kubelet can only act once a pod runs: count from the later start.
				newest := users[0]
				for _, u := range users[1:] {
					if snapshot.PodRunningSince(u).Since.After(snapshot.PodRunningSince(newest).Since) {
						newest = u
					}
				}
				if ps := snapshot.PodRunningSince(newest); ps.Since.After(age.Since) {
					age = ps
				}
				if age.Duration(p.Now) < grace {
					continue
				}
				addAge(d, "pendingFor", age, p.Now)
				d["runningPods"] = podNameList(users)
				d["node"] = newest.Spec.NodeName
				if eventDetail(d, evs, "FileSystemResizeFailed", "VolumeResizeFailed") == nil {
					eventDetail(d, snap.EventsFor("Pod", newest.Namespace, newest.Name, string(newest.UID)), "FileSystemResizeFailed", "VolumeResizeFailed")
				}
				why := ""
				if e := d["lastEvent"]; e != "" {
					why = " (" + e + ")"
				}
				var fixes []audit.Fix
				restarts := map[string]bool{}
				for _, u := range users {
					if kind, w := restartableWorkload(snap, u); w != nil && !restarts[string(kind)+"/"+w.GetName()] {
						restarts[string(kind)+"/"+w.GetName()] = true
						fixes = append(fixes, rolloutRestartFix(kind, w, pvc, p.Now))
					}
				}
				p.Report(audit.Finding{Object: ref, Details: d, Fact: "fs-pending:" + d["request"], Fixes: fixes,
					Message: fmt.Sprintf("claim %s: the volume was expanded to %s but the file system resize has been pending for %s%s although pod %s runs on node %s%s: check the pod's events and the kubelet's log on that node, or restart the pod if the driver only expands offline",
						name, d["request"], d["pendingFor"], ageQualifier(age), newest.Name, newest.Spec.NodeName, why)})
			}
		}
		return nil
	},
}

// resizeStartAge dates the current resize: the Resizing condition's lastTransitionTime,
// else the first occurrence of the newest external-resizer Resizing event, else of the
// newest ExternalExpanding event, else the claim's creation (an upper bound).
func resizeStartAge(pvc *corev1.PersistentVolumeClaim, evs []*corev1.Event) snapshot.Age {
	if t, ok := snapshot.ClaimConditionSince(pvc, corev1.PersistentVolumeClaimResizing); ok {
		return snapshot.Age{Since: t, Source: "status.conditions[Resizing].lastTransitionTime"}
	}
	var resizer []*corev1.Event
	for _, e := range evs {
		if snapshot.ResizerEventSource(e) {
			resizer = append(resizer, e)
		}
	}
	if e := snapshot.NewestFirstSeen(resizer, "Resizing"); e != nil {
		return snapshot.Age{Since: snapshot.EventFirstTime(e), Source: "firstTimestamp of the external-resizer Resizing event"}
	}
	if e := snapshot.NewestFirstSeen(evs, "ExternalExpanding"); e != nil {
		return snapshot.Age{Since: snapshot.EventFirstTime(e), Source: "firstTimestamp of the ExternalExpanding event"}
	}
	return snapshot.UpperBoundAge(pvc, "the resize")
}
