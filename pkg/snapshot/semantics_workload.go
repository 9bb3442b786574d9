package snapshot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatefulSetClaimName returns the name the StatefulSet controller gives the claim of
// volumeClaimTemplate template for ordinal i: <template>-<sts>-<i>.
func StatefulSetClaimName(template, sts string, ordinal int) string {
	return template + "-" + sts + "-" + strconv.Itoa(ordinal)
}

// StatefulSetClaim finds the StatefulSet (in the claim's namespace) and the
// volumeClaimTemplate whose claim-name pattern <template>-<sts>-<ordinal> the claim
// matches, with the ordinal. It matches by name only, as the controller does when it
// re-attaches a claim on scale-up; it does not look at labels or ownerReferences. When
// several StatefulSets match (names with dashes can be split more than one way), the one
// listed first in the snapshot wins.
//
// The ordinal never contains a dash, so the claim name up to its last dash is
// <template>-<sts>: every dash in it is a possible split, and the StatefulSet is looked up
// by name for each, instead of comparing the claim with every StatefulSet.
func (s *Snapshot) StatefulSetClaim(pvc *corev1.PersistentVolumeClaim) (st *appsv1.StatefulSet, template string, ordinal int, ok bool) {
	last := strings.LastIndexByte(pvc.Name, '-')
	if last < 0 {
		return nil, "", 0, false
	}
	head := pvc.Name[:last]
	best := -1
	for i := 0; i < len(head); i++ {
		if head[i] != '-' {
			continue
		}
		pos, found := s.ix.stsPos[Key{Namespace: pvc.Namespace, Name: head[i+1:]}]
		if !found || (best >= 0 && pos >= best) {
			continue
		}
		set := s.StatefulSets[pos]
		for j := range set.Spec.VolumeClaimTemplates {
			tpl := set.Spec.VolumeClaimTemplates[j].Name
			if n, ok := StatefulSetOrdinal(pvc.Name, tpl, set.Name); ok {
				best, st, template, ordinal = pos, set, tpl, n
				break
			}
		}
	}
	if best < 0 {
		return nil, "", 0, false
	}
	return st, template, ordinal, true
}

// WhenScaled returns the StatefulSet's effective
// persistentVolumeClaimRetentionPolicy.whenScaled (Retain when unset, as the API defaults it).
func WhenScaled(st *appsv1.StatefulSet) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p := st.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenScaled != "" {
		return p.WhenScaled
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

// WhenDeleted returns the StatefulSet's effective
// persistentVolumeClaimRetentionPolicy.whenDeleted (Retain when unset).
func WhenDeleted(st *appsv1.StatefulSet) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p := st.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted != "" {
		return p.WhenDeleted
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

// StatefulSetScaling reports whether the StatefulSet controller has not caught up with the
// spec yet: it has not observed the latest generation, or more pods exist than spec.replicas
// asks for (a scale-down in progress).
func StatefulSetScaling(st *appsv1.StatefulSet) bool {
	if st.Status.ObservedGeneration < st.Generation {
		return true
	}
	return int(st.Status.Replicas) > Replicas(st)
}

// OrdinalRange prints the live ordinals of a StatefulSet ("0-2", "5", "none").
func OrdinalRange(st *appsv1.StatefulSet) string {
	start, n := OrdinalStart(st), Replicas(st)
	switch {
	case n <= 0:
		return "none"
	case n == 1:
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "-" + strconv.Itoa(start+n-1)
}

// ControllerOf returns the controlling ownerReference of o, else its first
// ownerReference, or nil when it has none.
func ControllerOf(o metav1.Object) *metav1.OwnerReference {
	refs := o.GetOwnerReferences()
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

// PodStatefulSet returns the name of the StatefulSet that controls a pod, or "".
func PodStatefulSet(p *corev1.Pod) string {
	if ref := ControllerOf(p); ref != nil && ref.Kind == "StatefulSet" {
		return ref.Name
	}
	return ""
}

// NodeReady returns the status of a node's Ready condition ("True", "False", "Unknown"),
// or "" when the node reports none.
func NodeReady(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return string(c.Status)
		}
	}
	return ""
}

// migratedToAnnotation is set by kube-controller-manager on in-tree PVs whose plugin is
// migrated to CSI; its value is the CSI driver that now handles the volume.
const migratedToAnnotation = "pv.kubernetes.io/migrated-to"

// PVDriver returns the CSI driver that attaches and mounts a PV: spec.csi.driver, or for
// an in-tree PV migrated to CSI the pv.kubernetes.io/migrated-to annotation; "" otherwise.
func PVDriver(pv *corev1.PersistentVolume) string {
	if pv.Spec.CSI != nil {
		return pv.Spec.CSI.Driver
	}
	return pv.Annotations[migratedToAnnotation]
}

// CSINodeDriver returns the entry of driver in a CSINode, or nil when the driver's node
// plugin has not registered on that node.
func CSINodeDriver(cn *storagev1.CSINode, driver string) *storagev1.CSINodeDriver {
	if cn == nil {
		return nil
	}
	for i := range cn.Spec.Drivers {
		if cn.Spec.Drivers[i].Name == driver {
			return &cn.Spec.Drivers[i]
		}
	}
	return nil
}

// AttachmentPV returns the PV a VolumeAttachment attaches, or "" for an inline volume.
func AttachmentPV(va *storagev1.VolumeAttachment) string {
	if n := va.Spec.Source.PersistentVolumeName; n != nil {
		return *n
	}
	return ""
}

// ClaimUnused interprets the claim's Unused condition (1.36+, alpha gate
// PersistentVolumeClaimUnusedSinceTime): known is false when the server does not set it;
// otherwise unused is its status and since its lastTransitionTime.
func ClaimUnused(pvc *corev1.PersistentVolumeClaim) (unused, known bool, since time.Time) {
	for _, c := range pvc.Status.Conditions {
		if c.Type != corev1.PersistentVolumeClaimUnused {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return true, true, c.LastTransitionTime.Time
		case corev1.ConditionFalse:
			return false, true, c.LastTransitionTime.Time
		}
	}
	return false, false, time.Time{}
}

// PodFinishedAt returns when the last container of a terminated pod stopped, or zero.
func PodFinishedAt(p *corev1.Pod) time.Time {
	var last time.Time
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if t := cs.State.Terminated; t != nil && t.FinishedAt.After(last) {
				last = t.FinishedAt.Time
			}
		}
	}
	return last
}

// ClaimTemplate returns st's volumeClaimTemplate named name, or its only one when name is
// "". The error says which templates exist and to choose one with --template.
func ClaimTemplate(st *appsv1.StatefulSet, name string) (*corev1.PersistentVolumeClaim, error) {
	tpls := st.Spec.VolumeClaimTemplates
	var names []string
	for i := range tpls {
		if tpls[i].Name == name || (name == "" && len(tpls) == 1) {
			return &tpls[i], nil
		}
		names = append(names, tpls[i].Name)
	}
	switch {
	case len(tpls) == 0:
		return nil, fmt.Errorf("StatefulSet %s/%s has no volumeClaimTemplates: nothing to resize through it (resize its claims one by one)", st.Namespace, st.Name)
	case name == "":
		return nil, fmt.Errorf("StatefulSet %s/%s has %d volumeClaimTemplates (%s): choose one with --template", st.Namespace, st.Name, len(tpls), strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("StatefulSet %s/%s has no volumeClaimTemplate %q (it has %s)", st.Namespace, st.Name, name, strings.Join(names, ", "))
}
