// Package snapshot holds the read-only, indexed view of a cluster that rules read. It is
// filled either by the live loader (package snapshot/live, the only part that talks to an
// API server) or from a dump file (LoadFiles). This package deliberately does not import
// client-go: rules depend on it, and rules must not be able to reach the API.
package snapshot

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kind names a kind of object the snapshot holds. Rules declare the kinds they read, so a
// kind that could not be read skips exactly the rules that need it.
type Kind string

const (
	PersistentVolumes      Kind = "PersistentVolume"
	PersistentVolumeClaims Kind = "PersistentVolumeClaim"
	StorageClasses         Kind = "StorageClass"
	CSIDrivers             Kind = "CSIDriver"
	CSINodes               Kind = "CSINode"
	VolumeAttachments      Kind = "VolumeAttachment"
	Nodes                  Kind = "Node"
	Pods                   Kind = "Pod"
	StatefulSets           Kind = "StatefulSet"
	Deployments            Kind = "Deployment"
	DaemonSets             Kind = "DaemonSet"
	ReplicaSets            Kind = "ReplicaSet"
	Jobs                   Kind = "Job"
	CronJobs               Kind = "CronJob"
	ResourceQuotas         Kind = "ResourceQuota"
	Leases                 Kind = "Lease"
	Events                 Kind = "Event"
)

// AllKinds lists every kind in load order (cluster-scoped storage first).
var AllKinds = []Kind{
	PersistentVolumes, PersistentVolumeClaims, StorageClasses, CSIDrivers, CSINodes,
	VolumeAttachments, Nodes, Pods, StatefulSets, Deployments, DaemonSets, ReplicaSets,
	Jobs, CronJobs, ResourceQuotas, Leases, Events,
}

// Namespaced reports whether objects of kind k live in a namespace.
func (k Kind) Namespaced() bool {
	switch k {
	case PersistentVolumes, StorageClasses, CSIDrivers, CSINodes, VolumeAttachments, Nodes:
		return false
	}
	return true
}

var resources = map[Kind]string{
	PersistentVolumes: "persistentvolumes", PersistentVolumeClaims: "persistentvolumeclaims",
	StorageClasses: "storageclasses", CSIDrivers: "csidrivers", CSINodes: "csinodes",
	VolumeAttachments: "volumeattachments", Nodes: "nodes", Pods: "pods",
	StatefulSets: "statefulsets", Deployments: "deployments", DaemonSets: "daemonsets",
	ReplicaSets: "replicasets", Jobs: "jobs", CronJobs: "cronjobs",
	ResourceQuotas: "resourcequotas", Leases: "leases", Events: "events",
}

// Resource is the kind's API resource name, as kubectl and RBAC rules spell it.
func (k Kind) Resource() string { return resources[k] }

// KindNamed returns the snapshot kind called name ("Pod"), or "".
func KindNamed(name string) Kind {
	if _, ok := resources[Kind(name)]; ok {
		return Kind(name)
	}
	return ""
}

// StorageEventReasons are the event reasons the snapshot keeps; other events are dropped
// at load time because clusters hold many and rules read only these.
var StorageEventReasons = map[string]bool{
	"ExternalExpanding":          true,
	"Resizing":                   true,
	"VolumeResizeFailed":         true,
	"VolumeResizeSuccessful":     true,
	"FileSystemResizeRequired":   true,
	"FileSystemResizeSuccessful": true,
	"FileSystemResizeFailed":     true,
	"ProvisioningFailed":         true,
	"FailedBinding":              true,
	"VolumeFailedDelete":         true,
	"FailedAttachVolume":         true,
	"FailedMount":                true,
	"VolumeFailedRecycle":        true,
}

// ResizerLeasePrefix is the name prefix of the leader-election Lease of external-resizer
// sidecars ("external-resizer-<driver with dots as dashes>"); only those Leases are kept.
const ResizerLeasePrefix = "external-resizer-"

// Snapshot is the cluster as the rules see it. Fill it with Add, then call Index once;
// after that it is read-only and safe for concurrent readers.
type Snapshot struct {
	// Source names where the snapshot came from: a kubeconfig context or a file name.
	Source string
	// Namespaces limits namespaced kinds to these namespaces; empty means all.
	Namespaces []string

	PersistentVolumes      []*corev1.PersistentVolume
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	StorageClasses         []*storagev1.StorageClass
	CSIDrivers             []*storagev1.CSIDriver
	CSINodes               []*storagev1.CSINode
	VolumeAttachments      []*storagev1.VolumeAttachment
	Nodes                  []*corev1.Node
	Pods                   []*corev1.Pod
	StatefulSets           []*appsv1.StatefulSet
	Deployments            []*appsv1.Deployment
	DaemonSets             []*appsv1.DaemonSet
	ReplicaSets            []*appsv1.ReplicaSet
	Jobs                   []*batchv1.Job
	CronJobs               []*batchv1.CronJob
	ResourceQuotas         []*corev1.ResourceQuota
	Leases                 []*coordinationv1.Lease
	Events                 []*corev1.Event

	unreadable map[Kind]string
	present    map[Kind]bool
	ix         *index

	shareOnce sync.Once
	sh        *sharer
}

// New returns an empty snapshot.
func New(source string) *Snapshot {
	return &Snapshot{Source: source, unreadable: map[Kind]string{}, present: map[Kind]bool{}}
}

// MarkUnreadable records that kind k could not be read (e.g. RBAC forbids listing it).
// Rules that read k are skipped rather than run on missing data.
func (s *Snapshot) MarkUnreadable(k Kind, reason string) { s.unreadable[k] = reason }

// Unreadable returns why kind k could not be read, or "" when it was read.
func (s *Snapshot) Unreadable(k Kind) string { return s.unreadable[k] }

// UnreadableKinds lists the unreadable kinds in AllKinds order.
func (s *Snapshot) UnreadableKinds() []Kind {
	var out []Kind
	for _, k := range AllKinds {
		if _, ok := s.unreadable[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// MarkPresent records that kind k was part of the input even if no object of it exists.
// In file mode only kinds that appear are "read"; see Loaded.
func (s *Snapshot) MarkPresent(k Kind) { s.present[k] = true }

// Loaded reports whether kind k was read (listed, or seen in a dump).
func (s *Snapshot) Loaded(k Kind) bool { return s.present[k] && s.unreadable[k] == "" }

// Complete reports whether kind k was read for the whole cluster (not limited to some
// namespaces). Rules that conclude something from an object's absence need this.
func (s *Snapshot) Complete(k Kind) bool {
	return s.Loaded(k) && (!k.Namespaced() || len(s.Namespaces) == 0)
}

// Key is a namespace/name pair.
type Key = types.NamespacedName

// KeyOf returns the key of obj.
func KeyOf(obj metav1.Object) Key { return Key{Namespace: obj.GetNamespace(), Name: obj.GetName()} }

// Compact drops the fields no rule reads from obj (Trim) and makes its common values
// (namespaces, class and driver names, capacities, annotations) share storage with the
// objects compacted into s before it (see sharer). It is safe to call from several
// goroutines: the live loader compacts each object as it is decoded, so the duplicates are
// garbage before the next page arrives.
func (s *Snapshot) Compact(obj any) {
	Trim(obj)
	s.shareOnce.Do(func() { s.sh = newSharer() })
	s.sh.share(obj)
}

// Add stores obj in the snapshot. It returns false for kinds the snapshot does not hold
// and for events whose reason no rule reads. It compacts obj first (Compact).
func (s *Snapshot) Add(obj any) bool {
	if !Keeps(obj) {
		return false
	}
	s.Compact(obj)
	return s.AddCompacted(obj)
}

// AddCompacted stores obj, which the caller has already passed through Compact, in the
// snapshot; like Add it returns false for kinds the snapshot does not hold.
func (s *Snapshot) AddCompacted(obj any) bool {
	switch o := obj.(type) {
	case *corev1.PersistentVolume:
		s.PersistentVolumes = append(s.PersistentVolumes, o)
	case *corev1.PersistentVolumeClaim:
		s.PersistentVolumeClaims = append(s.PersistentVolumeClaims, o)
	case *storagev1.StorageClass:
		s.StorageClasses = append(s.StorageClasses, o)
	case *storagev1.CSIDriver:
		s.CSIDrivers = append(s.CSIDrivers, o)
	case *storagev1.CSINode:
		s.CSINodes = append(s.CSINodes, o)
	case *storagev1.VolumeAttachment:
		s.VolumeAttachments = append(s.VolumeAttachments, o)
	case *corev1.Node:
		s.Nodes = append(s.Nodes, o)
	case *corev1.Pod:
		s.Pods = append(s.Pods, o)
	case *appsv1.StatefulSet:
		s.StatefulSets = append(s.StatefulSets, o)
	case *appsv1.Deployment:
		s.Deployments = append(s.Deployments, o)
	case *appsv1.DaemonSet:
		s.DaemonSets = append(s.DaemonSets, o)
	case *appsv1.ReplicaSet:
		s.ReplicaSets = append(s.ReplicaSets, o)
	case *batchv1.Job:
		s.Jobs = append(s.Jobs, o)
	case *batchv1.CronJob:
		s.CronJobs = append(s.CronJobs, o)
	case *corev1.ResourceQuota:
		s.ResourceQuotas = append(s.ResourceQuotas, o)
	case *coordinationv1.Lease:
		s.Leases = append(s.Leases, o)
	case *corev1.Event:
		s.Events = append(s.Events, o)
	default:
		return false
	}
	return true
}

// Keeps reports whether Add would keep obj: false for events of reasons no rule reads and
// for Leases other than external-resizer ones. Loaders use it to drop such objects early.
func Keeps(obj any) bool {
	switch o := obj.(type) {
	case *corev1.Event:
		return StorageEventReasons[o.Reason]
	case *coordinationv1.Lease:
		return strings.HasPrefix(o.Name, ResizerLeasePrefix)
	}
	return KindOf(obj) != ""
}

// KindOf returns the snapshot kind of obj, or "" if the snapshot does not hold it.
func KindOf(obj any) Kind {
	switch obj.(type) {
	case *corev1.PersistentVolume:
		return PersistentVolumes
	case *corev1.PersistentVolumeClaim:
		return PersistentVolumeClaims
	case *storagev1.StorageClass:
		return StorageClasses
	case *storagev1.CSIDriver:
		return CSIDrivers
	case *storagev1.CSINode:
		return CSINodes
	case *storagev1.VolumeAttachment:
		return VolumeAttachments
	case *corev1.Node:
		return Nodes
	case *corev1.Pod:
		return Pods
	case *appsv1.StatefulSet:
		return StatefulSets
	case *appsv1.Deployment:
		return Deployments
	case *appsv1.DaemonSet:
		return DaemonSets
	case *appsv1.ReplicaSet:
		return ReplicaSets
	case *batchv1.Job:
		return Jobs
	case *batchv1.CronJob:
		return CronJobs
	case *corev1.ResourceQuota:
		return ResourceQuotas
	case *coordinationv1.Lease:
		return Leases
	case *corev1.Event:
		return Events
	}
	return ""
}

// Counts returns how many objects of each kind the snapshot holds.
func (s *Snapshot) Counts() map[Kind]int {
	return map[Kind]int{
		PersistentVolumes: len(s.PersistentVolumes), PersistentVolumeClaims: len(s.PersistentVolumeClaims),
		StorageClasses: len(s.StorageClasses), CSIDrivers: len(s.CSIDrivers), CSINodes: len(s.CSINodes),
		VolumeAttachments: len(s.VolumeAttachments), Nodes: len(s.Nodes), Pods: len(s.Pods),
		StatefulSets: len(s.StatefulSets), Deployments: len(s.Deployments), DaemonSets: len(s.DaemonSets),
		ReplicaSets: len(s.ReplicaSets), Jobs: len(s.Jobs), CronJobs: len(s.CronJobs),
		ResourceQuotas: len(s.ResourceQuotas), Leases: len(s.Leases), Events: len(s.Events),
	}
}

// String summarises the snapshot for progress output.
func (s *Snapshot) String() string {
	c := s.Counts()
	var parts []string
	for _, k := range AllKinds {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// EventTime is the best timestamp an event carries: the last occurrence when known.
func EventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func sortEvents(evs []*corev1.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return EventTime(evs[i]).Before(EventTime(evs[j])) })
}
