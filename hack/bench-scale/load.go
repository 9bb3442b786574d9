package main

// The loader: fills a fresh control plane with a realistic storage-heavy cluster of N
// PVs/PVCs/pods/VolumeAttachments, N/10 nodes with their CSINodes, and 5N events, through
// the API, as fast as the API server takes it.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/test/controlplane"
)

const (
	driver    = "ebs.csi.aws.com"
	perNS     = 100 // claims (and pods) per namespace
	eventsPer = 5   // events per claim
	nodeEvery = 10  // one node per this many pods
)

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// loadStats counts what the loader created.
type loadStats struct {
	objects  atomic.Int64 // objects created
	requests atomic.Int64 // API requests that succeeded (creates and status updates)
	retries  atomic.Int64
}

type loader struct {
	clients []kubernetes.Interface
	next    atomic.Uint64
	n       int
	nodes   int
	now     time.Time
	stats   loadStats
	// Node UIDs, for the CSINodes' owner references; written in phase 1, read in phase 2.
	nodeUIDs []string
}

// client picks the next connection, round robin.
func (l *loader) client() kubernetes.Interface {
	return l.clients[l.next.Add(1)%uint64(len(l.clients))]
}

// newLoader builds conns clients, each with its own HTTP/2 connection (a distinct Dial
// function defeats client-go's transport cache), protobuf on the wire and no effective
// client-side rate limit.
func newLoader(cp *controlplane.ControlPlane, n, conns int) (*loader, error) {
	l := &loader{n: n, nodes: max(1, n/nodeEvery), now: time.Now()}
	for range conns {
		cfg := cp.RESTConfig()
		cfg.QPS, cfg.Burst = 5000, 10000
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		cfg.UserAgent = "storage-auditor-bench-loader"
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		l.clients = append(l.clients, cs)
	}
	l.nodeUIDs = make([]string, l.nodes)
	return l, nil
}

// run loads everything with workers goroutines and reports progress to w every 5 s.
func (l *loader) run(ctx context.Context, workers int, w io.Writer) error {
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				fmt.Fprintf(w, "  load: %d objects, %d requests, %.0f req/s\n",
					l.stats.objects.Load(), l.stats.requests.Load(), float64(l.stats.requests.Load())/el)
			}
		}
	}()

	// Phase 1: what the rest refers to. Namespaces and their ServiceAccounts, classes,
	// the driver, nodes and CSINodes.
	namespaces := (l.n + perNS - 1) / perNS
	err := pool(ctx, workers, namespaces+l.nodes+1, func(ctx context.Context, i int) error {
		switch {
		case i < namespaces:
			return l.namespace(ctx, i)
		case i < namespaces+l.nodes:
			return l.node(ctx, i-namespaces)
		default:
			return l.classes(ctx)
		}
	})
	if err != nil {
		return err
	}
	// Phase 2: per volume, the claim, its PV, the pod using it, its VolumeAttachment
	// (each with its status), and five events. Tasks of different volumes interleave.
	return pool(ctx, workers, l.n, func(ctx context.Context, i int) error {
		if err := l.volume(ctx, i); err != nil {
			return err
		}
		return l.events(ctx, i)
	})
}

// pool runs f(0..n-1) on workers goroutines; the first error cancels the rest.
func pool(ctx context.Context, workers, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// retry calls f until it succeeds, fails for good, or has failed 6 times. Each attempt
// gets 30 s.
func retry[T any](ctx context.Context, l *loader, what string, f func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		v, err := f(actx)
		cancel()
		if err == nil {
			l.stats.requests.Add(1)
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		if attempt == 6 || !transient(err) {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		l.stats.retries.Add(1)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		backoff *= 2
	}
}

func transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || isNetErr(err)
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// create creates an object; if an earlier attempt created it after all (its answer was
// lost), the existing object is fetched instead.
func create[T any](ctx context.Context, l *loader, what string, c func(ctx context.Context) (T, error), get func(ctx context.Context) (T, error)) (T, error) {
	attempt := 0
	v, err := retry(ctx, l, what, func(ctx context.Context) (T, error) {
		attempt++
		v, err := c(ctx)
		if attempt > 1 && apierrors.IsAlreadyExists(err) {
			return get(ctx)
		}
		return v, err
	})
	if err == nil {
		l.stats.objects.Add(1)
	}
	return v, err
}

var (
	createOpts = metav1.CreateOptions{}
	getOpts    = metav1.GetOptions{}
	updateOpts = metav1.UpdateOptions{}
)

func nsName(i int) string    { return fmt.Sprintf("team-%03d", i/perNS) }
func appName(i int) string   { return fmt.Sprintf("svc-%05d", i) }
func claimName(i int) string { return "data-" + appName(i) + "-0" }
func pvName(i int) string    { return fmt.Sprintf("pvc-%s", uuidOf("pv", i)) }
func podName(i int) string   { return appName(i) + "-0" }
func nodeName(j int) string {
	return fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", 20+j%3, (j/250)%250, j%250+1)
}
func nodeIP(j int) string       { return fmt.Sprintf("10.%d.%d.%d", 20+j%3, (j/250)%250, j%250+1) }
func volumeHandle(i int) string { return "vol-0" + hexOf("vol", i)[:16] }

func hexOf(kind string, i int) string {
	h := sha256.Sum256([]byte(kind + strconv.Itoa(i)))
	return fmt.Sprintf("%x", h)
}

func uuidOf(kind string, i int) string {
	h := hexOf(kind, i)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func (l *loader) nodeOf(i int) int { return i % l.nodes }

func (l *loader) namespace(ctx context.Context, k int) error {
	name := nsName(k * perNS)
	_, err := retry(ctx, l, "namespace "+name, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, controlplane.EnsureNamespace(ctx, l.client(), name)
	})
	if err == nil {
		l.stats.objects.Add(2)
		l.stats.requests.Add(1) // EnsureNamespace makes two
	}
	return err
}

func (l *loader) classes(ctx context.Context) error {
	c := l.client()
	tru, fals := true, false
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	ret := corev1.PersistentVolumeReclaimRetain
	classes := []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "gp3", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: driver, Parameters: map[string]string{"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
			ReclaimPolicy: &del, AllowVolumeExpansion: &tru, VolumeBindingMode: &wffc},
		{ObjectMeta: metav1.ObjectMeta{Name: "gp3-retain"},
			Provisioner: driver, Parameters: map[string]string{"type": "gp3", "encrypted": "true"},
			ReclaimPolicy: &ret, AllowVolumeExpansion: &tru, VolumeBindingMode: &wffc},
		{ObjectMeta: metav1.ObjectMeta{Name: "io2"},
			Provisioner: driver, Parameters: map[string]string{"type": "io2", "iopsPerGB": "50"},
			ReclaimPolicy: &del, AllowVolumeExpansion: &tru, VolumeBindingMode: &wffc},
		{ObjectMeta: metav1.ObjectMeta{Name: "gp2-legacy"},
			Provisioner: driver, Parameters: map[string]string{"type": "gp2"},
			ReclaimPolicy: &del, AllowVolumeExpansion: &fals, VolumeBindingMode: &wffc},
	}
	for _, sc := range classes {
		if _, err := create(ctx, l, "StorageClass "+sc.Name,
			func(ctx context.Context) (*storagev1.StorageClass, error) {
				return c.StorageV1().StorageClasses().Create(ctx, sc, createOpts)
			},
			func(ctx context.Context) (*storagev1.StorageClass, error) {
				return c.StorageV1().StorageClasses().Get(ctx, sc.Name, getOpts)
			}); err != nil {
			return err
		}
	}
	drv := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: driver},
		Spec: storagev1.CSIDriverSpec{AttachRequired: &tru, PodInfoOnMount: &fals}}
	_, err := create(ctx, l, "CSIDriver",
		func(ctx context.Context) (*storagev1.CSIDriver, error) {
			return c.StorageV1().CSIDrivers().Create(ctx, drv, createOpts)
		},
		func(ctx context.Context) (*storagev1.CSIDriver, error) {
			return c.StorageV1().CSIDrivers().Get(ctx, driver, getOpts)
		})
	return err
}

func (l *loader) className(i int) string {
	switch {
	case i%20 == 7:
		return "gp3-retain"
	case i%20 == 13:
		return "io2"
	}
	return "gp3"
}

func (l *loader) size(i int) resource.Quantity {
	return resource.MustParse([]string{"10Gi", "20Gi", "50Gi", "100Gi", "8Gi"}[i%5])
}

// node creates a node with the status a kubelet reports (capacity, conditions, nodeInfo,
// 20 images, the volumes it has attached) and its CSINode.
func (l *loader) node(ctx context.Context, j int) error {
	c := l.client()
	name, zone := nodeName(j), zones[j%3]
	ts := metav1.NewTime(l.now.Add(-time.Duration(24+j%200) * time.Hour))
	hb := metav1.NewTime(l.now.Add(-time.Duration(j%40) * time.Second))
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
				"node.kubernetes.io/instance-type": "m6i.2xlarge", "beta.kubernetes.io/instance-type": "m6i.2xlarge",
				"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "us-east-1",
				"failure-domain.beta.kubernetes.io/zone": zone, "failure-domain.beta.kubernetes.io/region": "us-east-1",
				"topology.ebs.csi.aws.com/zone": zone, "eks.amazonaws.com/nodegroup": fmt.Sprintf("workers-%d", j%4),
				"eks.amazonaws.com/capacityType": "ON_DEMAND", "k8s.io/cloud-provider-aws": "a1b2c3d4e5f6",
			},
			Annotations: map[string]string{
				"alpha.kubernetes.io/provided-node-ip":                   nodeIP(j),
				"csi.volume.kubernetes.io/nodeid":                        `{"ebs.csi.aws.com":"i-0` + hexOf("node", j)[:16] + `"}`,
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("100.%d.%d.0/24", 64+j/250%60, j%250),
			ProviderID: "aws:///" + zone + "/i-0" + hexOf("node", j)[:16]},
	}
	st := corev1.NodeStatus{
		Capacity: corev1.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("32386524Ki"),
			"pods": resource.MustParse("58"), "ephemeral-storage": resource.MustParse("104845292Ki"),
			"hugepages-1Gi": resource.MustParse("0"), "hugepages-2Mi": resource.MustParse("0")},
		Allocatable: corev1.ResourceList{"cpu": resource.MustParse("7910m"), "memory": resource.MustParse("31369692Ki"),
			"pods": resource.MustParse("58"), "ephemeral-storage": resource.MustParse("95551679124"),
			"hugepages-1Gi": resource.MustParse("0"), "hugepages-2Mi": resource.MustParse("0")},
		Phase: "",
		Conditions: []corev1.NodeCondition{
			{Type: "MemoryPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: ts, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
			{Type: "DiskPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: ts, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
			{Type: "PIDPressure", Status: "False", LastHeartbeatTime: hb, LastTransitionTime: ts, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
			{Type: "Ready", Status: "True", LastHeartbeatTime: hb, LastTransitionTime: ts, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
		},
		Addresses:       []corev1.NodeAddress{{Type: "InternalIP", Address: nodeIP(j)}, {Type: "InternalDNS", Address: name}, {Type: "Hostname", Address: name}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{MachineID: hexOf("machine", j)[:32], SystemUUID: "ec2" + hexOf("sys", j)[:29],
			BootID: uuidOf("boot", j), KernelVersion: "6.1.132-147.221.amzn2023.x86_64", OSImage: "Amazon Linux 2023.7.20250414",
			ContainerRuntimeVersion: "containerd://1.7.27", KubeletVersion: "v1.36.3-eks-4a2f1b", KubeProxyVersion: "",
			OperatingSystem: "linux", Architecture: "amd64"},
	}
	for k := range 20 {
		repo := fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/platform/image-%02d", (j+k)%37)
		st.Images = append(st.Images, corev1.ContainerImage{
			Names:     []string{repo + "@sha256:" + hexOf("img", (j+k)%37), repo + fmt.Sprintf(":v1.%d.%d", k, j%7)},
			SizeBytes: int64(20_000_000 + ((j+k)%37)*7_340_033),
		})
	}
	for i := j; i < l.n; i += l.nodes {
		uv := corev1.UniqueVolumeName("kubernetes.io/csi/" + driver + "^" + volumeHandle(i))
		st.VolumesInUse = append(st.VolumesInUse, uv)
		st.VolumesAttached = append(st.VolumesAttached, corev1.AttachedVolume{Name: uv})
	}
	n.Status = st
	created, err := create(ctx, l, "Node "+name,
		func(ctx context.Context) (*corev1.Node, error) { return c.CoreV1().Nodes().Create(ctx, n, createOpts) },
		func(ctx context.Context) (*corev1.Node, error) { return c.CoreV1().Nodes().Get(ctx, name, getOpts) })
	if err != nil {
		return err
	}
	l.nodeUIDs[j] = string(created.UID)
	if !nodeReady(created) { // the create dropped the status: write it through the subresource
		created.Status = st
		if _, err := retry(ctx, l, "Node status "+name, func(ctx context.Context) (*corev1.Node, error) {
			return c.CoreV1().Nodes().UpdateStatus(ctx, created, updateOpts)
		}); err != nil {
			return err
		}
	}

	// Most nodes can attach 25 EBS volumes and carry 10: fine. Every 50th is an older
	// instance type with a limit of 11: at 90 % (a node-attach-limit warning).
	count := int32(25)
	if j%50 == 0 {
		count = 11
	}
	cn := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			"storage.alpha.kubernetes.io/migrated-plugins": "kubernetes.io/aws-ebs,kubernetes.io/azure-disk,kubernetes.io/cinder,kubernetes.io/gce-pd",
		}, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: created.UID}}},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: driver, NodeID: "i-0" + hexOf("node", j)[:16],
			TopologyKeys: []string{"kubernetes.io/os", "topology.ebs.csi.aws.com/zone", "topology.kubernetes.io/zone"},
			Allocatable:  &storagev1.VolumeNodeResources{Count: &count},
		}}},
	}
	_, err = create(ctx, l, "CSINode "+name,
		func(ctx context.Context) (*storagev1.CSINode, error) {
			return c.StorageV1().CSINodes().Create(ctx, cn, createOpts)
		},
		func(ctx context.Context) (*storagev1.CSINode, error) {
			return c.StorageV1().CSINodes().Get(ctx, name, getOpts)
		})
	return err
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// volume creates claim i (Bound), its CSI PV (Bound), the pod mounting it (Running) and
// the VolumeAttachment of the PV to the pod's node (attached).
func (l *loader) volume(ctx context.Context, i int) error {
	c := l.client()
	ns, claim, pv, node := nsName(i), claimName(i), pvName(i), l.nodeOf(i)
	size, class := l.size(i), l.className(i)
	fs := corev1.PersistentVolumeFilesystem
	created := metav1.NewTime(l.now.Add(-time.Duration(30+i%500) * time.Hour))
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}

	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/name": appName(i), "app.kubernetes.io/instance": appName(i),
				"app.kubernetes.io/component": "database", "app.kubernetes.io/part-of": "shop"},
			Annotations: map[string]string{
				"pv.kubernetes.io/bind-completed":               "yes",
				"pv.kubernetes.io/bound-by-controller":          "yes",
				"volume.beta.kubernetes.io/storage-provisioner": driver,
				"volume.kubernetes.io/storage-provisioner":      driver,
				"volume.kubernetes.io/selected-node":            nodeName(node),
			}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: rwo, StorageClassName: &class, VolumeMode: &fs, VolumeName: pv,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": size}}},
	}
	pvcs := c.CoreV1().PersistentVolumeClaims(ns)
	gotPVC, err := create(ctx, l, "PVC "+ns+"/"+claim,
		func(ctx context.Context) (*corev1.PersistentVolumeClaim, error) {
			return pvcs.Create(ctx, pvc, createOpts)
		},
		func(ctx context.Context) (*corev1.PersistentVolumeClaim, error) { return pvcs.Get(ctx, claim, getOpts) })
	if err != nil {
		return err
	}

	reclaim := corev1.PersistentVolumeReclaimDelete
	if class == "gp3-retain" {
		reclaim = corev1.PersistentVolumeReclaimRetain
	}
	zone := zones[node%3]
	pvObj := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pv,
			Annotations: map[string]string{
				"pv.kubernetes.io/provisioned-by":                            driver,
				"volume.kubernetes.io/provisioner-deletion-secret-name":      "",
				"volume.kubernetes.io/provisioner-deletion-secret-namespace": "",
			},
			Finalizers: []string{"external-provisioner.volume.kubernetes.io/finalizer"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{"storage": size},
			AccessModes: rwo, PersistentVolumeReclaimPolicy: reclaim, StorageClassName: class, VolumeMode: &fs,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: claim,
				UID: gotPVC.UID, ResourceVersion: gotPVC.ResourceVersion},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: driver, VolumeHandle: volumeHandle(i), FSType: "ext4",
				VolumeAttributes: map[string]string{"storage.kubernetes.io/csiProvisionerIdentity": "1744812345678-9012-" + driver},
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}}},
		},
	}
	pvs := c.CoreV1().PersistentVolumes()
	gotPV, err := create(ctx, l, "PV "+pv,
		func(ctx context.Context) (*corev1.PersistentVolume, error) { return pvs.Create(ctx, pvObj, createOpts) },
		func(ctx context.Context) (*corev1.PersistentVolume, error) { return pvs.Get(ctx, pv, getOpts) })
	if err != nil {
		return err
	}
	gotPV.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound, LastPhaseTransitionTime: &created}
	if _, err := retry(ctx, l, "PV status "+pv, func(ctx context.Context) (*corev1.PersistentVolume, error) {
		return pvs.UpdateStatus(ctx, gotPV, updateOpts)
	}); err != nil {
		return err
	}
	gotPVC.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: rwo,
		Capacity: corev1.ResourceList{"storage": size}}
	if _, err := retry(ctx, l, "PVC status "+ns+"/"+claim, func(ctx context.Context) (*corev1.PersistentVolumeClaim, error) {
		return pvcs.UpdateStatus(ctx, gotPVC, updateOpts)
	}); err != nil {
		return err
	}

	if err := l.pod(ctx, c, i); err != nil {
		return err
	}

	// The attach/detach controller's name for it: csi-<sha256(pv, attacher, node)>.
	vaName := fmt.Sprintf("csi-%x", sha256.Sum256([]byte(pv+driver+nodeName(node))))
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: vaName, Finalizers: []string{"external-attacher/ebs-csi-aws-com"},
			Annotations: map[string]string{"csi.alpha.kubernetes.io/node-id": "i-0" + hexOf("node", node)[:16]}},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: driver, NodeName: nodeName(node),
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}},
	}
	vas := c.StorageV1().VolumeAttachments()
	gotVA, err := create(ctx, l, "VolumeAttachment "+vaName,
		func(ctx context.Context) (*storagev1.VolumeAttachment, error) { return vas.Create(ctx, va, createOpts) },
		func(ctx context.Context) (*storagev1.VolumeAttachment, error) { return vas.Get(ctx, vaName, getOpts) })
	if err != nil {
		return err
	}
	gotVA.Status = storagev1.VolumeAttachmentStatus{Attached: true,
		AttachmentMetadata: map[string]string{"devicePath": fmt.Sprintf("/dev/xvd%c%c", 'a'+rune(i%26), 'a'+rune(i/26%26))}}
	if i%500 == 250 { // one in 500 keeps failing to attach (va-orphaned)
		gotVA.Status = storagev1.VolumeAttachmentStatus{Attached: false, AttachError: &storagev1.VolumeError{
			Time:    metav1.NewTime(l.now.Add(-2 * time.Hour)),
			Message: "rpc error: code = Internal desc = Could not attach volume \"" + volumeHandle(i) + "\" to node \"i-0" + hexOf("node", node)[:16] + "\": attachment of disk failed: IncorrectState: vol is in the 'in-use' state",
		}}
	}
	_, err = retry(ctx, l, "VolumeAttachment status "+vaName, func(ctx context.Context) (*storagev1.VolumeAttachment, error) {
		return vas.UpdateStatus(ctx, gotVA, updateOpts)
	})
	return err
}

// pod creates pod i: an app container and a log-shipping sidecar with the specs real
// workloads carry, mounting claim i, on its node, Running.
func (l *loader) pod(ctx context.Context, c kubernetes.Interface, i int) error {
	ns, name, app, node := nsName(i), podName(i), appName(i), l.nodeOf(i)
	probe := func(path string, port int32, delay int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port), Scheme: "HTTP"}},
			InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 2, SuccessThreshold: 1, FailureThreshold: 3}
	}
	env := []corev1.EnvVar{
		{Name: "APP_NAME", Value: app}, {Name: "APP_ENV", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"},
		{Name: "DATA_DIR", Value: "/var/lib/data"}, {Name: "JAVA_OPTS", Value: "-XX:MaxRAMPercentage=75 -XX:+UseG1GC -Dfile.encoding=UTF-8"},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc:4317"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
		{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
	}
	image := fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/%s:v2.%d.%d", app, i%13, i%7)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app,
				"app.kubernetes.io/component": "database", "app.kubernetes.io/version": fmt.Sprintf("2.%d.%d", i%13, i%7),
				"statefulset.kubernetes.io/pod-name": name},
			Annotations: map[string]string{
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "/metrics",
				"kubectl.kubernetes.io/restartedAt":              "2026-03-02T10:11:12Z",
				"checksum/config":                                hexOf("cfg", i%97),
				"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
			}},
		Spec: corev1.PodSpec{
			NodeName: nodeName(node), RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
			TerminationGracePeriodSeconds: ptr(int64(60)), SchedulerName: "default-scheduler",
			Hostname: name, Subdomain: app,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(1000)), FSGroup: ptr(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{
				{Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
					Args:  []string{"--config=/etc/app/config.yaml", "--data-dir=/var/lib/data", "--listen=:8080", "--metrics=:9090", "--max-connections=512"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}, {Name: "metrics", ContainerPort: 9090, Protocol: "TCP"}},
					Env:   env,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{"cpu": resource.MustParse("250m"), "memory": resource.MustParse("512Mi")},
						Limits:   corev1.ResourceList{"memory": resource.MustParse("1Gi")}},
					LivenessProbe: probe("/healthz", 8080, 30), ReadinessProbe: probe("/ready", 8080, 5),
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/data"}, {Name: "config", MountPath: "/etc/app", ReadOnly: true}},
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile},
				{Name: "log-shipper", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.5", ImagePullPolicy: corev1.PullIfNotPresent,
					Args: []string{"-c", "/fluent-bit/etc/fluent-bit.conf"},
					Env:  []corev1.EnvVar{{Name: "AWS_REGION", Value: "us-east-1"}, {Name: "LOG_GROUP", Value: "/shop/" + app}},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{"cpu": resource.MustParse("50m"), "memory": resource.MustParse("64Mi")},
						Limits:   corev1.ResourceList{"memory": resource.MustParse("128Mi")}},
					VolumeMounts:           []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/data", ReadOnly: true}},
					TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile},
			},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(i)}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}, DefaultMode: ptr(int32(0o644))}}},
			},
			Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "stateful", Effect: "NoSchedule"}},
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname",
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": app}}}}}}},
		},
	}
	pods := c.CoreV1().Pods(ns)
	got, err := create(ctx, l, "Pod "+ns+"/"+name,
		func(ctx context.Context) (*corev1.Pod, error) { return pods.Create(ctx, p, createOpts) },
		func(ctx context.Context) (*corev1.Pod, error) { return pods.Get(ctx, name, getOpts) })
	if err != nil {
		return err
	}
	start := metav1.NewTime(l.now.Add(-time.Duration(1+i%300) * time.Hour))
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: start}
	}
	running := func(cname, img string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: cname, Ready: true, Started: ptr(true), Image: img,
			ImageID:     img[:strings.LastIndexByte(img, ':')] + "@sha256:" + hexOf(cname+img, 0),
			ContainerID: "containerd://" + hexOf(cname, i),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}}
	}
	podIP := fmt.Sprintf("100.%d.%d.%d", 64+node/250%60, node%250, i/l.nodes%250+2)
	got.Status.Phase = corev1.PodRunning
	got.Status.Conditions = []corev1.PodCondition{cond("PodReadyToStartContainers"), cond(corev1.PodInitialized),
		cond(corev1.PodReady), cond(corev1.ContainersReady), cond(corev1.PodScheduled)}
	got.Status.HostIP, got.Status.HostIPs = nodeIP(node), []corev1.HostIP{{IP: nodeIP(node)}}
	got.Status.PodIP, got.Status.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	got.Status.StartTime = &start
	got.Status.ContainerStatuses = []corev1.ContainerStatus{running("app", image),
		running("log-shipper", "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.5")}
	_, err = retry(ctx, l, "Pod status "+ns+"/"+name, func(ctx context.Context) (*corev1.Pod, error) {
		return pods.UpdateStatus(ctx, got, updateOpts)
	})
	return err
}

var (
	storageReasons = []struct{ reason, typ, kind, source, msg string }{
		{"ExternalExpanding", "Normal", "PersistentVolumeClaim", "volume_expand", "waiting for an external controller to expand this PVC"},
		{"FailedAttachVolume", "Warning", "Pod", "attachdetach-controller", "AttachVolume.Attach failed for volume \"%s\" : rpc error: code = DeadlineExceeded desc = context deadline exceeded"},
		{"ProvisioningFailed", "Warning", "PersistentVolumeClaim", "ebs.csi.aws.com_ebs-csi-controller-7c9d8f6b5-x2kqz_1a2b3c4d", "failed to provision volume with StorageClass \"gp3\": rpc error: code = ResourceExhausted desc = VolumeLimitExceeded"},
		{"FailedMount", "Warning", "Pod", "kubelet", "MountVolume.MountDevice failed for volume \"%s\" : rpc error: code = Internal desc = mount failed: exit status 32"},
	}
	otherReasons = []struct{ reason, typ, source, msg string }{
		{"Scheduled", "Normal", "default-scheduler", "Successfully assigned %s to a node"},
		{"Pulling", "Normal", "kubelet", "Pulling image \"%s\""},
		{"Pulled", "Normal", "kubelet", "Successfully pulled image \"%s\" in 1.234s (1.234s including waiting). Image size: 48123456 bytes."},
		{"Created", "Normal", "kubelet", "Created container: %s"},
		{"Started", "Normal", "kubelet", "Started container %s"},
		{"Unhealthy", "Warning", "kubelet", "Readiness probe failed: Get \"http://%s:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"},
		{"BackOff", "Warning", "kubelet", "Back-off restarting failed container %s"},
		{"Killing", "Normal", "kubelet", "Stopping container %s"},
	}
)

// events creates the five events of volume i: one about storage (its claim or its pod),
// four about its pod's life.
func (l *loader) events(ctx context.Context, i int) error {
	c := l.client()
	ns := nsName(i)
	evs := c.CoreV1().Events(ns)
	for k := range eventsPer {
		seq := i*eventsPer + k
		last := metav1.NewTime(l.now.Add(-time.Duration(seq%3600) * time.Second))
		first := metav1.NewTime(last.Add(-time.Duration(seq%7200) * time.Second))
		e := &corev1.Event{FirstTimestamp: first, LastTimestamp: last, Count: int32(1 + seq%9)}
		if k == 0 { // ~1/5 storage, reasons in turn
			r := storageReasons[(i)%len(storageReasons)]
			obj := corev1.ObjectReference{Kind: r.kind, Namespace: ns, Name: claimName(i), APIVersion: "v1"}
			if r.kind == "Pod" {
				obj.Name = podName(i)
			}
			msg := r.msg
			if r.kind == "Pod" {
				msg = fmt.Sprintf(r.msg, pvName(i))
			}
			e.InvolvedObject, e.Reason, e.Type, e.Message = obj, r.reason, r.typ, msg
			e.Source = corev1.EventSource{Component: r.source}
			e.ReportingController, e.ReportingInstance = r.source, r.source
		} else {
			r := otherReasons[(seq)%len(otherReasons)]
			e.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName(i), APIVersion: "v1", FieldPath: "spec.containers{app}"}
			e.Reason, e.Type, e.Message = r.reason, r.typ, fmt.Sprintf(r.msg, podName(i))
			e.Source = corev1.EventSource{Component: r.source, Host: nodeName(l.nodeOf(i))}
			e.ReportingController, e.ReportingInstance = r.source, nodeName(l.nodeOf(i))
		}
		e.Name = fmt.Sprintf("%s.%s", e.InvolvedObject.Name, hexOf("ev", seq)[:16])
		e.Namespace = ns
		if _, err := create(ctx, l, "Event "+ns+"/"+e.Name,
			func(ctx context.Context) (*corev1.Event, error) { return evs.Create(ctx, e, createOpts) },
			func(ctx context.Context) (*corev1.Event, error) { return evs.Get(ctx, e.Name, getOpts) }); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
