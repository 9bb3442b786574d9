package snapshot

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Default StorageClass annotations. The API server treats a class as default when either
// is exactly "true".
const (
	DefaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// DefaultClassAnnotationSet returns which default annotation marks sc as the default
// class ("" when neither does), as k8s.io/component-helpers IsDefaultAnnotation reads them.
func DefaultClassAnnotationSet(sc *storagev1.StorageClass) string {
	switch {
	case sc.Annotations[DefaultClassAnnotation] == "true":
		return DefaultClassAnnotation
	case sc.Annotations[BetaDefaultClassAnnotation] == "true":
		return BetaDefaultClassAnnotation
	}
	return ""
}

// DefaultStorageClasses returns the classes marked default (see DefaultClassAnnotationSet)
// in the order the DefaultStorageClass admission plugin (1.26+) and the PV controller's
// retroactive assignment prefer them: newest creationTimestamp first, ties by name. The
// first one is the class a claim without storageClassName gets.
func DefaultStorageClasses(classes []*storagev1.StorageClass) []*storagev1.StorageClass {
	var defaults []*storagev1.StorageClass
	for _, sc := range classes {
		if DefaultClassAnnotationSet(sc) != "" {
			defaults = append(defaults, sc)
		}
	}
	sort.SliceStable(defaults, func(i, j int) bool {
		a, b := defaults[i].CreationTimestamp.Time, defaults[j].CreationTimestamp.Time
		if !a.Equal(b) {
			return a.After(b)
		}
		return defaults[i].Name < defaults[j].Name
	})
	return defaults
}

// DefaultStorageClass returns the class a claim without storageClassName gets, or nil
// when no class is marked default.
func DefaultStorageClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	if d := DefaultStorageClasses(classes); len(d) > 0 {
		return d[0]
	}
	return nil
}

// ProvisionedByAnnotation is set on a PV by the provisioner that created it (in-tree or
// CSI external-provisioner); PVs created by hand do not carry it.
const ProvisionedByAnnotation = "pv.kubernetes.io/provisioned-by"

// SelectedNodeAnnotation is set on a WaitForFirstConsumer claim by the scheduler once it
// has picked a node for a pod using it: provisioning starts then.
const SelectedNodeAnnotation = "volume.kubernetes.io/selected-node"

// WaitForFirstConsumer reports whether sc delays binding until a pod uses the claim.
func WaitForFirstConsumer(sc *storagev1.StorageClass) bool {
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// NonExpandingProvisioners are provisioners known never to expand their volumes although
// their classes may say allowVolumeExpansion: true. The value says why.
var NonExpandingProvisioners = map[string]string{
	"rancher.io/local-path":                       "rancher/local-path-provisioner has never implemented volume expansion",
	"k8s-sigs.io/nfs-subdir-external-provisioner": "nfs-subdir-external-provisioner has no expansion (it creates plain NFS directories)",
	"kubernetes.io/no-provisioner":                "static local PersistentVolumes (kubernetes.io/no-provisioner) cannot be expanded",
	"microk8s.io/hostpath":                        "the MicroK8s hostpath provisioner creates hostPath volumes, which cannot be expanded",
	"openebs.io/local":                            "OpenEBS Local PV hostpath/device volumes cannot be expanded",
	"k8s.io/minikube-hostpath":                    "minikube's storage-provisioner creates hostPath volumes, which cannot be expanded",
	"docker.io/hostpath":                          "Docker Desktop's hostpath provisioner creates hostPath volumes, which cannot be expanded",
	"kubernetes.io/host-path":                     "the in-tree hostPath provisioner (testing only) cannot expand volumes",
}

// InTreeProvisioner reports whether a provisioner is a "kubernetes.io/..." in-tree name
// (kubernetes.io/aws-ebs, gce-pd, azure-disk, cinder, ...). Their volumes are expanded by
// kube-controller-manager or, with CSI migration, by the migrated driver; they are never
// judged by the presence of a csi-resizer for the in-tree name.
func InTreeProvisioner(provisioner string) bool {
	return strings.HasPrefix(provisioner, "kubernetes.io/")
}

// NonExpandableSource returns "hostPath", "local" or "nfs" when a PV's source is one of
// the plugins that can never be expanded, else "". A PV with a CSI source is never one.
func NonExpandableSource(pv *corev1.PersistentVolume) string {
	if pv.Spec.CSI != nil {
		return "" // the common case, without building PVSource's string
	}
	switch src := PVSource(pv); src {
	case "hostPath", "local", "nfs":
		return src
	}
	return ""
}

// PVSource names the volume plugin behind a PV: "csi:<driver>", "hostPath", "local",
// "nfs", or the in-tree plugin's field name; "" when none is set.
func PVSource(pv *corev1.PersistentVolume) string {
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.CSI != nil:
		return "csi:" + s.CSI.Driver
	case s.HostPath != nil:
		return "hostPath"
	case s.Local != nil:
		return "local"
	case s.NFS != nil:
		return "nfs"
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore"
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk"
	case s.AzureDisk != nil:
		return "azureDisk"
	case s.AzureFile != nil:
		return "azureFile"
	case s.Cinder != nil:
		return "cinder"
	case s.VsphereVolume != nil:
		return "vsphereVolume"
	case s.RBD != nil:
		return "rbd"
	case s.CephFS != nil:
		return "cephfs"
	case s.ISCSI != nil:
		return "iscsi"
	case s.FC != nil:
		return "fc"
	}
	return ""
}

// TerminalResizeStatus reports whether an allocatedResourceStatuses value means the
// resize failed for good: ...Infeasible (1.31+) or ...Failed (1.28-1.30).
func TerminalResizeStatus(s string) bool {
	switch s {
	case ControllerResizeInfeasible, NodeResizeInfeasible, ControllerResizeFailed, NodeResizeFailed:
		return true
	}
	return false
}

// NodeResizeStatus reports whether an allocatedResourceStatuses value means the control
// plane is done and the kubelet has to finish (NodeResizePending, NodeResizeInProgress).
func NodeResizeStatus(s string) bool {
	return s == NodeResizePending || s == NodeResizeInProgress
}

// ClaimConditionSince returns when a True condition of type t last changed, and whether
// the claim has it with a timestamp.
func ClaimConditionSince(pvc *corev1.PersistentVolumeClaim, t corev1.PersistentVolumeClaimConditionType) (time.Time, bool) {
	c := ClaimCondition(pvc, t)
	if c == nil || c.LastTransitionTime.IsZero() {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}

// EventFirstTime is when an event (series) was first seen: firstTimestamp, else eventTime,
// else creationTimestamp.
func EventFirstTime(e *corev1.Event) time.Time {
	switch {
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// NewestFirstSeen returns the event among evs with the given reason whose first occurrence
// is the newest, or nil. An aggregated event's firstTimestamp may predate the latest
// request (a second resize with the same message joins the old series), so callers treat
// it as the best known date, not an exact one.
func NewestFirstSeen(evs []*corev1.Event, reason string) *corev1.Event {
	var best *corev1.Event
	for _, e := range evs {
		if e.Reason == reason && (best == nil || EventFirstTime(e).After(EventFirstTime(best))) {
			best = e
		}
	}
	return best
}

// UpperBoundAge dates something by the object's creationTimestamp because nothing more
// precise survived (events expire after an hour): the real age is at most this.
func UpperBoundAge(pvc *corev1.PersistentVolumeClaim, what string) Age {
	return Age{Since: pvc.CreationTimestamp.Time, Source: "creationTimestamp (upper bound: no condition or event dates " + what + ")"}
}

// CSIResizerContainer reports whether a container is an external-resizer sidecar: named
// csi-resizer, or running a csi-resizer image.
func CSIResizerContainer(c corev1.Container) bool {
	return c.Name == "csi-resizer" || strings.Contains(c.Image, "csi-resizer")
}

// CSIProvisionerContainer reports whether a container is an external-provisioner sidecar,
// the mark of a CSI driver's controller pod.
func CSIProvisionerContainer(c corev1.Container) bool {
	return c.Name == "csi-provisioner" || strings.Contains(c.Image, "csi-provisioner")
}

// PodMentions reports whether s appears in any container's image, command, args or env
// values (init containers included) or in a hostPath volume's path: how a driver's pods
// name their driver (--drivername=…, socket directories /var/lib/kubelet/plugins/<driver>/).
func PodMentions(p *corev1.Pod, s string) bool {
	if s == "" {
		return false
	}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil && strings.Contains(v.HostPath.Path, s) {
			return true
		}
	}
	check := func(cs []corev1.Container) bool {
		for _, c := range cs {
			if strings.Contains(c.Image, s) {
				return true
			}
			for _, l := range [][]string{c.Command, c.Args} {
				for _, a := range l {
					if strings.Contains(a, s) {
						return true
					}
				}
			}
			for _, e := range c.Env {
				if strings.Contains(e.Value, s) {
					return true
				}
			}
		}
		return false
	}
	return check(p.Spec.InitContainers) || check(p.Spec.Containers)
}

// PodRunningSince dates a pod's current run: status.startTime, else creationTimestamp.
func PodRunningSince(p *corev1.Pod) Age {
	if p.Status.StartTime != nil && !p.Status.StartTime.IsZero() {
		return Age{Since: p.Status.StartTime.Time, Source: "status.startTime of pod " + p.Name}
	}
	return Age{Since: p.CreationTimestamp.Time, Source: "creationTimestamp of pod " + p.Name}
}
