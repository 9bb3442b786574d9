package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	storagev1 "k8s.io/api/storage/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var vaOrphaned = &rules.Rule{
	ID:       "va-orphaned",
	Title:    "VolumeAttachment for a missing node or PV, or failing to attach or detach",
	Action:   "Confirm the disk is detached in the cloud, then remove the VolumeAttachment",
	Severity: audit.Warning,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.VolumeAttachments},
	Optional: []snapshot.Kind{snapshot.Nodes, snapshot.PersistentVolumes},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "10m",
		Doc: "how long an attach/detach may fail, or a detach of a missing node's or PV's attachment may take, before it is reported"}},
	Doc: `A VolumeAttachment (VA) records that a CSI volume is (to be) attached to a node; the
driver's ` + "`csi-attacher`" + ` sidecar does the work and keeps a finalizer on it until the volume is
detached. This rule reports a VA when
- its **node no longer exists** (judged only when Nodes were read): the volume stays attached to a
  dead machine and a pod elsewhere fails with ` + "`Multi-Attach error`" + ` for RWO volumes;
- its **PV no longer exists** (judged only when PersistentVolumes were read; inline volumes have no
  PV): the attacher needs the PV to detach, so the VA can never go away on its own — someone
  removed the PV's ` + "`external-attacher/<driver>`" + ` finalizer by hand;
- ` + "`status.attachError`" + ` or ` + "`status.detachError`" + ` has persisted longer than ` + "`grace`" + ` (default 10m).

Timing: the attacher rewrites an error's ` + "`time`" + ` on every failed retry, so it dates the *latest*
failure, not the first. An attach failure is therefore dated from the VA's ` + "`creationTimestamp`" + `
(a VA with ` + "`attached: false`" + ` has never been attached), a detach failure from its
` + "`deletionTimestamp`" + ` (when the detach was requested), falling back to the error's time and then to
` + "`creationTimestamp`" + `; ` + "`ageSource`" + ` says which. A VA of a missing node or PV that is already being
deleted is given the same grace before it is reported.

**How to fix by hand.**
- Read the error: ` + "`kubectl get volumeattachment <va> -o yaml`" + ` and the attacher's log
  (` + "`kubectl logs -n <ns> <csi-controller-pod> -c csi-attacher`" + `).
- Node gone: pods still bound to it keep the VA (see ` + "`pod-node-missing`" + `); once they are gone the
  attach/detach controller deletes the VA. If the detach then fails because the machine is gone,
  confirm in the cloud console that the disk is detached and remove the finalizer:
  ` + "`kubectl patch volumeattachment <va> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`" + `.
- PV gone: detach the disk in the cloud console (the volume handle is in the VA's attacher log or
  the cloud's disk list), then ` + "`kubectl delete volumeattachment <va>`" + ` and remove its finalizer
  as above.
- Attach errors: typical causes are the attach limit (` + "`node-attach-limit`" + `), a disk still attached
  to another VM, a zone mismatch, or missing cloud permissions.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		for _, va := range snap.VolumeAttachments {
			pvName := snapshot.AttachmentPV(va)
			d := map[string]string{
				"node":     va.Spec.NodeName,
				"attacher": va.Spec.Attacher,
				"attached": strconv.FormatBool(va.Status.Attached),
				"pv":       pvName,
			}
			if pvName == "" {
				d["pv"] = "none (inline volume)"
			}
			var problems, hints []string
			var age *snapshot.Age
			// A VA of a missing node or PV that is already being deleted gets the grace period.
			deletingRecently := va.DeletionTimestamp != nil && p.Now.Sub(va.DeletionTimestamp.Time) < grace
			if snap.Complete(snapshot.Nodes) && snap.Node(va.Spec.NodeName) == nil && !deletingRecently {
				problems = append(problems, fmt.Sprintf("its node %s no longer exists", va.Spec.NodeName))
				hints = append(hints, "delete pods still bound to the node; once the disk is confirmed detached in the cloud, remove the VA's finalizer")
			}
			if pvName != "" && snap.Complete(snapshot.PersistentVolumes) && snap.PV(pvName) == nil && !deletingRecently {
				problems = append(problems, fmt.Sprintf("its PV %s no longer exists, so the attacher cannot detach it", pvName))
				hints = append(hints, "detach the disk in the cloud console, then delete the VA and remove its finalizer")
			}
			if e := va.Status.AttachError; e != nil && va.DeletionTimestamp == nil {
				a := attachFailureAge(va, e)
				if a.Duration(p.Now) >= grace {
					age = &a
					d["attachError"] = strings.TrimSpace(e.Message)
					addVolumeErrorTime(d, "attachErrorTime", e)
					if va.Status.Attached {
						problems = append(problems, fmt.Sprintf("it is attached but a re-attach keeps failing (error present for up to %s, see ageSource; last error: %s)", snapshot.HumanDuration(a.Duration(p.Now)), d["attachError"]))
					} else {
						problems = append(problems, fmt.Sprintf("attaching has failed for %s (last error: %s)", snapshot.HumanDuration(a.Duration(p.Now)), d["attachError"]))
					}
					hints = append(hints, "read the csi-attacher log of driver "+va.Spec.Attacher)
				}
			}
			if e := va.Status.DetachError; e != nil {
				a := detachFailureAge(va, e)
				if a.Duration(p.Now) >= grace {
					age = &a
					d["detachError"] = strings.TrimSpace(e.Message)
					addVolumeErrorTime(d, "detachErrorTime", e)
					problems = append(problems, fmt.Sprintf("detaching has failed for %s (last error: %s)", snapshot.HumanDuration(a.Duration(p.Now)), d["detachError"]))
					hints = append(hints, "read the csi-attacher log of driver "+va.Spec.Attacher+" and check the disk in the cloud console")
				}
			}
			if len(problems) == 0 {
				continue
			}
			switch {
			case age != nil:
				addAge(d, "failingFor", *age, p.Now)
			case va.DeletionTimestamp != nil:
				addAge(d, "detachRequestedFor", snapshot.Age{Since: va.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp (detach requested)"}, p.Now)
			default:
				addAge(d, "age", snapshot.CreationAge(va), p.Now)
			}
			if va.DeletionTimestamp != nil {
				d["deletionTimestamp"] = va.DeletionTimestamp.UTC().Format(time.RFC3339)
			}
			d["finalizers"] = joinOrNone(va.Finalizers)
			what := "volume"
			if pvName != "" {
				what = "PV " + pvName
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.VolumeAttachments, va),
				Message: fmt.Sprintf("VolumeAttachment %s (%s on node %s, driver %s): %s; %s",
					va.Name, what, va.Spec.NodeName, va.Spec.Attacher, strings.Join(problems, "; "), strings.Join(hints, "; ")),
				Details: d,
			})
		}
		return nil
	},
}

// attachFailureAge dates a failing attach. The error's time is the latest retry, so a VA
// that was never attached is dated from its creation; an attached one (a failed re-attach)
// from the error, or its creation when the error has no time.
func attachFailureAge(va *storagev1.VolumeAttachment, e *storagev1.VolumeError) snapshot.Age {
	if !va.Status.Attached || e.Time.IsZero() {
		src := "creationTimestamp (not attached since it was created)"
		if va.Status.Attached {
			src = "creationTimestamp (attachError has no time)"
		}
		return snapshot.Age{Since: va.CreationTimestamp.Time, Source: src}
	}
	return snapshot.Age{Since: e.Time.Time, Source: "status.attachError.time (latest failure)"}
}

// detachFailureAge dates a failing detach from when it was requested (deletionTimestamp),
// else the error's time, else creationTimestamp.
func detachFailureAge(va *storagev1.VolumeAttachment, e *storagev1.VolumeError) snapshot.Age {
	switch {
	case va.DeletionTimestamp != nil:
		return snapshot.Age{Since: va.DeletionTimestamp.Time, Source: "metadata.deletionTimestamp (detach requested)"}
	case !e.Time.IsZero():
		return snapshot.Age{Since: e.Time.Time, Source: "status.detachError.time (latest failure)"}
	}
	return snapshot.Age{Since: va.CreationTimestamp.Time, Source: "creationTimestamp (detachError has no time)"}
}

func addVolumeErrorTime(d map[string]string, key string, e *storagev1.VolumeError) {
	if e.Time.IsZero() {
		d[key] = "not set"
		return
	}
	d[key] = e.Time.UTC().Format(time.RFC3339)
}
