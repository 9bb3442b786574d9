package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// resizeProgressEvents are event reasons that show somebody (external-resizer, the in-tree
// expand controller, the kubelet) working on a resize.
var resizeProgressEvents = map[string]bool{
	"Resizing":                   true,
	"VolumeResizeFailed":         true,
	"VolumeResizeSuccessful":     true,
	"FileSystemResizeRequired":   true,
	"FileSystemResizeSuccessful": true,
	"FileSystemResizeFailed":     true,
}

var pvcExpansionIgnored = &rules.Rule{
	ID:       "pvc-expansion-ignored",
	Title:    "Claim asks for more storage and nothing is expanding it",
	Action:   "Give the class a driver that can expand (csi-resizer), or revert the request",
	Severity: audit.Critical,
	Category: rules.Expansion,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumeClaims},
	Optional: []snapshot.Kind{snapshot.PersistentVolumes, snapshot.StorageClasses, snapshot.Events,
		snapshot.Pods, snapshot.Leases, snapshot.CSIDrivers},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "10m",
		Doc: "how long a raised request may go unanswered before it is reported"}},
	Doc: `A bound claim's ` + "`spec.resources.requests.storage`" + ` is larger than its
` + "`status.capacity.storage`" + ` for longer than the grace period (default 10m) and **nobody is
acting on it**: no ` + "`Resizing`" + `/` + "`FileSystemResizePending`" + `/` + "`…ResizeError`" + ` condition, no
` + "`status.allocatedResourceStatuses`" + `, no event from ` + "`external-resizer <driver>`" + ` or the kubelet.

For CSI volumes kube-controller-manager does not expand anything: it records
` + "`ExternalExpanding`" + ` ("waiting for an external controller to expand this PVC"; before ~1.27
"Ignoring the PVC: didn't find a plugin capable of expanding the volume; waiting for an
external controller to process this PVC.") and leaves the work to the driver's
external-resizer sidecar. That event is emitted for every CSI resize, including ones that
succeed, so it is only evidence together with the silence above. The rule needs evidence
to fire: an ` + "`ExternalExpanding`" + ` event, or the claim's volume or class being unable to expand
(the logic of ` + "`sc-expansion-unsupported`" + `: a non-expanding provisioner, a hostPath/local/nfs
volume, a CSI driver without csi-resizer).

**Age.** Measured from the newest ` + "`ExternalExpanding`" + ` event's first occurrence. Events expire
after about an hour; without one, the claim's creationTimestamp is used as an upper bound and
the finding says so. Nothing is reported while an ` + "`ExternalExpanding`" + ` event was last seen within
the grace period.

Not reported: a resize that completed (capacity ≥ request, even with ExternalExpanding
events left over), a resize in progress or failing (see ` + "`pvc-resize-stuck`" + `), and a claim whose
PV already has the requested capacity but whose status lags (see ` + "`pv-capacity-mismatch`" + `).

**How to fix by hand.**
- Look: ` + "`kubectl describe pvc <claim> -n <ns>`" + ` and
  ` + "`kubectl get pvc <claim> -n <ns> -o jsonpath='{.status}'`" + `.
- CSI driver: find its controller and resizer
  (` + "`kubectl get pods -A -o wide | grep -i <driver-short-name>`" + `), read
  ` + "`kubectl logs -n <ns> <controller-pod> -c csi-resizer`" + `; if there is no csi-resizer container,
  deploy it (see ` + "`sc-expansion-unsupported`" + `). The resizer picks the claim up on its own.
- Volume that cannot expand (local-path, hostPath, NFS): the request cannot be taken back
  below or to the current size; copy the data to a new claim of a class that can expand, or
  accept it (local-path and NFS do not enforce sizes anyway), then set
  ` + "`allowVolumeExpansion: false`" + ` on the class.
- On 1.32+ you may lower the request to any value above ` + "`status.capacity`" + ` to retry with a smaller size.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		classes := snapshot.ClassBlockers{}
	claims:
		for _, pvc := range snap.PersistentVolumeClaims {
			if pvc.Status.Phase != corev1.ClaimBound || pvc.DeletionTimestamp != nil ||
				!snapshot.ExpansionRequested(pvc) || snapshot.ResizeActivity(pvc) {
				continue
			}
			req, _ := snapshot.ClaimRequest(pvc)
			pv := snap.BoundPV(pvc)
			if pv != nil {
				if pvCap, ok := snapshot.PVCapacity(pv); ok && pvCap.Cmp(req) >= 0 {
					continue // the volume already has it; the claim's status lags (pv-capacity-mismatch)
				}
			}
			evs := snap.EventsFor("PersistentVolumeClaim", pvc.Namespace, pvc.Name, string(pvc.UID))
			var expanding []*corev1.Event
			for _, e := range evs {
				if snapshot.ResizerEventSource(e) || resizeProgressEvents[e.Reason] {
					continue claims // somebody acts
				}
				if e.Reason == "ExternalExpanding" {
					if p.Now.Sub(snapshot.EventTime(e)) < grace {
						continue claims // handed over recently: give the resizer the grace period
					}
					expanding = append(expanding, e)
				}
			}
			blocker := snap.ClaimExpansionBlocker(pvc, classes)
			if len(expanding) == 0 && blocker == nil {
				continue // no evidence that anyone should have acted
			}
			age := snapshot.UpperBoundAge(pvc, "the expansion request")
			if e := snapshot.NewestFirstSeen(expanding, "ExternalExpanding"); e != nil {
				age = snapshot.Age{Since: snapshot.EventFirstTime(e), Source: "firstTimestamp of the ExternalExpanding event"}
			}
			if age.Duration(p.Now) < grace {
				continue
			}
			d := claimFacts(pvc)
			addAge(d, "waitingFor", age, p.Now)
			d["grace"] = grace.String()
			eventDetail(d, expanding, "ExternalExpanding")
			if pv != nil {
				d["pvCapacity"] = "unknown"
				if q, ok := snapshot.PVCapacity(pv); ok {
					d["pvCapacity"] = q.String()
				}
			}
			var cause, fix string
			if blocker != nil {
				for k, v := range blocker.Details {
					d[k] = v
				}
				cause = blocker.Reason
				fix = fmt.Sprintf("the request can only be lowered to a value above %s, so copy the data to a new claim of a class that can expand", d["capacity"])
				if blocker.Curable {
					fix = "deploy the csi-resizer sidecar with the driver's controller (most charts have a switch for it); the resizer then picks the claim up"
				} else if blocker.Fix != "" {
					fix += "; " + blocker.Fix
				}
			} else {
				driver := ""
				if pv != nil && pv.Spec.CSI != nil {
					driver = pv.Spec.CSI.Driver
				} else if sc := snap.StorageClass(snapshot.ClaimClass(pvc)); sc != nil && !snapshot.InTreeProvisioner(sc.Provisioner) {
					driver = sc.Provisioner
				}
				if driver != "" {
					d["driver"] = driver
					cause = "kube-controller-manager handed it to the external-resizer of " + driver + " (ExternalExpanding), which never picked it up"
					fix = "check that this driver's controller runs a csi-resizer sidecar and read its logs (kubectl logs -n <ns> <controller-pod> -c csi-resizer)"
				} else {
					cause = "kube-controller-manager handed it to an external controller (ExternalExpanding), which never picked it up"
					fix = "find the CSI driver of volume " + pvc.Spec.VolumeName + " and check its csi-resizer sidecar"
				}
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.PersistentVolumeClaims, pvc),
				Fact:   d["request"], // a new request is a new expansion
				Message: fmt.Sprintf("claim %s/%s asks for %s but has %s, and nothing has acted on it for %s%s: %s; %s",
					pvc.Namespace, pvc.Name, d["request"], d["capacity"], d["waitingFor"], ageQualifier(age), cause, fix),
				Details: d,
			})
		}
		return nil
	},
}
