package snapshot

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// betaStorageClassAnnotation is the pre-1.6 way to name a claim's class; the API server
// still honours it when spec.storageClassName is unset.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// ClaimClass returns the StorageClass a claim asks for: spec.storageClassName, else the
// beta annotation, else "". An empty result means either static binding
// (storageClassName: "") or no class at all; ClaimClassSet tells them apart.
func ClaimClass(pvc *corev1.PersistentVolumeClaim) string {
	c, _ := ClaimClassSet(pvc)
	return c
}

// ClaimClassSet returns the claim's class and whether one was set explicitly (an explicit
// "" requests static binding to a class-less PV and must not be treated as missing).
func ClaimClassSet(pvc *corev1.PersistentVolumeClaim) (string, bool) {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName, true
	}
	if v, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
		return v, true
	}
	return "", false
}

// PodClaims returns the names of the claims a pod's volumes use, including the claims the
// ephemeral volume controller creates for generic ephemeral volumes (<pod>-<volume>).
func PodClaims(p *corev1.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, p.Name+"-"+v.Name)
		}
	}
	return out
}

// PodTerminated reports whether a pod has finished (Succeeded or Failed). Terminated
// pods no longer hold volumes for attach limits or claim usage.
func PodTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// PodRunning reports whether a pod is running (its volumes are mounted by a kubelet).
func PodRunning(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

// Storage returns the storage quantity in a resource list and whether it was set.
func Storage(l corev1.ResourceList) (resource.Quantity, bool) {
	q, ok := l[corev1.ResourceStorage]
	return q, ok
}

// ClaimRequest returns spec.resources.requests.storage of a claim.
func ClaimRequest(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	return Storage(pvc.Spec.Resources.Requests)
}

// ClaimCapacity returns status.capacity.storage of a claim.
func ClaimCapacity(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	return Storage(pvc.Status.Capacity)
}

// PVCapacity returns spec.capacity.storage of a PV.
func PVCapacity(pv *corev1.PersistentVolume) (resource.Quantity, bool) {
	return Storage(pv.Spec.Capacity)
}

// ClaimCondition returns the claim's condition of type t with status True, or nil.
func ClaimCondition(pvc *corev1.PersistentVolumeClaim, t corev1.PersistentVolumeClaimConditionType) *corev1.PersistentVolumeClaimCondition {
	for i := range pvc.Status.Conditions {
		c := &pvc.Status.Conditions[i]
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// Resize states reported in status.allocatedResourceStatuses["storage"] across releases.
// 1.28-1.30 spelled the terminal ones ...Failed; 1.31+ spell them ...Infeasible.
const (
	ControllerResizeInProgress = "ControllerResizeInProgress"
	ControllerResizeInfeasible = "ControllerResizeInfeasible"
	ControllerResizeFailed     = "ControllerResizeFailed"
	NodeResizePending          = "NodeResizePending"
	NodeResizeInProgress       = "NodeResizeInProgress"
	NodeResizeInfeasible       = "NodeResizeInfeasible"
	NodeResizeFailed           = "NodeResizeFailed"
)

// ResizeStatus returns the claim's storage resize status from
// status.allocatedResourceStatuses, or "" when absent (idle, or a server that does not
// report it). Unknown values are returned as they are; callers ignore what they don't know.
func ResizeStatus(pvc *corev1.PersistentVolumeClaim) string {
	return string(pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage])
}

// resizeConditions are the claim conditions that mean a resize is under way or failing.
var resizeConditions = []corev1.PersistentVolumeClaimConditionType{
	corev1.PersistentVolumeClaimResizing,
	corev1.PersistentVolumeClaimFileSystemResizePending,
	corev1.PersistentVolumeClaimControllerResizeError,
	corev1.PersistentVolumeClaimNodeResizeError,
}

// ResizeActivity reports whether the claim itself shows a resize being worked on, pending
// or failing: a True resize condition (Resizing, FileSystemResizePending,
// ControllerResizeError, NodeResizeError) or any status.allocatedResourceStatuses["storage"]
// value. It looks at the claim only; callers that need the PV's capacity compare it
// themselves.
func ResizeActivity(pvc *corev1.PersistentVolumeClaim) bool {
	for _, t := range resizeConditions {
		if ClaimCondition(pvc, t) != nil {
			return true
		}
	}
	return ResizeStatus(pvc) != ""
}

// ExpansionRequested reports whether a claim asks for more than it has: request > capacity.
// Both must be known; a request below capacity is legal (recovery from a failed resize).
func ExpansionRequested(pvc *corev1.PersistentVolumeClaim) bool {
	req, ok1 := ClaimRequest(pvc)
	capa, ok2 := ClaimCapacity(pvc)
	return ok1 && ok2 && req.Cmp(capa) > 0
}

// ResizerEventSource reports whether an event came from an external-resizer (its source
// component is "external-resizer <driver>").
func ResizerEventSource(e *corev1.Event) bool {
	return strings.HasPrefix(e.Source.Component, "external-resizer") ||
		strings.HasPrefix(e.ReportingController, "external-resizer")
}

var sanitizeRE = regexp.MustCompile("[^a-zA-Z0-9-]")

// ResizerLeaseName is the Lease the external-resizer of driver takes for leader election:
// "external-resizer-" + the driver name with every character outside [a-zA-Z0-9-]
// replaced by "-" (and an "X" appended if that leaves a trailing "-"), as in
// kubernetes-csi/external-resizer's util.SanitizeName.
func ResizerLeaseName(driver string) string {
	if driver == "" {
		return ResizerLeasePrefix
	}
	n := sanitizeRE.ReplaceAllString(driver, "-")
	if strings.HasSuffix(n, "-") {
		n += "X"
	}
	return ResizerLeasePrefix + n
}

// StatefulSetOrdinal parses a claim name of the form <template>-<sts>-<ordinal> for the
// given template and StatefulSet names and returns the ordinal.
func StatefulSetOrdinal(claim, template, sts string) (int, bool) {
	prefix := template + "-" + sts + "-"
	if !strings.HasPrefix(claim, prefix) {
		return 0, false
	}
	rest := claim[len(prefix):]
	if rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Replicas returns spec.replicas of a StatefulSet, defaulting to 1 as the API does.
func Replicas(st *appsv1.StatefulSet) int {
	if st.Spec.Replicas == nil {
		return 1
	}
	return int(*st.Spec.Replicas)
}

// OrdinalStart returns spec.ordinals.start (0 when unset).
func OrdinalStart(st *appsv1.StatefulSet) int {
	if st.Spec.Ordinals == nil {
		return 0
	}
	return int(st.Spec.Ordinals.Start)
}

// LiveOrdinal reports whether ordinal i is inside the StatefulSet's current range.
func LiveOrdinal(st *appsv1.StatefulSet, i int) bool {
	start := OrdinalStart(st)
	return i >= start && i < start+Replicas(st)
}

// Age is a duration together with the timestamp it was measured from, so a finding can
// say which clock it used.
type Age struct {
	Since  time.Time
	Source string // e.g. "status.lastPhaseTransitionTime", "creationTimestamp"
}

// Duration returns now - Since.
func (a Age) Duration(now time.Time) time.Duration { return now.Sub(a.Since) }

// PVPhaseAge dates a PV's current phase: lastPhaseTransitionTime when the server set it,
// else creationTimestamp (an upper bound on the phase's age, said so in Source).
func PVPhaseAge(pv *corev1.PersistentVolume) Age {
	if t := pv.Status.LastPhaseTransitionTime; t != nil && !t.IsZero() {
		return Age{Since: t.Time, Source: "status.lastPhaseTransitionTime"}
	}
	return Age{Since: pv.CreationTimestamp.Time, Source: "creationTimestamp (lastPhaseTransitionTime not set)"}
}

// CreationAge dates an object by its creationTimestamp.
func CreationAge(o metav1.Object) Age {
	return Age{Since: o.GetCreationTimestamp().Time, Source: "creationTimestamp"}
}

// HumanDuration prints a duration the way kubectl's AGE column does (3d4h, 15m, 42s).
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return strconv.Itoa(h) + "h" + strconv.Itoa(m) + "m"
	default:
		days := int(d / (24 * time.Hour))
		h := int((d % (24 * time.Hour)) / time.Hour)
		if h == 0 {
			return strconv.Itoa(days) + "d"
		}
		return strconv.Itoa(days) + "d" + strconv.Itoa(h) + "h"
	}
}
