package catalog

// Benchmarks of the whole rule catalogue over a large synthetic cluster.
//
//	go test ./pkg/rules/catalog -run '^$' -bench . -benchtime 3x -benchmem
//	hack/bench-rules.sh     # the same, summarised as a table
//
// The target is all rules together linear in the number of objects and under about 2 s at
// N=100000. Nothing here asserts a duration (benchmarks run on shared machines); they only
// fail when the rules find nothing, so a broken builder cannot silently measure nothing.
//
// The synthetic cluster (buildSynthetic) is deterministic: no randomness, every "odd"
// object is chosen by its index. It is meant to look like a big multi-tenant cluster:
// mostly Bound claims with a CSI class, a few percent of everything that goes wrong.
//
// Available PVs: a realistic cluster has few Available PVs with reclaim policy Retain
// (local-static-provisioner PVs use Delete; Retain ones come from hand-made static PVs or
// from an admin clearing a claimRef), so the main mix has about one per 200 PVs and about
// one claim in 25 Pending. pv-available-unreserved compared every Available PV with every
// Pending claim and every StatefulSet template, which only hurts when both sets are large;
// BenchmarkAvailableUnreservedWorstCase builds that degenerate case separately (a tenth of
// the PVs Available, a twentieth of the claims Pending, all of one class) so it stays
// measured without distorting the realistic numbers.

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// benchCost gives cost-budget something to judge: budgets every synthetic cluster exceeds
// (its EBS volumes are priced by the shipped list prices).
var benchCost = func() *cost.Model {
	m, err := cost.Compile(cost.Config{Budgets: cost.Budgets{
		Cluster:    map[string]float64{"USD": 1},
		Namespaces: map[string]map[string]float64{"team-0000": {"USD": 1}},
	}})
	if err != nil {
		panic(err)
	}
	return m
}()

// benchNow is the audit clock of the synthetic cluster; its timestamps are relative to it.
var benchNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func BenchmarkAllRules(b *testing.B) {
	eng := benchEngine(b)
	for _, n := range []int{25000, 50000, 100000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			snap := cachedSynthetic(n)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			var findings int
			for i := 0; i < b.N; i++ {
				res, err := eng.Run(context.Background(), snap, rules.Settings{Cost: benchCost}, benchNow)
				if err != nil {
					b.Fatal(err)
				}
				findings = len(res.Report.Findings)
				if len(res.Report.Skipped) > 0 {
					b.Fatalf("rules skipped: %+v", res.Report.Skipped)
				}
			}
			b.StopTimer()
			if findings == 0 {
				b.Fatal("no findings: the synthetic cluster exercises nothing")
			}
			b.ReportMetric(float64(findings), "findings")
		})
	}
}

// BenchmarkRule runs each rule alone at N=100000 to find the hot spots.
func BenchmarkRule(b *testing.B) {
	eng := benchEngine(b)
	snap := cachedSynthetic(100000)
	for _, r := range All() {
		b.Run(r.ID, func(b *testing.B) {
			benchOneRule(b, eng, snap, r.ID)
		})
	}
}

// BenchmarkAvailableUnreservedWorstCase is the degenerate mix for pv-available-unreserved:
// many Available Retain PVs and many Pending claims of one class (see the file comment).
// Sizes are chosen so that few pairs match: the benchmark measures the search, not the
// length of the findings (each finding lists every claim that would take the PV).
func BenchmarkAvailableUnreservedWorstCase(b *testing.B) {
	eng := benchEngine(b)
	for _, n := range []int{25000, 100000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			snap := buildAvailableWorstCase(n)
			benchOneRule(b, eng, snap, pvAvailableUnreserved.ID)
		})
	}
}

// BenchmarkIndex measures snapshot.Index alone (building the lookup tables).
func BenchmarkIndex(b *testing.B) {
	for _, n := range []int{25000, 100000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			snap := cachedSynthetic(n)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				snap.Index()
			}
		})
	}
}

// TestSyntheticClusterCoversEveryRule keeps the benchmark honest: on a small synthetic
// cluster every rule must run and report something.
func TestSyntheticClusterCoversEveryRule(t *testing.T) {
	eng, err := rules.NewEngine(All())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), buildSynthetic(2000), rules.Settings{Cost: benchCost}, benchNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Skipped) > 0 {
		t.Fatalf("rules skipped: %+v", res.Report.Skipped)
	}
	for _, tm := range res.Timings {
		if tm.Findings == 0 {
			t.Errorf("rule %s reports nothing on the synthetic cluster", tm.Rule)
		}
	}
	if len(res.Timings) != len(All()) {
		t.Errorf("%d rules ran, want %d", len(res.Timings), len(All()))
	}
}

func benchEngine(b *testing.B) *rules.Engine {
	eng, err := rules.NewEngine(All())
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

func benchOneRule(b *testing.B, eng *rules.Engine, snap *snapshot.Snapshot, id string) {
	settings := rules.Settings{Only: []string{id}, Cost: benchCost}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for i := 0; i < b.N; i++ {
		res, err := eng.Run(context.Background(), snap, settings, benchNow)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Report.Skipped) > 0 {
			b.Fatalf("rule skipped: %+v", res.Report.Skipped)
		}
		findings = len(res.Report.Findings)
	}
	b.StopTimer()
	if findings == 0 {
		b.Fatalf("rule %s found nothing: the synthetic cluster does not exercise it", id)
	}
	b.ReportMetric(float64(findings), "findings")
}

// cachedSynthetic keeps the last synthetic cluster built, so the repeated calls the
// testing package makes to a benchmark function (and BenchmarkRule's sub-benchmarks) do
// not rebuild it; only one is kept so the others do not inflate the heap being measured.
var cachedSnap struct {
	n    int
	snap *snapshot.Snapshot
}

func cachedSynthetic(n int) *snapshot.Snapshot {
	if cachedSnap.n != n {
		cachedSnap.snap = nil
		runtime.GC()
		cachedSnap.n, cachedSnap.snap = n, buildSynthetic(n)
	}
	return cachedSnap.snap
}

// Storage classes of the synthetic cluster.
const (
	classGP3       = "gp3"        // default, CSI (ebs), expandable, WaitForFirstConsumer
	classGP3Retain = "gp3-retain" // CSI (ebs), Retain
	classFast      = "fast"       // CSI (ebs), Immediate
	classLocal     = "local-path" // rancher.io/local-path, allowVolumeExpansion: true (it cannot)
	classNFS       = "nfs-csi"    // CSI driver whose controller has no csi-resizer
	classStandard  = "standard"   // in-tree kubernetes.io/aws-ebs migrated to ebs CSI, also default
	classGone      = "gp2-old"    // referenced but does not exist

	driverEBS = "ebs.csi.aws.com"
	driverNFS = "nfs.csi.k8s.io"
)

// synth builds a synthetic cluster.
type synth struct {
	snap      *snapshot.Snapshot
	now       time.Time
	uid       int
	nodes     []string
	pods      int // pods placed so far, for deterministic node assignment and oddities
	vaCands   int // volumes that could have a VolumeAttachment
	vas       int
	nsRequest resource.Quantity // requests of the namespace being built
	nsClaims  int
}

func (c *synth) ago(d time.Duration) metav1.Time { return metav1.NewTime(c.now.Add(-d)) }

func (c *synth) agoPtr(d time.Duration) *metav1.Time { t := c.ago(d); return &t }

func (c *synth) meta(ns, name string, age time.Duration) metav1.ObjectMeta {
	c.uid++
	return metav1.ObjectMeta{
		Namespace:         ns,
		Name:              name,
		UID:               types.UID(fmt.Sprintf("%08x-5e1f-4b7a-9c2d-%012x", c.uid, c.uid*7919)),
		CreationTimestamp: c.ago(age),
		ResourceVersion:   fmt.Sprint(100000 + c.uid),
		Labels:            map[string]string{"app.kubernetes.io/managed-by": "synthetic"},
	}
}

func storage(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
}

func ptrTo[T any](v T) *T { return &v }

const day = 24 * time.Hour

// buildSynthetic returns an indexed snapshot of about n PVs, n claims, n pods, n/20 nodes
// (each with a CSINode), n/2 VolumeAttachments, n/50 StatefulSets, n events and one
// ResourceQuota per namespace, spread over n/100 namespaces.
func buildSynthetic(n int) *snapshot.Snapshot {
	c := &synth{snap: snapshot.New(fmt.Sprintf("synthetic-%d", n)), now: benchNow}
	for _, k := range snapshot.AllKinds {
		c.snap.MarkPresent(k)
	}
	c.clusterScoped(max(n/20, 1))
	for k := 0; k < max(n/100, 1); k++ {
		c.namespace(k)
	}
	c.snap.Index()
	return c.snap
}

func (c *synth) clusterScoped(nodeCount int) {
	s := c.snap
	class := func(name, prov string, expand bool, wffc bool, policy corev1.PersistentVolumeReclaimPolicy, ann map[string]string, age time.Duration) {
		m := c.meta("", name, age)
		m.Annotations = ann
		mode := storagev1.VolumeBindingImmediate
		if wffc {
			mode = storagev1.VolumeBindingWaitForFirstConsumer
		}
		s.Add(&storagev1.StorageClass{ObjectMeta: m, Provisioner: prov, AllowVolumeExpansion: ptrTo(expand),
			ReclaimPolicy: ptrTo(policy), VolumeBindingMode: ptrTo(mode), Parameters: map[string]string{"type": "gp3"}})
	}
	class(classGP3, driverEBS, true, true, corev1.PersistentVolumeReclaimDelete, map[string]string{snapshot.DefaultClassAnnotation: "true"}, 300*day)
	class(classGP3Retain, driverEBS, true, true, corev1.PersistentVolumeReclaimRetain, nil, 300*day)
	class(classFast, driverEBS, true, false, corev1.PersistentVolumeReclaimDelete, nil, 200*day)
	class(classLocal, "rancher.io/local-path", true, true, corev1.PersistentVolumeReclaimDelete, nil, 100*day)
	class(classNFS, driverNFS, true, false, corev1.PersistentVolumeReclaimDelete, nil, 100*day)
	class(classStandard, "kubernetes.io/aws-ebs", true, false, corev1.PersistentVolumeReclaimDelete, map[string]string{snapshot.BetaDefaultClassAnnotation: "true"}, 900*day)

	s.Add(&storagev1.CSIDriver{ObjectMeta: c.meta("", driverEBS, 300*day), Spec: storagev1.CSIDriverSpec{AttachRequired: ptrTo(true)}})
	s.Add(&storagev1.CSIDriver{ObjectMeta: c.meta("", driverNFS, 100*day), Spec: storagev1.CSIDriverSpec{AttachRequired: ptrTo(false)}})
	lease := c.meta("kube-system", snapshot.ResizerLeaseName(driverEBS), 300*day)
	s.Add(&coordinationv1.Lease{ObjectMeta: lease, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("ebs-csi-controller-6d8f9c7b5-abcde")}})
	s.Add(&appsv1.DaemonSet{ObjectMeta: c.meta("kube-system", "ebs-csi-node", 300*day)})

	// CSI controllers: ebs with a resizer, nfs without one (sc-expansion-unsupported).
	sidecar := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "registry.k8s.io/sig-storage/" + name + ":v5.0.0",
			Args: []string{"--csi-address=$(ADDRESS)", "--v=2", "--leader-election"},
			Env:  []corev1.EnvVar{{Name: "ADDRESS", Value: "/var/lib/csi/sockets/pluginproxy/csi.sock"}}}
	}
	ebs := &corev1.Pod{ObjectMeta: c.meta("kube-system", "ebs-csi-controller-6d8f9c7b5-abcde", 30*day), Spec: corev1.PodSpec{
		NodeName: "node-00000",
		Containers: []corev1.Container{
			{Name: "ebs-plugin", Image: "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.40.0", Args: []string{"controller", "--endpoint=$(CSI_ENDPOINT)"},
				Env: []corev1.EnvVar{{Name: "CSI_DRIVER_NAME", Value: driverEBS}}},
			sidecar("csi-provisioner"), sidecar("csi-attacher"), sidecar("csi-resizer"), sidecar("csi-snapshotter"),
		}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	nfs := &corev1.Pod{ObjectMeta: c.meta("kube-system", "csi-nfs-controller-7b9c8d6f4-fghij", 30*day), Spec: corev1.PodSpec{
		NodeName: "node-00001",
		Containers: []corev1.Container{
			{Name: "nfs", Image: "registry.k8s.io/sig-storage/nfsplugin:v4.9.0", Args: []string{"--nodeid=$(NODE_ID)", "--drivername=" + driverNFS}},
			sidecar("csi-provisioner"), sidecar("liveness-probe"),
		}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	s.Add(ebs)
	s.Add(nfs)

	for i := 0; i < nodeCount; i++ {
		name := fmt.Sprintf("node-%05d", i)
		c.nodes = append(c.nodes, name)
		ready := corev1.ConditionTrue
		if i%100 == 42 {
			ready = corev1.ConditionUnknown
		}
		nm := c.meta("", name, 60*day)
		nm.Labels["topology.kubernetes.io/zone"] = fmt.Sprintf("eu-west-1%c", 'a'+i%3)
		nm.Labels["kubernetes.io/hostname"] = name
		s.Add(&corev1.Node{ObjectMeta: nm, Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")},
		}})
		// The ebs node plugin pod of this node.
		pm := c.meta("kube-system", fmt.Sprintf("ebs-csi-node-%05d", i), 60*day)
		pm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ebs-csi-node", Controller: ptrTo(true)}}
		s.Add(&corev1.Pod{ObjectMeta: pm, Spec: corev1.PodSpec{NodeName: name,
			Containers: []corev1.Container{
				{Name: "ebs-plugin", Image: "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.40.0", Args: []string{"node", "--endpoint=$(CSI_ENDPOINT)"}},
				sidecar("node-driver-registrar"),
			},
			Volumes: []corev1.Volume{{Name: "plugin-dir", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet/plugins/" + driverEBS + "/"}}}},
		}, Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: c.agoPtr(60 * day)}})

		switch {
		case i%50 == 49:
			continue // no CSINode at all: csinode-driver-missing
		}
		limit := int32(39)
		if i%10 == 3 {
			limit = 8 // small instance type: node-attach-limit
		}
		drivers := []storagev1.CSINodeDriver{{Name: driverNFS, NodeID: name}}
		if i%40 != 39 { // else ebs not registered: csinode-driver-missing
			drivers = append(drivers, storagev1.CSINodeDriver{Name: driverEBS, NodeID: "i-" + name,
				Allocatable:  &storagev1.VolumeNodeResources{Count: ptrTo(limit)},
				TopologyKeys: []string{"topology.ebs.csi.aws.com/zone"}})
		}
		s.Add(&storagev1.CSINode{ObjectMeta: c.meta("", name, 60*day), Spec: storagev1.CSINodeSpec{Drivers: drivers}})
	}
}

// claimSpec describes one synthetic claim (and its PV when Bound).
type claimSpec struct {
	name        string
	class       string // "" with static: storageClassName ""
	static      bool
	request     string
	capacity    string // defaults to request
	pvCapacity  string // defaults to capacity
	phase       corev1.PersistentVolumeClaimPhase
	modes       []corev1.PersistentVolumeAccessMode
	age         time.Duration
	conditions  []corev1.PersistentVolumeClaimCondition
	allocStatus string
	selector    *metav1.LabelSelector
	deleted     bool
}

func (c *synth) claim(ns string, cs claimSpec) *corev1.PersistentVolumeClaim {
	if cs.capacity == "" {
		cs.capacity = cs.request
	}
	if cs.pvCapacity == "" {
		cs.pvCapacity = cs.capacity
	}
	if cs.modes == nil {
		cs.modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if cs.phase == "" {
		cs.phase = corev1.ClaimBound
	}
	m := c.meta(ns, cs.name, cs.age)
	m.Finalizers = []string{"kubernetes.io/pvc-protection"}
	if cs.deleted {
		m.DeletionTimestamp = c.agoPtr(time.Hour)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: m, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: cs.modes,
		Resources:   corev1.VolumeResourceRequirements{Requests: storage(cs.request)},
		Selector:    cs.selector,
		VolumeMode:  ptrTo(corev1.PersistentVolumeFilesystem),
	}, Status: corev1.PersistentVolumeClaimStatus{Phase: cs.phase, Conditions: cs.conditions}}
	if cs.class != "" || cs.static {
		pvc.Spec.StorageClassName = ptrTo(cs.class)
	}
	if cs.allocStatus != "" {
		pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
			corev1.ResourceStorage: corev1.ClaimResourceStatus(cs.allocStatus)}
	}
	c.nsRequest.Add(resource.MustParse(cs.request))
	c.nsClaims++
	switch cs.phase {
	case corev1.ClaimBound:
		pv := c.pv("pvc-"+string(m.UID), cs.class, cs.pvCapacity, cs.modes, corev1.VolumeBound, cs.age)
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: cs.name, UID: m.UID}
		pvc.Spec.VolumeName = pv.Name
		pvc.Status.Capacity = storage(cs.capacity)
		pvc.Status.AccessModes = cs.modes
		c.snap.Add(pv)
	case corev1.ClaimLost:
		pvc.Spec.VolumeName = "pvc-" + string(m.UID) // the PV is gone
	}
	c.snap.Add(pvc)
	return pvc
}

// pv returns a PV of class (not added to the snapshot).
func (c *synth) pv(name, class, capacity string, modes []corev1.PersistentVolumeAccessMode, phase corev1.PersistentVolumePhase, age time.Duration) *corev1.PersistentVolume {
	m := c.meta("", name, age)
	m.Finalizers = []string{"kubernetes.io/pv-protection"}
	m.Annotations = map[string]string{"pv.kubernetes.io/provisioned-by": driverEBS}
	pv := &corev1.PersistentVolume{ObjectMeta: m, Spec: corev1.PersistentVolumeSpec{
		Capacity:                      storage(capacity),
		AccessModes:                   modes,
		StorageClassName:              class,
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		VolumeMode:                    ptrTo(corev1.PersistentVolumeFilesystem),
	}, Status: corev1.PersistentVolumeStatus{Phase: phase, LastPhaseTransitionTime: c.agoPtr(age)}}
	handle := fmt.Sprintf("vol-%017x", c.uid*104729)
	switch class {
	case classLocal:
		pv.Annotations["pv.kubernetes.io/provisioned-by"] = "rancher.io/local-path"
		pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/opt/local-path-provisioner/" + name, Type: ptrTo(corev1.HostPathDirectoryOrCreate)}
		// local-path volumes live on one host; one in 13 on a host the node pool replacement
		// removed (pv-node-affinity-unsatisfiable).
		host := c.nodes[c.uid%len(c.nodes)]
		if c.uid%13 == 0 {
			host = fmt.Sprintf("node-retired-%05d", c.uid%1000)
		}
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{host}}}}}}}
	case classNFS:
		pv.Annotations["pv.kubernetes.io/provisioned-by"] = driverNFS
		pv.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: driverNFS, VolumeHandle: "nfs-server.storage.svc#share#" + name,
			VolumeAttributes: map[string]string{"server": "nfs-server.storage.svc", "share": "/share"}}
	case classStandard:
		pv.Annotations["pv.kubernetes.io/provisioned-by"] = "kubernetes.io/aws-ebs"
		pv.Annotations["pv.kubernetes.io/migrated-to"] = driverEBS
		pv.Spec.AWSElasticBlockStore = &corev1.AWSElasticBlockStoreVolumeSource{VolumeID: "aws://eu-west-1a/" + handle, FSType: "ext4"}
	case "":
		delete(pv.Annotations, "pv.kubernetes.io/provisioned-by")
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "filer.example.internal", Path: "/exports/" + name}
	default:
		if class == classGP3Retain {
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}
		pv.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: driverEBS, VolumeHandle: handle, FSType: "ext4",
			VolumeAttributes: map[string]string{"storage.kubernetes.io/csiProvisionerIdentity": "1700000000000-8081-ebs.csi.aws.com"}}
	}
	return pv
}

// podOpts describes one synthetic pod.
type podOpts struct {
	name    string
	owner   *metav1.OwnerReference
	claims  []string
	pending bool // not scheduled
	phase   corev1.PodPhase
	age     time.Duration
}

func (c *synth) pod(ns string, o podOpts, drivers []string) *corev1.Pod {
	seq := c.pods
	c.pods++
	m := c.meta(ns, o.name, o.age)
	m.Labels["app"] = o.name
	if o.owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*o.owner}
	}
	if o.phase == "" {
		o.phase = corev1.PodRunning
	}
	p := &corev1.Pod{ObjectMeta: m, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "main", Image: "registry.example.internal/team/app:1.4.2",
			Args:      []string{"--config=/etc/app/config.yaml", "--port=8080"},
			Env:       []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")}},
		}},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}},
	}, Status: corev1.PodStatus{Phase: o.phase}}
	if seq%3 == 0 {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "metrics", Image: "registry.example.internal/obs/exporter:0.9"})
	}
	for i, cl := range o.claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("data%d", i),
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: cl}}})
	}
	if !o.pending {
		p.Spec.NodeName = c.nodes[(seq*37)%len(c.nodes)]
		if seq%397 == 5 {
			p.Spec.NodeName = fmt.Sprintf("node-gone-%05d", seq%1000) // pod-node-missing
		}
		p.Status.StartTime = c.agoPtr(o.age)
	}
	if seq%499 == 7 { // pod-terminating-stuck
		p.DeletionTimestamp = c.agoPtr(time.Hour)
		if seq%2 == 0 {
			p.Finalizers = []string{"example.com/cleanup"}
		}
	}
	if o.phase == corev1.PodSucceeded {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, FinishedAt: c.ago(10 * day)}}}}
	}
	c.snap.Add(p)

	// A VolumeAttachment for about three volumes in four of the ebs volumes of running
	// pods, and a FailedMount event for every pod with claims.
	if p.Spec.NodeName != "" && o.phase == corev1.PodRunning {
		for i, cl := range o.claims {
			if drivers[i] != driverEBS {
				continue
			}
			c.vaCands++
			uid := c.claimUID(ns, cl)
			if c.vaCands%4 == 3 || uid == "" {
				continue
			}
			c.vas++
			pvName := "pvc-" + string(uid)
			va := &storagev1.VolumeAttachment{ObjectMeta: c.meta("", fmt.Sprintf("csi-%064x", c.uid*2654435761), o.age),
				Spec: storagev1.VolumeAttachmentSpec{Attacher: driverEBS, NodeName: p.Spec.NodeName,
					Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptrTo(pvName)}},
				Status: storagev1.VolumeAttachmentStatus{Attached: true, AttachmentMetadata: map[string]string{"devicePath": "/dev/xvdba"}}}
			va.Finalizers = []string{"external-attacher/ebs-csi-aws-com"}
			if c.vas%997 == 13 { // va-orphaned: attach failing
				va.CreationTimestamp = c.ago(time.Hour)
				va.Status.Attached = false
				va.Status.AttachError = &storagev1.VolumeError{Time: c.ago(time.Minute), Message: "rpc error: code = Internal desc = Could not attach volume: AttachVolume.Attach failed: VolumeInUse"}
				c.event(ns, "Pod", p.Name, p.UID, "FailedAttachVolume", "attachdetach-controller", "AttachVolume.Attach failed for volume \""+pvName+"\" : rpc error: code = Internal", 50*time.Minute, 2*time.Minute)
			}
			c.snap.Add(va)
		}
	}
	if len(o.claims) > 0 {
		c.event(ns, "Pod", p.Name, p.UID, "FailedMount", "kubelet", "MountVolume.MountDevice failed for volume \"data\" : rpc error: code = DeadlineExceeded desc = context deadline exceeded", o.age, o.age-time.Minute)
	}
	return p
}

// claimUID returns the UID of a claim already added in namespace ns (claims are added
// before their pods).
func (c *synth) claimUID(ns, name string) types.UID {
	// The claim is always the last or a recent PVC added: search backwards a little.
	pvcs := c.snap.PersistentVolumeClaims
	for i := len(pvcs) - 1; i >= 0 && i >= len(pvcs)-200; i-- {
		if pvcs[i].Namespace == ns && pvcs[i].Name == name {
			if pvcs[i].Spec.VolumeName == "" || pvcs[i].Status.Phase != corev1.ClaimBound {
				return ""
			}
			return pvcs[i].UID
		}
	}
	return ""
}

func (c *synth) event(ns, kind, name string, uid types.UID, reason, component, msg string, first, last time.Duration) {
	m := c.meta(ns, fmt.Sprintf("%s.%016x", name, c.uid*40503), first)
	if kind == "PersistentVolume" {
		m.Namespace = "default"
	}
	c.snap.Add(&corev1.Event{ObjectMeta: m,
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name, UID: uid},
		Reason:         reason, Message: msg, Type: corev1.EventTypeWarning, Count: 3,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: c.ago(first), LastTimestamp: c.ago(last)})
}

func stsClaimTemplate(class, request string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		StorageClassName: ptrTo(class),
		Resources:        corev1.VolumeResourceRequirements{Requests: storage(request)},
		VolumeMode:       ptrTo(corev1.PersistentVolumeFilesystem),
	}}
}

func driverOf(class string) string {
	switch class {
	case classNFS:
		return driverNFS
	case classLocal:
		return "rancher.io/local-path"
	}
	return driverEBS
}

// namespace builds one tenant namespace: about 100 claims, 100 PVs and 95 pods.
func (c *synth) namespace(k int) {
	ns := fmt.Sprintf("team-%04d", k)
	c.nsRequest, c.nsClaims = resource.Quantity{}, 0
	nsPods := 0
	addPod := func(o podOpts, classes ...string) *corev1.Pod {
		nsPods++
		drivers := make([]string, len(classes))
		for i, cl := range classes {
			drivers[i] = driverOf(cl)
		}
		return c.pod(ns, o, drivers)
	}

	// Two StatefulSets: postgres (3 replicas, gp3-retain 10Gi) and kafka (5-10 replicas,
	// gp3 50Gi). A quarter of the kafka sets were scaled down by two and kept the claims
	// (one in eight with whenScaled: Delete); one postgres in ten had claim 0 expanded by
	// hand (sts-template-drift); one in fifty names a class that no longer exists.
	type stsPlan struct {
		name, class, request string
		replicas, retained   int
		policy               appsv1.PersistentVolumeClaimRetentionPolicyType
	}
	plans := []stsPlan{
		{name: "postgres", class: classGP3Retain, request: "10Gi", replicas: 3, policy: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		{name: "kafka", class: classGP3, request: "50Gi", replicas: 5 + k%6, policy: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
	}
	if k%50 == 17 {
		plans[0].class = classGone
	}
	if k%4 == 1 {
		plans[1].retained = 2
	}
	if k%8 == 5 {
		plans[1].policy = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	for _, pl := range plans {
		m := c.meta(ns, pl.name, 200*day)
		m.Generation = 4
		st := &appsv1.StatefulSet{ObjectMeta: m, Spec: appsv1.StatefulSetSpec{
			Replicas:             ptrTo(int32(pl.replicas)),
			ServiceName:          pl.name,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{stsClaimTemplate(pl.class, pl.request)},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenScaled: pl.policy, WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: pl.name, Image: "registry.example.internal/" + pl.name + ":16"}}}},
		}, Status: appsv1.StatefulSetStatus{ObservedGeneration: 4, Replicas: int32(pl.replicas), ReadyReplicas: int32(pl.replicas)}}
		c.snap.Add(st)
		owner := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: pl.name, UID: m.UID, Controller: ptrTo(true)}
		for i := 0; i < pl.replicas+pl.retained; i++ {
			claim := snapshot.StatefulSetClaimName("data", pl.name, i)
			cs := claimSpec{name: claim, class: pl.class, request: pl.request, age: 200 * day}
			if pl.name == "postgres" && i == 0 && k%10 == 3 {
				cs.request = "20Gi" // expanded by hand, template still says 10Gi
			}
			c.claim(ns, cs)
			if i < pl.replicas {
				addPod(podOpts{name: fmt.Sprintf("%s-%d", pl.name, i), owner: owner, claims: []string{claim}, age: 20 * day}, pl.class)
			}
		}
	}

	// Five Deployments with a claim each (one ReplicaSet, one pod).
	for j := 0; j < 5; j++ {
		name := fmt.Sprintf("api-%d", j)
		claim := name + "-data"
		c.claim(ns, claimSpec{name: claim, class: classGP3, request: "20Gi", age: 90 * day})
		tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "api", Image: "registry.example.internal/team/api:2.1"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		}}
		dm := c.meta(ns, name, 90*day)
		c.snap.Add(&appsv1.Deployment{ObjectMeta: dm, Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(1)), Template: tmpl}})
		rsName := name + "-7d9f8c6b5"
		rm := c.meta(ns, rsName, 30*day)
		rm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dm.UID, Controller: ptrTo(true)}}
		c.snap.Add(&appsv1.ReplicaSet{ObjectMeta: rm, Spec: appsv1.ReplicaSetSpec{Replicas: ptrTo(int32(1)), Template: tmpl}})
		addPod(podOpts{name: rsName + "-x2k4p", claims: []string{claim}, age: 30 * day,
			owner: &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: rm.UID, Controller: ptrTo(true)}}, classGP3)
	}

	// Standalone claims, each used by one bare pod, filling the namespace to 100 claims.
	// The class rotates with j%10; j%50 picks what is wrong with a few of them.
	classes := []string{classGP3, classGP3, classGP3, classGP3, classGP3, classGP3, classGP3Retain, classLocal, classNFS, classStandard}
	for j := 0; c.nsClaims < 100; j++ {
		name := fmt.Sprintf("vol-%03d", j)
		cs := claimSpec{name: name, class: classes[j%10], request: "10Gi", age: 60 * day}
		po := podOpts{name: fmt.Sprintf("worker-%03d", j), claims: []string{name}, age: 10 * day}
		usePod := true
		var evs [][5]any
		switch j % 50 {
		case 3: // pvc-expansion-ignored: handed to the resizer, never picked up
			cs.request, cs.capacity = "20Gi", "10Gi"
			evs = append(evs, [5]any{"ExternalExpanding", "volume_expand", "waiting for an external controller to expand this PVC", 2 * time.Hour, 2 * time.Hour})
		case 5: // pvc-resize-stuck: in progress for two hours
			cs.request, cs.capacity = "20Gi", "10Gi"
			cs.conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, LastTransitionTime: c.ago(2 * time.Hour)}}
			cs.allocStatus = snapshot.ControllerResizeInProgress
			evs = append(evs, [5]any{"Resizing", "external-resizer ebs.csi.aws.com", "External resizer is resizing volume", 2 * time.Hour, 2 * time.Hour})
		case 7: // pvc-pending: WaitForFirstConsumer, consumer pod pending for an hour
			cs.phase, cs.age = corev1.ClaimPending, 3*time.Hour
			po.pending, po.phase, po.age = true, corev1.PodPending, time.Hour
			evs = append(evs, [5]any{"ProvisioningFailed", "rancher.io/local-path_local-path-provisioner-5d8f", "failed to provision volume: no space left on node", 50 * time.Minute, 2 * time.Minute})
		case 8, 17: // pvc-expansion-ignored: the class can never expand (nfs without resizer, local-path)
			cs.request, cs.capacity = "20Gi", "10Gi"
		case 13: // pv-capacity-mismatch
			cs.pvCapacity = "12Gi"
		case 19, 39: // pvc-unused
			cs.age = 30 * day
			usePod = false
		case 21: // pvc-pending: Immediate class failing to provision
			cs.class, cs.phase, cs.age = classFast, corev1.ClaimPending, 2*time.Hour
			po.pending, po.phase, po.age = true, corev1.PodPending, 2*time.Hour
			evs = append(evs,
				[5]any{"ProvisioningFailed", "ebs.csi.aws.com_ebs-csi-controller-6d8f9c7b5-abcde", "failed to provision volume with StorageClass \"fast\": rpc error: code = ResourceExhausted desc = VolumeLimitExceeded", 2 * time.Hour, 5 * time.Minute},
				[5]any{"FailedBinding", "persistentvolume-controller", "no persistent volumes available for this claim and no storage class is set", 2 * time.Hour, 10 * time.Minute})
		case 25: // pvc-resize-stuck: file system resize pending under a running pod
			cs.request, cs.capacity, cs.pvCapacity = "20Gi", "10Gi", "20Gi"
			cs.conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue, LastTransitionTime: c.ago(3 * time.Hour)}}
			cs.allocStatus = snapshot.NodeResizePending
		case 29: // pvc-unused: only a pod that finished ten days ago
			po.phase = corev1.PodSucceeded
		case 33:
			if k%5 == 0 { // pvc-lost
				cs.phase = corev1.ClaimLost
				usePod = false
			}
		case 35: // pvc-resize-stuck: infeasible
			cs.request, cs.capacity = "20Ti", "10Gi"
			cs.allocStatus = snapshot.ControllerResizeInfeasible
			evs = append(evs, [5]any{"VolumeResizeFailed", "external-resizer ebs.csi.aws.com", "resize volume failed: InvalidParameterValue: size exceeds the maximum", 40 * time.Minute, time.Minute})
		case 41: // sc-missing: bound claim of a deleted class
			cs.class = classGone
		case 47:
			if k%10 == 0 { // static claim waiting for a hand-made PV (pv-available-unreserved)
				cs.class, cs.static, cs.phase, cs.age = "", true, corev1.ClaimPending, 5*day
				cs.request, cs.modes = "100Gi", []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
				cs.selector = &metav1.LabelSelector{MatchLabels: map[string]string{"share": ns}}
				usePod = false
			}
		}
		pvc := c.claim(ns, cs)
		for _, e := range evs {
			c.event(ns, "PersistentVolumeClaim", name, pvc.UID, e[0].(string), e[1].(string), e[2].(string), e[3].(time.Duration), e[4].(time.Duration))
		}
		if usePod {
			addPod(po, cs.class)
		}
	}

	// Stateless pods of one Deployment fill the namespace to 95 pods.
	webTmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.internal/team/web:3.0"}}}}
	wm := c.meta(ns, "web", 120*day)
	c.snap.Add(&appsv1.Deployment{ObjectMeta: wm, Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(max(95-nsPods, 0))), Template: webTmpl}})
	wrm := c.meta(ns, "web-5c6b7d8f9", 7*day)
	wrm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: wm.UID, Controller: ptrTo(true)}}
	c.snap.Add(&appsv1.ReplicaSet{ObjectMeta: wrm, Spec: appsv1.ReplicaSetSpec{Template: webTmpl}})
	webOwner := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: wrm.Name, UID: wrm.UID, Controller: ptrTo(true)}
	for i := 0; nsPods < 95; i++ {
		addPod(podOpts{name: fmt.Sprintf("web-5c6b7d8f9-%05d", i), owner: webOwner, age: 7 * day})
	}

	// PVs left behind by deleted claims of this namespace.
	gone := func(suffix string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "deleted-" + suffix, UID: types.UID(fmt.Sprintf("0000dead-%04d-%s", k, suffix))}
	}
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pv := c.pv(fmt.Sprintf("pvc-released-retain-%05d", k), classGP3Retain, "10Gi", rwo, corev1.VolumeReleased, 40*day)
	pv.Spec.ClaimRef = gone("a")
	c.snap.Add(pv) // pv-released-retained
	if k%3 == 0 {
		pv := c.pv(fmt.Sprintf("pvc-released-delete-%05d", k), classGP3, "50Gi", rwo, corev1.VolumeReleased, 3*time.Hour)
		pv.Spec.ClaimRef = gone("b")
		c.snap.Add(pv) // pv-released-stuck
		c.event("", "PersistentVolume", pv.Name, pv.UID, "VolumeFailedDelete", "ebs.csi.aws.com_ebs-csi-controller-6d8f9c7b5-abcde",
			"rpc error: code = Internal desc = Could not delete volume: VolumeInUse", 3*time.Hour, 4*time.Minute)
	}
	if k%10 == 0 {
		pv := c.pv(fmt.Sprintf("pvc-failed-%05d", k), classStandard, "100Gi", rwo, corev1.VolumeFailed, 10*day)
		pv.Spec.ClaimRef = gone("c")
		pv.Status.Message = "error getting deleter volume plugin for volume: no deletable volume plugin matched"
		c.snap.Add(pv) // pv-failed
	}
	if k%2 == 0 { // pv-available-unreserved: a hand-made NFS share, or a gp3-retain PV whose claimRef was cleared
		pv := c.pv(fmt.Sprintf("share-%s", ns), "", "100Gi", []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, corev1.VolumeAvailable, 20*day)
		pv.Labels["share"] = ns
		if k%20 == 10 {
			pv = c.pv(fmt.Sprintf("pvc-reuse-%05d", k), classGP3Retain, "5Gi", rwo, corev1.VolumeAvailable, 20*day)
		}
		c.snap.Add(pv)
	}
	if k%5 == 0 { // va-orphaned: the PV was deleted while attached
		c.snap.Add(&storagev1.VolumeAttachment{ObjectMeta: c.meta("", fmt.Sprintf("csi-%064x", k*2654435761+1), 2*day),
			Spec: storagev1.VolumeAttachmentSpec{Attacher: driverEBS, NodeName: c.nodes[k%len(c.nodes)],
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptrTo(fmt.Sprintf("pvc-deleted-%05d", k))}},
			Status: storagev1.VolumeAttachmentStatus{Attached: true}})
	}

	// The namespace's storage quota: most at about half, some nearly or fully used.
	used := c.nsRequest.DeepCopy()
	hard := used.DeepCopy()
	switch k % 10 {
	case 0:
	case 1:
		hard = *resource.NewQuantity(used.Value()/95*100, resource.BinarySI)
	default:
		hard.Add(used)
	}
	qUsed := corev1.ResourceList{corev1.ResourceRequestsStorage: used,
		corev1.ResourcePersistentVolumeClaims: *resource.NewQuantity(int64(c.nsClaims), resource.DecimalSI)}
	qHard := corev1.ResourceList{corev1.ResourceRequestsStorage: hard,
		corev1.ResourcePersistentVolumeClaims:                                           *resource.NewQuantity(200, resource.DecimalSI),
		corev1.ResourceName(classGP3 + ".storageclass.storage.k8s.io/requests.storage"): resource.MustParse("100Ti"),
		corev1.ResourceRequestsCPU:                                                      resource.MustParse("64")}
	qUsed[corev1.ResourceName(classGP3+".storageclass.storage.k8s.io/requests.storage")] = resource.MustParse("3Ti")
	c.snap.Add(&corev1.ResourceQuota{ObjectMeta: c.meta(ns, "storage", 300*day),
		Spec:   corev1.ResourceQuotaSpec{Hard: qHard},
		Status: corev1.ResourceQuotaStatus{Hard: qHard, Used: qUsed}})
}

// buildAvailableWorstCase is the degenerate mix of pv-available-unreserved: n/10 Available
// Retain PVs of 5Gi and n/20 Pending claims of 10Gi, all of class gp3-retain, plus n/50
// StatefulSets whose templates ask for 10Gi of that class: nothing fits (the PVs are too
// small) except the first PV, which is large enough for everyone.
func buildAvailableWorstCase(n int) *snapshot.Snapshot {
	c := &synth{snap: snapshot.New(fmt.Sprintf("available-worst-%d", n)), now: benchNow}
	for _, k := range snapshot.AllKinds {
		c.snap.MarkPresent(k)
	}
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	for i := 0; i < n/10; i++ {
		size := "5Gi"
		if i == 0 {
			size = "1Ti"
		}
		c.snap.Add(c.pv(fmt.Sprintf("pvc-available-%06d", i), classGP3Retain, size, rwo, corev1.VolumeAvailable, 20*day))
	}
	for i := 0; i < n/20; i++ {
		c.claim(fmt.Sprintf("team-%04d", i/20), claimSpec{name: fmt.Sprintf("pending-%03d", i%20), class: classGP3Retain,
			request: "10Gi", phase: corev1.ClaimPending, age: time.Hour})
	}
	for i := 0; i < n/50; i++ {
		m := c.meta(fmt.Sprintf("team-%04d", i/2), fmt.Sprintf("db-%d", i%2), 100*day)
		c.snap.Add(&appsv1.StatefulSet{ObjectMeta: m, Spec: appsv1.StatefulSetSpec{Replicas: ptrTo(int32(3)),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{stsClaimTemplate(classGP3Retain, "10Gi")}}})
	}
	c.snap.Index()
	return c.snap
}
