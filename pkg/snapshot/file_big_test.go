package snapshot_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// bigDumpBytes is the size of the generated dumps: the issue asks for a 200 MB dump,
// which takes about a CPU minute per layout to write, load and audit (4-5 minutes for the
// three), too long for every CI run: go test uses 20 MB and AUDITOR_BIG_DUMP=1 the full
// size (measured: peak RSS 74-110 MB for 200 MB dumps in each layout).
func bigDumpBytes() int64 {
	if os.Getenv("AUDITOR_BIG_DUMP") == "1" {
		return 200 << 20
	}
	return 20 << 20
}

// TestBigDumpStreamsInBoundedMemory audits a big dump, mostly Pods and Events of realistic
// size (managed fields, status, projected token volumes), and checks that loading it holds
// about what the snapshot keeps rather than the file: the loader decodes one object at a
// time and drops what no rule reads (non-storage events, pod details). Both layouts
// kubectl writes are covered: multi-document YAML (one object per document) and a single
// List (kubectl get a,b,c -A -o yaml|json), whose items must be streamed too — a List
// is one document, so a document-at-a-time reader alone would hold the whole file. The
// bound (heap in use grows by less than the file's size) is deliberately generous; the
// measured numbers are logged (go test -v).
func TestBigDumpStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and audits big dumps; skipped with -short")
	}
	size := bigDumpBytes()
	for _, layout := range []dumpLayout{multiDocument, kubectlList, jsonList} {
		t.Run(layout.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dump"+layout.ext())
			want := writeBigDump(t, path, layout, size)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}

			eng, err := rules.NewEngine(catalog.All())
			if err != nil {
				t.Fatal(err)
			}
			var (
				snap *snapshot.Snapshot
				res  *rules.Result
			)
			use := measure(func() {
				var stats snapshot.FileStats
				snap, stats, err = snapshot.LoadFiles(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !stats.Complete {
					t.Errorf("dump not taken as complete: %+v", stats)
				}
				res, err = eng.Run(context.Background(), snap, rules.Settings{}, bigDumpNow)
				if err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s: %.0f MB, %d objects; heap in use: %.0f MB before, peak %.0f MB (+%.0f%% of the file), %.0f MB kept after GC; peak RSS %s; %s CPU, %s wall (load + rules)",
				layout, mb(info.Size()), want.objects, mb(use.before), mb(use.peak),
				100*float64(use.peak-use.before)/float64(info.Size()), mb(use.after), use.rss,
				use.cpu.Round(100*time.Millisecond), use.wall.Round(100*time.Millisecond))

			c := snap.Counts()
			for k, n := range want.kept {
				if c[k] != n {
					t.Errorf("%s: got %d, want %d", k, c[k], n)
				}
			}
			for _, s := range res.Report.Skipped {
				t.Errorf("rule %s skipped: %s", s.Rule, s.Reason)
			}
			released := 0
			for _, f := range res.Report.Findings {
				if f.RuleID == "pv-released-retained" {
					released++
				}
			}
			if released != want.releasedPVs {
				t.Errorf("pv-released-retained found %d volumes, want %d", released, want.releasedPVs)
			}
			// What the snapshot keeps of a pod-heavy dump is a third to a half of the file
			// (trimmed pods), and the GC lets the heap grow to twice what is live; a List
			// read whole takes 6 (JSON) to 25 (YAML) times the file. Less than the file
			// itself tells the two apart with room to spare.
			if grew, limit := use.peak-use.before, uint64(info.Size()); grew > limit {
				t.Errorf("heap in use grew by %.0f MB, more than the file (%.0f MB): the loader is holding the input, not streaming it",
					mb(grew), mb(limit))
			}
		})
	}
}

func mb[T int64 | uint64](n T) float64 { return float64(n) / (1 << 20) }

// bigDumpNow is when the generated dump was "taken".
var bigDumpNow = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// usage is what measure saw.
type usage struct {
	before, peak, after uint64 // heap in use (HeapInuse): before f, highest sample, after f and a GC
	rss                 string // the process's peak RSS (VmHWM) during f, when Linux reports it
	cpu, wall           time.Duration
}

// measure runs f while sampling the heap in use. The samples come from runtime/metrics,
// which does not stop the world; a short spike between two samples can be missed.
func measure(f func()) usage {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	read := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() + samples[1].Value.Uint64()
	}
	runtime.GC()
	resetPeakRSS()
	var u usage
	u.before = read()
	var (
		mu   sync.Mutex
		peak = u.before
	)
	sample := func() {
		inUse := read()
		mu.Lock()
		peak = max(peak, inUse)
		mu.Unlock()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	cpu0, start := cpuTime(), time.Now()
	f()
	u.wall, u.cpu = time.Since(start), cpuTime()-cpu0
	sample()
	close(done)
	wg.Wait()
	u.peak, u.rss = peak, peakRSS()
	runtime.GC()
	u.after = read()
	return u
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS clears the kernel's high-water mark of this process's RSS (Linux ≥ 4.0), so
// the generated file's writing does not count.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err == nil {
				return fmt.Sprintf("%d MB", kb>>10)
			}
		}
	}
	return "unknown"
}

type dumpLayout int

const (
	multiDocument dumpLayout = iota // ---separated YAML documents, one object each
	kubectlList                     // one YAML `kind: List` document (kubectl get -o yaml)
	jsonList                        // one JSON `kind: List` object (kubectl get -o json)
)

func (l dumpLayout) String() string {
	return [...]string{"multi-document YAML", "YAML List", "JSON List"}[l]
}

func (l dumpLayout) ext() string {
	if l == jsonList {
		return ".json"
	}
	return ".yaml"
}

// generated says what writeBigDump wrote, to check the audit against.
type generated struct {
	objects     int
	kept        map[snapshot.Kind]int
	releasedPVs int
}

// writeBigDump writes a dump of about size bytes to path. Objects are written as YAML and,
// for the JSON layout, converted one at a time (writeObject), so the test never holds the
// dump either.
func writeBigDump(t *testing.T, path string, layout dumpLayout, size int64) generated {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cw := &countingWriter{w: f}
	w := bufio.NewWriterSize(cw, 1<<20)
	g := generated{kept: map[snapshot.Kind]int{}}
	first := true
	obj := func(kind snapshot.Kind, kept bool, text string) {
		writeObject(t, w, layout, first, text)
		first = false
		g.objects++
		if kept {
			g.kept[kind]++
		}
	}
	switch layout {
	case kubectlList:
		fmt.Fprint(w, "apiVersion: v1\nitems:\n")
	case jsonList:
		fmt.Fprint(w, "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")
	}

	obj(snapshot.StorageClasses, true, bigStorageClass)
	obj(snapshot.CSIDrivers, true, bigCSIDriver)
	const nodes = 40
	for n := range nodes {
		obj(snapshot.Nodes, true, fmt.Sprintf(bigNode, n))
		obj(snapshot.CSINodes, true, fmt.Sprintf(bigCSINode, n))
	}
	obj(snapshot.DaemonSets, true, bigDaemonSet)
	obj(snapshot.Deployments, true, bigDeployment)
	const volumes = 400
	for v := range volumes {
		if v%40 == 0 { // a released volume nobody reclaims: pv-released-retained fires
			obj(snapshot.PersistentVolumes, true, fmt.Sprintf(bigPV, v, "Retain", "Released", "data-gone-"+strconv.Itoa(v)))
			g.releasedPVs++
			continue
		}
		obj(snapshot.PersistentVolumes, true, fmt.Sprintf(bigPV, v, "Delete", "Bound", fmt.Sprintf("data-%d", v)))
		obj(snapshot.PersistentVolumeClaims, true, fmt.Sprintf(bigPVC, v%20, v))
	}
	for p := 0; cw.n+int64(w.Buffered()) < size; p++ {
		claim := fmt.Sprintf("data-%d", p%volumes)
		if (p%volumes)%40 == 0 {
			claim = "data-1"
		}
		obj(snapshot.Pods, true, fmt.Sprintf(bigPod, p, p%20, p%nodes, claim))
		for e := range 6 {
			reason, kept := "Pulled", false
			switch {
			case e == 5 && p%10 == 0:
				reason, kept = "FailedMount", true
			case e == 1:
				reason = "Created"
			case e == 2:
				reason = "Started"
			case e == 3:
				reason = "Scheduled"
			case e == 4:
				reason = "BackOff"
			}
			obj(snapshot.Events, kept, fmt.Sprintf(bigEvent, p, e, p%20, reason))
		}
	}

	switch layout {
	case kubectlList:
		fmt.Fprint(w, "kind: List\nmetadata:\n  resourceVersion: \"\"\n")
	case jsonList:
		fmt.Fprint(w, "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return g
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeObject writes one object given as a YAML mapping at column 0 in the layout's form.
func writeObject(t *testing.T, w *bufio.Writer, layout dumpLayout, first bool, text string) {
	switch layout {
	case multiDocument:
		w.WriteString("---\n")
		w.WriteString(text)
	case kubectlList:
		for i, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			if i == 0 {
				w.WriteString("- ")
			} else {
				w.WriteString("  ")
			}
			w.WriteString(line)
		}
	case jsonList:
		j, err := yamlToIndentedJSON(text)
		if err != nil {
			t.Fatalf("generator: %v\n%s", err, text)
		}
		if !first {
			w.WriteString(",\n")
		}
		w.Write(j)
	}
}

var (
	yamlToJSON = utilyaml.ToJSON
	jsonIndent = json.Indent
)

func yamlToIndentedJSON(text string) ([]byte, error) {
	j, err := yamlToJSON([]byte(text))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := jsonIndent(&out, j, "        ", "    "); err != nil {
		return nil, err
	}
	return append([]byte("        "), out.Bytes()...), nil
}

// The object templates follow what kubectl get -o yaml prints for a 1.3x cluster,
// managed fields included: that is where most of a real dump's bytes are.

const bigStorageClass = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
  creationTimestamp: "2025-09-01T10:00:00Z"
  name: standard
  resourceVersion: "100"
  uid: 0b0e3c52-8f1d-4b3a-9c4e-000000000001
provisioner: ebs.csi.aws.com
reclaimPolicy: Delete
allowVolumeExpansion: true
volumeBindingMode: WaitForFirstConsumer
`

const bigCSIDriver = `apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  creationTimestamp: "2025-09-01T10:00:00Z"
  name: ebs.csi.aws.com
  resourceVersion: "101"
  uid: 0b0e3c52-8f1d-4b3a-9c4e-000000000002
spec:
  attachRequired: true
  podInfoOnMount: false
`

// bigNode: %[1]d is the node number.
const bigNode = `apiVersion: v1
kind: Node
metadata:
  creationTimestamp: "2025-09-01T10:00:00Z"
  labels:
    kubernetes.io/hostname: node-%[1]d
    topology.kubernetes.io/zone: eu-west-1a
  name: node-%[1]d
  resourceVersion: "200"
  uid: 1b0e3c52-8f1d-4b3a-9c4e-%012[1]d
spec:
  providerID: aws:///eu-west-1a/i-%012[1]d
status:
  allocatable:
    cpu: "8"
    memory: 31Gi
    pods: "110"
  capacity:
    cpu: "8"
    memory: 32Gi
    pods: "110"
  conditions:
  - lastHeartbeatTime: "2026-11-20T09:29:00Z"
    lastTransitionTime: "2025-09-01T10:01:00Z"
    message: kubelet is posting ready status
    reason: KubeletReady
    status: "True"
    type: Ready
  nodeInfo:
    kubeletVersion: v1.34.1
`

const bigCSINode = `apiVersion: storage.k8s.io/v1
kind: CSINode
metadata:
  creationTimestamp: "2025-09-01T10:00:00Z"
  name: node-%[1]d
  resourceVersion: "201"
  uid: 2b0e3c52-8f1d-4b3a-9c4e-%012[1]d
spec:
  drivers:
  - allocatable:
      count: 25
    name: ebs.csi.aws.com
    nodeID: i-%012[1]d
    topologyKeys:
    - topology.ebs.csi.aws.com/zone
`

const bigDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  creationTimestamp: "2025-09-01T10:00:00Z"
  name: kube-proxy
  namespace: kube-system
  resourceVersion: "300"
  uid: 3b0e3c52-8f1d-4b3a-9c4e-000000000001
spec:
  selector:
    matchLabels:
      k8s-app: kube-proxy
  template:
    metadata:
      labels:
        k8s-app: kube-proxy
    spec:
      containers:
      - image: registry.k8s.io/kube-proxy:v1.34.1
        name: kube-proxy
`

const bigDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: "2025-09-01T10:00:00Z"
  name: coredns
  namespace: kube-system
  resourceVersion: "301"
  uid: 3b0e3c52-8f1d-4b3a-9c4e-000000000002
spec:
  replicas: 2
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      containers:
      - image: registry.k8s.io/coredns/coredns:v1.12.0
        name: coredns
`

// bigPV: %[1]d volume number, %[2]s reclaim policy, %[3]s phase, %[4]s claim name.
const bigPV = `apiVersion: v1
kind: PersistentVolume
metadata:
  annotations:
    pv.kubernetes.io/provisioned-by: ebs.csi.aws.com
  creationTimestamp: "2026-01-01T10:00:00Z"
  finalizers:
  - kubernetes.io/pv-protection
  name: pvc-%012[1]d
  resourceVersion: "400"
  uid: 4b0e3c52-8f1d-4b3a-9c4e-%012[1]d
spec:
  accessModes:
  - ReadWriteOnce
  capacity:
    storage: 10Gi
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    name: %[4]s
    namespace: team-%[1]d
    uid: 5b0e3c52-8f1d-4b3a-9c4e-%012[1]d
  csi:
    driver: ebs.csi.aws.com
    fsType: ext4
    volumeHandle: vol-%012[1]d
  persistentVolumeReclaimPolicy: %[2]s
  storageClassName: standard
  volumeMode: Filesystem
status:
  lastPhaseTransitionTime: "2026-10-01T10:00:00Z"
  phase: %[3]s
`

// bigPVC: %[1]d namespace number (unused: claims sit in team-<volume>), %[2]d volume number.
const bigPVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  annotations:
    pv.kubernetes.io/bind-completed: "yes"
    volume.kubernetes.io/storage-provisioner: ebs.csi.aws.com
  creationTimestamp: "2026-01-01T10:00:00Z"
  finalizers:
  - kubernetes.io/pvc-protection
  labels:
    app: web-%[1]d
  name: data-%[2]d
  namespace: team-%[2]d
  resourceVersion: "401"
  uid: 5b0e3c52-8f1d-4b3a-9c4e-%012[2]d
spec:
  accessModes:
  - ReadWriteOnce
  resources:
    requests:
      storage: 10Gi
  storageClassName: standard
  volumeMode: Filesystem
  volumeName: pvc-%012[2]d
status:
  accessModes:
  - ReadWriteOnce
  capacity:
    storage: 10Gi
  phase: Bound
`

// bigPod: %[1]d pod number, %[2]d app number, %[3]d node number, %[4]s claim name. The
// claims live in team-<volume>; pods sit in team-<app>, so most claim references dangle,
// which is fine: the test checks counts and one rule, not every rule's verdict.
const bigPod = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubectl.kubernetes.io/restartedAt: "2026-10-01T10:00:00Z"
    prometheus.io/port: "9090"
    prometheus.io/scrape: "true"
  creationTimestamp: "2026-10-01T10:00:00Z"
  generateName: web-%[2]d-7d9c8b6f5-
  labels:
    app: web-%[2]d
    pod-template-hash: 7d9c8b6f5
    tier: frontend
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {}
          f:kubectl.kubernetes.io/restartedAt: {}
          f:prometheus.io/port: {}
          f:prometheus.io/scrape: {}
        f:generateName: {}
        f:labels:
          .: {}
          f:app: {}
          f:pod-template-hash: {}
          f:tier: {}
        f:ownerReferences:
          .: {}
          k:{"uid":"6b0e3c52-8f1d-4b3a-9c4e-000000000000"}: {}
      f:spec:
        f:containers:
          k:{"name":"app"}:
            .: {}
            f:env:
              .: {}
              k:{"name":"LOG_LEVEL"}:
                .: {}
                f:name: {}
                f:value: {}
            f:image: {}
            f:imagePullPolicy: {}
            f:name: {}
            f:ports:
              .: {}
              k:{"containerPort":8080,"protocol":"TCP"}:
                .: {}
                f:containerPort: {}
                f:name: {}
                f:protocol: {}
            f:resources:
              .: {}
              f:limits:
                .: {}
                f:memory: {}
              f:requests:
                .: {}
                f:cpu: {}
                f:memory: {}
            f:volumeMounts:
              .: {}
              k:{"mountPath":"/data"}:
                .: {}
                f:mountPath: {}
                f:name: {}
        f:volumes:
          .: {}
          k:{"name":"data"}:
            .: {}
            f:name: {}
            f:persistentVolumeClaim:
              .: {}
              f:claimName: {}
    manager: kube-controller-manager
    operation: Update
    time: "2026-10-01T10:00:00Z"
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:status:
        f:conditions:
          k:{"type":"ContainersReady"}:
            .: {}
            f:lastProbeTime: {}
            f:lastTransitionTime: {}
            f:status: {}
            f:type: {}
          k:{"type":"Initialized"}:
            .: {}
            f:lastProbeTime: {}
            f:lastTransitionTime: {}
            f:status: {}
            f:type: {}
          k:{"type":"Ready"}:
            .: {}
            f:lastProbeTime: {}
            f:lastTransitionTime: {}
            f:status: {}
            f:type: {}
        f:containerStatuses: {}
        f:hostIP: {}
        f:phase: {}
        f:podIP: {}
        f:startTime: {}
    manager: kubelet
    operation: Update
    subresource: status
    time: "2026-10-01T10:00:05Z"
  name: web-%[2]d-7d9c8b6f5-p%[1]d
  namespace: team-%[2]d
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-%[2]d-7d9c8b6f5
    uid: 6b0e3c52-8f1d-4b3a-9c4e-000000000000
  resourceVersion: "%[1]d"
  uid: 7b0e3c52-8f1d-4b3a-9c4e-%012[1]d
spec:
  containers:
  - env:
    - name: LOG_LEVEL
      value: info
    image: registry.example.com/team/web:1.42.0
    imagePullPolicy: IfNotPresent
    name: app
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
    resources:
      limits:
        memory: 512Mi
      requests:
        cpu: 100m
        memory: 256Mi
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /data
      name: data
    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      name: kube-api-access-x%[1]d
      readOnly: true
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: node-%[3]d
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  serviceAccount: default
  serviceAccountName: default
  terminationGracePeriodSeconds: 30
  tolerations:
  - effect: NoExecute
    key: node.kubernetes.io/not-ready
    operator: Exists
    tolerationSeconds: 300
  - effect: NoExecute
    key: node.kubernetes.io/unreachable
    operator: Exists
    tolerationSeconds: 300
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: %[4]s
  - name: kube-api-access-x%[1]d
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken:
          expirationSeconds: 3607
          path: token
      - configMap:
          items:
          - key: ca.crt
            path: ca.crt
          name: kube-root-ca.crt
      - downwardAPI:
          items:
          - fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
            path: namespace
status:
  conditions:
  - lastProbeTime: null
    lastTransitionTime: "2026-10-01T10:00:01Z"
    status: "True"
    type: Initialized
  - lastProbeTime: null
    lastTransitionTime: "2026-10-01T10:00:05Z"
    status: "True"
    type: Ready
  - lastProbeTime: null
    lastTransitionTime: "2026-10-01T10:00:05Z"
    status: "True"
    type: ContainersReady
  containerStatuses:
  - containerID: containerd://%064[1]d
    image: registry.example.com/team/web:1.42.0
    imageID: registry.example.com/team/web@sha256:%064[1]d
    lastState: {}
    name: app
    ready: true
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2026-10-01T10:00:04Z"
  hostIP: 10.0.%[3]d.10
  phase: Running
  podIP: 10.244.%[3]d.%[2]d
  qosClass: Burstable
  startTime: "2026-10-01T10:00:01Z"
`

// bigEvent: %[1]d pod number, %[2]d event number, %[3]d app number, %[4]s reason.
const bigEvent = `apiVersion: v1
count: 1
eventTime: null
firstTimestamp: "2026-11-20T09:00:00Z"
involvedObject:
  apiVersion: v1
  fieldPath: spec.containers{app}
  kind: Pod
  name: web-%[3]d-7d9c8b6f5-p%[1]d
  namespace: team-%[3]d
  resourceVersion: "%[1]d"
  uid: 7b0e3c52-8f1d-4b3a-9c4e-%012[1]d
kind: Event
lastTimestamp: "2026-11-20T09:00:00Z"
message: 'Container image "registry.example.com/team/web:1.42.0" already present on machine and the kubelet reports %[4]s for this pod'
metadata:
  creationTimestamp: "2026-11-20T09:00:00Z"
  name: web-%[3]d-7d9c8b6f5-p%[1]d.18%012[1]d%[2]d
  namespace: team-%[3]d
  resourceVersion: "%[1]d%[2]d"
  uid: 8b0e3c52-8f1d-4b3a-9c4e-%012[1]d
reason: %[4]s
reportingComponent: kubelet
reportingInstance: node-1
source:
  component: kubelet
  host: node-1
type: Normal
`
