package snapshot

import (
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadRef names a workload whose pod template references a claim.
type WorkloadRef struct {
	Kind      string
	Namespace string
	Name      string
}

type eventKey struct {
	kind, namespace, name string
}

type index struct {
	pvByName      map[string]*corev1.PersistentVolume
	pvcByKey      map[Key]*corev1.PersistentVolumeClaim
	classByName   map[string]*storagev1.StorageClass
	pvsByClass    map[string][]*corev1.PersistentVolume
	pvcsByClass   map[string][]*corev1.PersistentVolumeClaim
	nodeByName    map[string]*corev1.Node
	csiNodeByName map[string]*storagev1.CSINode
	podsByNode    map[string][]*corev1.Pod
	pvsInUse      map[string][]*corev1.PersistentVolume // by node: see PVsInUseOnNode
	vasByNode     map[string][]*storagev1.VolumeAttachment
	podsByClaim   map[Key][]*corev1.Pod
	claimUsers    map[Key][]WorkloadRef
	stsByKey      map[Key]*appsv1.StatefulSet
	stsPos        map[Key]int // position in Snapshot.StatefulSets
	events        map[eventKey][]*corev1.Event
	resizerLease  map[string]bool
	// byName holds, for the kinds without a table above, a name index built on the first
	// Object call for that kind: most are never looked up by name (the engine asks only
	// for the objects of findings), and an eager table of every object was a third of the
	// index at 20 000 volumes.
	byName map[Kind]*lazyTable
}

type lazyTable struct {
	once sync.Once
	m    map[Key]metav1.Object
}

// Index builds the lookup tables. Call it once after the last Add; lookups before Index
// panic, which is a programming error, not a data error.
func (s *Snapshot) Index() {
	ix := &index{
		pvByName:      make(map[string]*corev1.PersistentVolume, len(s.PersistentVolumes)),
		pvcByKey:      make(map[Key]*corev1.PersistentVolumeClaim, len(s.PersistentVolumeClaims)),
		classByName:   make(map[string]*storagev1.StorageClass, len(s.StorageClasses)),
		pvsByClass:    map[string][]*corev1.PersistentVolume{},
		pvcsByClass:   map[string][]*corev1.PersistentVolumeClaim{},
		nodeByName:    make(map[string]*corev1.Node, len(s.Nodes)),
		csiNodeByName: make(map[string]*storagev1.CSINode, len(s.CSINodes)),
		podsByNode:    make(map[string][]*corev1.Pod, len(s.Nodes)),
		pvsInUse:      make(map[string][]*corev1.PersistentVolume, len(s.Nodes)),
		vasByNode:     make(map[string][]*storagev1.VolumeAttachment, len(s.Nodes)),
		podsByClaim:   make(map[Key][]*corev1.Pod, len(s.PersistentVolumeClaims)),
		claimUsers:    map[Key][]WorkloadRef{},
		stsByKey:      make(map[Key]*appsv1.StatefulSet, len(s.StatefulSets)),
		stsPos:        make(map[Key]int, len(s.StatefulSets)),
		events:        make(map[eventKey][]*corev1.Event, len(s.Events)/2),
		resizerLease:  map[string]bool{},
		byName:        map[Kind]*lazyTable{},
	}
	s.dedupe()
	for _, k := range AllKinds {
		ix.byName[k] = &lazyTable{}
	}
	for _, pv := range s.PersistentVolumes {
		ix.pvByName[pv.Name] = pv
		ix.pvsByClass[pv.Spec.StorageClassName] = append(ix.pvsByClass[pv.Spec.StorageClassName], pv)
	}
	for _, pvc := range s.PersistentVolumeClaims {
		ix.pvcByKey[KeyOf(pvc)] = pvc
		c := ClaimClass(pvc)
		ix.pvcsByClass[c] = append(ix.pvcsByClass[c], pvc)
	}
	for _, sc := range s.StorageClasses {
		ix.classByName[sc.Name] = sc
	}
	for _, n := range s.Nodes {
		ix.nodeByName[n.Name] = n
	}
	for _, cn := range s.CSINodes {
		ix.csiNodeByName[cn.Name] = cn
	}
	for _, va := range s.VolumeAttachments {
		ix.vasByNode[va.Spec.NodeName] = append(ix.vasByNode[va.Spec.NodeName], va)
	}
	for _, p := range s.Pods {
		node := p.Spec.NodeName
		if node != "" {
			ix.podsByNode[node] = append(ix.podsByNode[node], p)
		}
		inUse := node != "" && !PodTerminated(p)
		for _, claim := range PodClaims(p) {
			k := Key{Namespace: p.Namespace, Name: claim}
			ix.podsByClaim[k] = append(ix.podsByClaim[k], p)
			if pvc := ix.pvcByKey[k]; inUse && pvc != nil {
				if pv := ix.boundPV(pvc); pv != nil {
					ix.pvsInUse[node] = append(ix.pvsInUse[node], pv)
				}
			}
		}
	}
	for i, st := range s.StatefulSets {
		ix.stsByKey[KeyOf(st)] = st
		ix.stsPos[KeyOf(st)] = i
		ix.addUsers("StatefulSet", st, st.Spec.Template.Spec.Volumes)
	}
	for _, d := range s.Deployments {
		ix.addUsers("Deployment", d, d.Spec.Template.Spec.Volumes)
	}
	for _, d := range s.DaemonSets {
		ix.addUsers("DaemonSet", d, d.Spec.Template.Spec.Volumes)
	}
	for _, r := range s.ReplicaSets {
		ix.addUsers("ReplicaSet", r, r.Spec.Template.Spec.Volumes)
	}
	for _, j := range s.Jobs {
		ix.addUsers("Job", j, j.Spec.Template.Spec.Volumes)
	}
	for _, c := range s.CronJobs {
		ix.addUsers("CronJob", c, c.Spec.JobTemplate.Spec.Template.Spec.Volumes)
	}
	for _, l := range s.Leases {
		ix.resizerLease[l.Name] = true
	}
	for _, e := range s.Events {
		k := eventKey{e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name}
		ix.events[k] = append(ix.events[k], e)
	}
	for _, evs := range ix.events {
		sortEvents(evs)
	}
	s.ix = ix
}

func (ix *index) addUsers(kind string, owner metav1.Object, vols []corev1.Volume) {
	for _, v := range vols {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		k := Key{Namespace: owner.GetNamespace(), Name: v.PersistentVolumeClaim.ClaimName}
		ix.claimUsers[k] = append(ix.claimUsers[k], WorkloadRef{Kind: kind, Namespace: owner.GetNamespace(), Name: owner.GetName()})
	}
}

// dedupe keeps the last copy of objects that appear more than once (a dump directory
// holding overlapping files), so nothing is reported twice.
func (s *Snapshot) dedupe() {
	s.PersistentVolumes = dedupe(s.PersistentVolumes)
	s.PersistentVolumeClaims = dedupe(s.PersistentVolumeClaims)
	s.StorageClasses = dedupe(s.StorageClasses)
	s.CSIDrivers = dedupe(s.CSIDrivers)
	s.CSINodes = dedupe(s.CSINodes)
	s.VolumeAttachments = dedupe(s.VolumeAttachments)
	s.Nodes = dedupe(s.Nodes)
	s.Pods = dedupe(s.Pods)
	s.StatefulSets = dedupe(s.StatefulSets)
	s.Deployments = dedupe(s.Deployments)
	s.DaemonSets = dedupe(s.DaemonSets)
	s.ReplicaSets = dedupe(s.ReplicaSets)
	s.Jobs = dedupe(s.Jobs)
	s.CronJobs = dedupe(s.CronJobs)
	s.ResourceQuotas = dedupe(s.ResourceQuotas)
	s.Leases = dedupe(s.Leases)
	s.Events = dedupe(s.Events)
}

func dedupe[T metav1.Object](in []T) []T {
	seen := make(map[Key]int, len(in))
	out := in[:0]
	for _, o := range in {
		k := KeyOf(o)
		if i, ok := seen[k]; ok {
			out[i] = o
			continue
		}
		seen[k] = len(out)
		out = append(out, o)
	}
	return out
}

// PV returns the PersistentVolume named name, or nil.
func (s *Snapshot) PV(name string) *corev1.PersistentVolume { return s.ix.pvByName[name] }

// PVC returns the claim namespace/name, or nil.
func (s *Snapshot) PVC(namespace, name string) *corev1.PersistentVolumeClaim {
	return s.ix.pvcByKey[Key{Namespace: namespace, Name: name}]
}

// StorageClass returns the class named name, or nil.
func (s *Snapshot) StorageClass(name string) *storagev1.StorageClass { return s.ix.classByName[name] }

// Node returns the node named name, or nil.
func (s *Snapshot) Node(name string) *corev1.Node { return s.ix.nodeByName[name] }

// CSINode returns the CSINode of node name, or nil.
func (s *Snapshot) CSINode(name string) *storagev1.CSINode { return s.ix.csiNodeByName[name] }

// StatefulSet returns the StatefulSet namespace/name, or nil.
func (s *Snapshot) StatefulSet(namespace, name string) *appsv1.StatefulSet {
	return s.ix.stsByKey[Key{Namespace: namespace, Name: name}]
}

// BoundPV returns the PV a claim is bound to, only when the binding is mutual (the PV's
// claimRef points back at this claim, with the same UID when both carry one).
func (s *Snapshot) BoundPV(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	return s.ix.boundPV(pvc)
}

func (ix *index) boundPV(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	if pvc.Spec.VolumeName == "" {
		return nil
	}
	pv := ix.pvByName[pvc.Spec.VolumeName]
	if pv == nil || !ClaimRefMatches(pv.Spec.ClaimRef, pvc) {
		return nil
	}
	return pv
}

// ClaimOf returns the claim a PV's claimRef names if that claim exists with the same UID.
func (s *Snapshot) ClaimOf(pv *corev1.PersistentVolume) *corev1.PersistentVolumeClaim {
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return nil
	}
	pvc := s.ix.pvcByKey[Key{Namespace: ref.Namespace, Name: ref.Name}]
	if pvc == nil || !ClaimRefMatches(ref, pvc) {
		return nil
	}
	return pvc
}

// ClaimRefMatches reports whether ref names pvc (UIDs compared when both are known).
func ClaimRefMatches(ref *corev1.ObjectReference, pvc *corev1.PersistentVolumeClaim) bool {
	if ref == nil || ref.Namespace != pvc.Namespace || ref.Name != pvc.Name {
		return false
	}
	return ref.UID == "" || pvc.UID == "" || ref.UID == pvc.UID
}

// PVsOfClass returns the PVs whose spec.storageClassName is class.
func (s *Snapshot) PVsOfClass(class string) []*corev1.PersistentVolume { return s.ix.pvsByClass[class] }

// PVCsOfClass returns the claims whose effective class (ClaimClass) is class.
func (s *Snapshot) PVCsOfClass(class string) []*corev1.PersistentVolumeClaim {
	return s.ix.pvcsByClass[class]
}

// PodsOnNode returns the pods whose spec.nodeName is node.
func (s *Snapshot) PodsOnNode(node string) []*corev1.Pod { return s.ix.podsByNode[node] }

// PVsInUseOnNode returns the PVs that the node's pods which have not terminated use: for
// each such pod and each of its claims (PodClaims) that exists, the claim's BoundPV. A PV
// appears once per pod and claim that uses it.
func (s *Snapshot) PVsInUseOnNode(node string) []*corev1.PersistentVolume { return s.ix.pvsInUse[node] }

// NodeNamesWithPods returns every node name that some pod is bound to, sorted.
func (s *Snapshot) NodeNamesWithPods() []string { return sortedKeys(s.ix.podsByNode) }

// AttachmentsOnNode returns the VolumeAttachments whose spec.nodeName is node.
func (s *Snapshot) AttachmentsOnNode(node string) []*storagev1.VolumeAttachment {
	return s.ix.vasByNode[node]
}

// NodeNamesWithAttachments returns every node name some VolumeAttachment names, sorted.
func (s *Snapshot) NodeNamesWithAttachments() []string { return sortedKeys(s.ix.vasByNode) }

// PodsUsingClaim returns the pods whose volumes reference claim namespace/name.
func (s *Snapshot) PodsUsingClaim(namespace, name string) []*corev1.Pod {
	return s.ix.podsByClaim[Key{Namespace: namespace, Name: name}]
}

// WorkloadsUsingClaim returns the workloads whose pod templates name claim namespace/name
// in a persistentVolumeClaim volume. StatefulSet volumeClaimTemplates are not included:
// see StatefulSetClaim.
func (s *Snapshot) WorkloadsUsingClaim(namespace, name string) []WorkloadRef {
	return s.ix.claimUsers[Key{Namespace: namespace, Name: name}]
}

// EventsFor returns the storage events about an object, oldest first. When uid is set,
// events recorded for an earlier object of the same name are left out.
func (s *Snapshot) EventsFor(kind, namespace, name, uid string) []*corev1.Event {
	evs := s.ix.events[eventKey{kind, namespace, name}]
	if uid == "" {
		return evs
	}
	var out []*corev1.Event
	for _, e := range evs {
		if e.InvolvedObject.UID == "" || string(e.InvolvedObject.UID) == uid {
			out = append(out, e)
		}
	}
	return out
}

// HasResizerLease reports whether the external-resizer leader Lease for driver exists.
func (s *Snapshot) HasResizerLease(driver string) bool {
	return s.ix.resizerLease[ResizerLeaseName(driver)]
}

// Object returns the object of kind k at namespace/name, or nil. The engine uses it to
// read suppression annotations.
func (s *Snapshot) Object(k Kind, namespace, name string) metav1.Object {
	ix := s.ix
	// The kinds with tables of their own; a nil pointer must come back as a nil interface.
	switch k {
	case PersistentVolumes:
		if pv := ix.pvByName[name]; pv != nil && namespace == "" {
			return pv
		}
		return nil
	case PersistentVolumeClaims:
		if pvc := ix.pvcByKey[Key{Namespace: namespace, Name: name}]; pvc != nil {
			return pvc
		}
		return nil
	case StorageClasses:
		if sc := ix.classByName[name]; sc != nil && namespace == "" {
			return sc
		}
		return nil
	case Nodes:
		if n := ix.nodeByName[name]; n != nil && namespace == "" {
			return n
		}
		return nil
	case CSINodes:
		if n := ix.csiNodeByName[name]; n != nil && namespace == "" {
			return n
		}
		return nil
	case StatefulSets:
		if st := ix.stsByKey[Key{Namespace: namespace, Name: name}]; st != nil {
			return st
		}
		return nil
	}
	t := ix.byName[k]
	if t == nil {
		return nil
	}
	t.once.Do(func() {
		objs := s.objectsOf(k)
		t.m = make(map[Key]metav1.Object, len(objs))
		for _, o := range objs {
			t.m[KeyOf(o)] = o
		}
	})
	return t.m[Key{Namespace: namespace, Name: name}]
}

// objectsOf lists the objects of kind k.
func (s *Snapshot) objectsOf(k Kind) []metav1.Object {
	switch k {
	case PersistentVolumes:
		return objects(s.PersistentVolumes)
	case PersistentVolumeClaims:
		return objects(s.PersistentVolumeClaims)
	case StorageClasses:
		return objects(s.StorageClasses)
	case CSIDrivers:
		return objects(s.CSIDrivers)
	case CSINodes:
		return objects(s.CSINodes)
	case VolumeAttachments:
		return objects(s.VolumeAttachments)
	case Nodes:
		return objects(s.Nodes)
	case Pods:
		return objects(s.Pods)
	case StatefulSets:
		return objects(s.StatefulSets)
	case Deployments:
		return objects(s.Deployments)
	case DaemonSets:
		return objects(s.DaemonSets)
	case ReplicaSets:
		return objects(s.ReplicaSets)
	case Jobs:
		return objects(s.Jobs)
	case CronJobs:
		return objects(s.CronJobs)
	case ResourceQuotas:
		return objects(s.ResourceQuotas)
	case Leases:
		return objects(s.Leases)
	case Events:
		return objects(s.Events)
	}
	return nil
}

func objects[T metav1.Object](in []T) []metav1.Object {
	out := make([]metav1.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
