package snapshot

import (
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sharer makes equal values of the objects a cluster holds by the ten thousand point at
// one copy. A decoded object owns every string, map and slice it holds, so 20 000 claims
// of "10Gi" carry 20 000 capacity maps (a Go map of one entry costs ~600 bytes) and 20 000
// copies of their namespace, class and driver names. Sharing them keeps the snapshot to a
// fraction of its decoded size; it is safe because the snapshot is read-only once built
// (rules are pure, fixes re-read what they change from the API server).
//
// A sharer is safe for concurrent use: the live loader shares objects from several LISTs
// as they are decoded, so duplicates are garbage before the next page arrives.
type sharer struct {
	mu    sync.Mutex
	strs  map[string]string
	smaps map[string]map[string]string
	lists map[string]corev1.ResourceList
	modes map[string][]corev1.PersistentVolumeAccessMode
}

func newSharer() *sharer {
	return &sharer{
		strs:  map[string]string{},
		smaps: map[string]map[string]string{},
		lists: map[string]corev1.ResourceList{},
		modes: map[string][]corev1.PersistentVolumeAccessMode{},
	}
}

// share replaces obj's common values by shared copies. Only the kinds held in bulk are
// worth it; the rest are left alone.
func (sh *sharer) share(obj any) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch o := obj.(type) {
	case *corev1.PersistentVolume:
		sh.meta(&o.ObjectMeta)
		sh.list(&o.Spec.Capacity)
		sh.str(&o.Spec.StorageClassName)
		sh.accessModes(&o.Spec.AccessModes)
		if c := o.Spec.CSI; c != nil {
			sh.str(&c.Driver)
			sh.str(&c.FSType)
			sh.smap(&c.VolumeAttributes)
		}
		if r := o.Spec.ClaimRef; r != nil {
			sh.str(&r.Namespace)
			sh.str(&r.Kind)
			sh.str(&r.APIVersion)
		}
	case *corev1.PersistentVolumeClaim:
		sh.meta(&o.ObjectMeta)
		sh.list(&o.Spec.Resources.Requests)
		sh.list(&o.Spec.Resources.Limits)
		sh.list(&o.Status.Capacity)
		sh.list(&o.Status.AllocatedResources)
		if c := o.Spec.StorageClassName; c != nil {
			sh.str(c)
		}
		sh.accessModes(&o.Spec.AccessModes)
		sh.accessModes(&o.Status.AccessModes)
	case *corev1.Pod:
		sh.meta(&o.ObjectMeta)
		sh.str(&o.Spec.NodeName)
	case *storagev1.VolumeAttachment:
		sh.meta(&o.ObjectMeta)
		sh.str(&o.Spec.Attacher)
		sh.str(&o.Spec.NodeName)
	case *storagev1.CSINode:
		sh.meta(&o.ObjectMeta)
		for i := range o.Spec.Drivers {
			sh.str(&o.Spec.Drivers[i].Name)
		}
	case *corev1.Event:
		sh.meta(&o.ObjectMeta)
		sh.str(&o.Reason)
		sh.str(&o.Type)
		sh.str(&o.Source.Component)
		sh.str(&o.ReportingController)
		sh.str(&o.InvolvedObject.Kind)
		sh.str(&o.InvolvedObject.APIVersion)
		sh.str(&o.InvolvedObject.Namespace)
	}
}

func (sh *sharer) meta(m *metav1.ObjectMeta) {
	sh.str(&m.Namespace)
	sh.smap(&m.Labels)
	sh.smap(&m.Annotations)
	for i := range m.OwnerReferences {
		r := &m.OwnerReferences[i]
		sh.str(&r.APIVersion)
		sh.str(&r.Kind)
		sh.str(&r.Name) // the pods of one workload all name it
		uid := string(r.UID)
		sh.str(&uid)
		r.UID = types.UID(uid)
	}
}

func (sh *sharer) str(s *string) {
	if *s == "" {
		return
	}
	if v, ok := sh.strs[*s]; ok {
		*s = v
		return
	}
	sh.strs[*s] = *s
}

// smap shares small string maps (labels, annotations, CSI volume attributes) by content.
func (sh *sharer) smap(m *map[string]string) {
	if len(*m) == 0 || len(*m) > 16 {
		return
	}
	keys := make([]string, 0, len(*m))
	for k := range *m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString((*m)[k])
		b.WriteByte(0)
	}
	key := b.String()
	if v, ok := sh.smaps[key]; ok {
		*m = v
		return
	}
	for _, k := range keys { // the kept copy's strings are shared too
		v := (*m)[k]
		sh.str(&v)
		delete(*m, k)
		kk := k
		sh.str(&kk)
		(*m)[kk] = v
	}
	sh.smaps[key] = *m
}

// list shares resource lists by their canonical quantities: two lists whose quantities
// print alike hold the same values in the same format.
func (sh *sharer) list(l *corev1.ResourceList) {
	if len(*l) == 0 {
		return
	}
	names := make([]string, 0, len(*l))
	for n := range *l {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		q := (*l)[corev1.ResourceName(n)]
		b.WriteString(n)
		b.WriteByte(0)
		b.WriteString(q.String())
		b.WriteByte(0)
	}
	key := b.String()
	if v, ok := sh.lists[key]; ok {
		*l = v
		return
	}
	sh.lists[key] = *l
}

func (sh *sharer) accessModes(m *[]corev1.PersistentVolumeAccessMode) {
	if len(*m) == 0 {
		return
	}
	var b strings.Builder
	for _, x := range *m {
		b.WriteString(string(x))
		b.WriteByte(0)
	}
	key := b.String()
	if v, ok := sh.modes[key]; ok {
		*m = v
		return
	}
	sh.modes[key] = *m
}
