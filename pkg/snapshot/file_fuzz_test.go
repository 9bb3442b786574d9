package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// FuzzLoadDump feeds arbitrary bytes to the dump loader, as stdin, and audits whatever
// loads. The property: no panic, ever. Input that is not a dump gives one error line that
// names the input (and the document) without Go type names; input that loads can be
// indexed and audited by every rule without a rule panicking (the engine turns a rule's
// panic into a skipped rule, which this test treats as a failure).
//
// Without -fuzz it runs the seeds below and the committed corpus in
// testdata/fuzz/FuzzLoadDump. To fuzz for a while:
//
//	go test ./pkg/snapshot -run '^$' -fuzz FuzzLoadDump -fuzztime 5m
func FuzzLoadDump(f *testing.F) {
	for _, seed := range dumpSeeds {
		f.Add([]byte(seed))
	}
	eng, err := rules.NewEngine(catalog.All())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, _, err := snapshot.LoadFiles("-", bytes.NewReader(data))
		if err != nil {
			if why := badLoadError(err.Error(), "stdin"); why != "" {
				t.Fatalf("%s: %q", why, err)
			}
			return
		}
		snap.Index()
		res, err := eng.Run(context.Background(), snap, rules.Settings{}, fuzzNow)
		if err != nil {
			t.Fatalf("engine: %v", err)
		}
		for _, s := range res.Report.Skipped {
			if strings.Contains(s.Reason, "panicked") {
				t.Fatalf("rule %s: %s", s.Rule, s.Reason)
			}
		}
		if _, err := json.Marshal(res.Report); err != nil {
			t.Fatalf("report does not encode: %v", err)
		}
	})
}

var fuzzNow = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// goTypeRE matches what Go's decoders put in errors and users should not see: type
// names (*v1.Pod, map[string]interface {}, []interface {}, json.RawMessage, v1.PodSpec)
// and the phrases around them.
var goTypeRE = regexp.MustCompile(`\*?\b(v1|v1beta1|metav1|resource|intstr|json|runtime|types)\.[A-Z]\w*|map\[string\]|\[\]interface|interface \{\}|Go (struct|value)|goroutine|panic`)

// badLoadError says what is wrong with a loader error message, or "".
func badLoadError(msg, source string) string {
	switch {
	case strings.Contains(msg, "\n"):
		return "error spans several lines"
	case !strings.HasPrefix(msg, source+": ") && !strings.HasPrefix(msg, "--from-file: "+source+": "):
		return "error does not start with the input's name"
	case goTypeRE.MatchString(msg):
		return "error shows Go internals (" + goTypeRE.FindString(msg) + ")"
	}
	return ""
}

// dumpSeeds are the shapes a dump comes in and the ways one goes wrong. The fuzzer
// mutates them; as a plain test each is loaded and audited once.
var dumpSeeds = []string{
	// kubectl get -o yaml: one List, keys in kubectl's order (kind after items).
	`apiVersion: v1
items:
- apiVersion: v1
  kind: PersistentVolume
  metadata:
    name: pv-1
  spec:
    capacity:
      storage: 10Gi
    claimRef:
      name: data
      namespace: db
    csi:
      driver: ebs.csi.aws.com
      volumeHandle: vol-1
    persistentVolumeReclaimPolicy: Retain
    storageClassName: gp3
  status:
    phase: Released
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    name: data
    namespace: db
  spec:
    resources:
      requests:
        storage: 20Gi
    storageClassName: gp3
    volumeName: pv-1
  status:
    capacity:
      storage: 10Gi
    phase: Bound
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata:
    name: gp3
  provisioner: ebs.csi.aws.com
  allowVolumeExpansion: true
- apiVersion: v1
  kind: Pod
  metadata:
    name: db-0
    namespace: db
  spec:
    nodeName: node-1
    volumes:
    - name: data
      persistentVolumeClaim:
        claimName: data
  status:
    phase: Running
kind: List
metadata:
  resourceVersion: ""
`,
	// Multi-document YAML with comments, an empty document and an explicit end marker.
	`# dump
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
---
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: node-1}
spec:
  drivers:
  - name: ebs.csi.aws.com
    nodeID: i-1
    allocatable: {count: 2}
...
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va-1}
spec:
  attacher: ebs.csi.aws.com
  nodeName: node-1
  source: {persistentVolumeName: pv-1}
`,
	// kubectl get -o json: a List.
	`{
    "apiVersion": "v1",
    "items": [
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"},
         "spec": {"persistentVolumeReclaimPolicy": "Retain"}, "status": {"phase": "Released"}},
        {"apiVersion": "v1", "kind": "PodList", "items": []}
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
`,
	// A single JSON object, then a second one in the same stream.
	`{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "db"}}
{"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "db"}, "reason": "FailedMount"}`,
	// A YAML List of typed Lists, flow style, as the rule fixtures write them.
	`apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: PersistentVolumeList, items: []}
- {apiVersion: v1, kind: PersistentVolumeClaimList, items: []}
- {apiVersion: storage.k8s.io/v1, kind: StorageClassList, items: []}
- {apiVersion: v1, kind: NodeList, items: []}
- {apiVersion: storage.k8s.io/v1, kind: CSINodeList, items: []}
- {apiVersion: v1, kind: PodList, items: []}
- {apiVersion: apps/v1, kind: DeploymentList, items: []}
- {apiVersion: apps/v1, kind: DaemonSetList, items: []}
`,
	// Every kind the snapshot holds, with nothing but its type: no metadata, spec, status.
	everyKindBare,
	// Every kind with the optional parts present but empty: nil pointers and empty
	// structs wherever the API allows them.
	`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: PersistentVolume
  metadata: {name: pv-empty}
  spec: {claimRef: null, csi: null, nodeAffinity: null, capacity: null}
  status: {}
- apiVersion: v1
  kind: PersistentVolume
  metadata: {name: pv-affinity}
  spec:
    nodeAffinity: {required: {nodeSelectorTerms: [{}, {matchExpressions: [{key: k, operator: In}]}]}}
    claimRef: {}
    csi: {driver: ""}
    capacity: {storage: "0"}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {name: c, namespace: db, deletionTimestamp: "2026-01-01T00:00:00Z"}
  spec: {storageClassName: null, resources: {}, dataSource: {}, volumeName: ""}
  status: {conditions: [{}], allocatedResources: {}, allocatedResourceStatuses: {storage: ""}}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: db, ownerReferences: [{}], deletionTimestamp: "2026-01-01T00:00:00Z"}
  spec:
    volumes: [{name: a}, {name: b, persistentVolumeClaim: {}}, {name: c, ephemeral: {}}, {name: d, csi: {}}, {name: e, hostPath: {}}]
    containers: [{}]
  status: {containerStatuses: [{state: {terminated: {}}}], conditions: [{type: DisruptionTarget}]}
- apiVersion: storage.k8s.io/v1
  kind: VolumeAttachment
  metadata: {name: va}
  spec: {source: {}}
- apiVersion: storage.k8s.io/v1
  kind: VolumeAttachment
  metadata: {name: va-inline}
  spec: {source: {inlineVolumeSpec: {}}}
  status: {attachError: {}, detachError: {}}
- apiVersion: v1
  kind: Event
  metadata: {name: e, namespace: db}
  reason: FailedMount
- apiVersion: events.k8s.io/v1
  kind: Event
  metadata: {name: e2, namespace: db}
  reason: VolumeResizeFailed
  series: {}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: s, namespace: db}
  spec: {replicas: null, volumeClaimTemplates: [{}], persistentVolumeClaimRetentionPolicy: {}, ordinals: {}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d, namespace: db}
  spec: {template: {spec: {volumes: [{}]}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata: {name: r, namespace: db, ownerReferences: [{kind: Deployment}]}
- apiVersion: batch/v1
  kind: Job
  metadata: {name: j, namespace: db, ownerReferences: [{kind: CronJob}]}
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: cj, namespace: db}
  spec: {jobTemplate: {}}
- apiVersion: v1
  kind: ResourceQuota
  metadata: {name: q, namespace: db}
  spec: {hard: {requests.storage: 1Gi}}
  status: {hard: {}, used: {requests.storage: 2Gi}}
- apiVersion: coordination.k8s.io/v1
  kind: Lease
  metadata: {name: external-resizer-ebs-csi-aws-com, namespace: kube-system}
  spec: {holderIdentity: null, renewTime: null}
- apiVersion: v1
  kind: Node
  metadata: {name: node-1}
  status: {allocatable: null, conditions: [{}]}
- apiVersion: storage.k8s.io/v1
  kind: CSINode
  metadata: {name: node-1}
  spec: {drivers: [{}, {name: x, allocatable: {}}]}
- apiVersion: storage.k8s.io/v1
  kind: CSIDriver
  metadata: {name: x}
  spec: {}
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata: {name: sc, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata: {name: sc2, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
  allowVolumeExpansion: null
`,
	// Wrong kinds: kinds the auditor does not read, an unknown group, a kind in the wrong
	// group, a typed List with null items, a List of non-objects.
	`apiVersion: v1
kind: Service
metadata: {name: s}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: Pod
metadata: {name: p}
---
apiVersion: v1
kind: PodList
items: null
---
apiVersion: v1
kind: List
items: [1, "two", [3]]
`,
	`apiVersion: v1
kind: List
items: 5
`,
	`{"apiVersion": "v1", "kind": "List", "items": {"a": 1}}`,
	`{"apiVersion": 1, "kind": ["Pod"]}`,
	// Fields of the wrong type.
	`apiVersion: v1
kind: Pod
metadata: {name: p, namespace: db}
spec: {volumes: "data", containers: 7}
`,
	`apiVersion: v1
kind: PersistentVolume
metadata: {name: pv, creationTimestamp: yesterday}
spec: {capacity: {storage: lots}}
`,
	// Empty inputs.
	"", " \n\t\n", "---\n", "---\n...\n", "null", "{}", "[]", "42", "# only a comment\n",
	// Binary garbage: NUL bytes, and high bytes without NUL.
	"\x00\x01\x02\xff\xfeKUBE\x00",
	"\xff\xfe\xfd\x80\x81 apiVersion: v1\n\xc3\x28kind: Pod\n",
	// Invalid UTF-8 inside otherwise valid documents.
	"apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: \"pv-\xff\"}\n",
	`{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-` + "\xc3\x28" + `"}}`,
	// Huge numbers.
	"apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv, generation: 99999999999999999999999999999999}\n",
	`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: PersistentVolume
  metadata: {name: pv-huge}
  spec:
    capacity: {storage: 99999999999999999999999999999999999999Ei}
    claimRef: {name: c, namespace: db}
    storageClassName: gp3
    persistentVolumeReclaimPolicy: Retain
  status: {phase: Released}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {name: c, namespace: db}
  spec:
    resources: {requests: {storage: 99999999999999999999999999999999999999Ei}}
    storageClassName: gp3
    volumeName: pv-huge
  status: {phase: Bound, capacity: {storage: 1}}
- apiVersion: v1
  kind: ResourceQuota
  metadata: {name: q, namespace: db}
  status: {hard: {requests.storage: 99999999999999999999Ei}, used: {requests.storage: 99999999999999999999999Ei}}
`,
	`{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "status": {"allocatable": {"attachable-volumes-csi-x": "1e400"}}}`,
	`apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: node-1}
spec: {drivers: [{name: d, allocatable: {count: 1e400}}]}
`,
	// Duplicate keys, non-string keys, YAML tags.
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: a}}\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: b}}\n",
	"apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {[1, 2]: x}}\n",
	"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n? [a, b]\n: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata: {name: !!binary aGVsbG8=}\n",
	// Anchors across List items (PyYAML writes them) and a dangling alias.
	"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: &m {name: a}\n- apiVersion: v1\n  kind: Node\n  metadata: *m\n",
	"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: *nowhere\n",
	// Syntax errors: YAML, and JSON truncated mid-List.
	"apiVersion: v1\nkind: List\nitems:\n  - kind: [unclosed\n",
	"apiVersion: v1\nkind: Pod\n  metadata: bad indent\n",
	"{\"apiVersion\": \"v1\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Node\"",
	"{\"apiVersion\": \"v1\", \"kind\": \"Node\",, }",
	"--- {apiVersion: v1, kind: Node, metadata: {name: node-1}}\n--- garbage: [\n",
	// CRLF line endings and a byte-order mark.
	"\xef\xbb\xbfapiVersion: v1\r\nitems:\r\n- apiVersion: v1\r\n  kind: Node\r\n  metadata:\r\n    name: node-1\r\nkind: List\r\n",
	// yaml.v3-style indented items.
	"apiVersion: v1\nitems:\n  - apiVersion: v1\n    kind: Node\n    metadata: {name: node-1}\n  - apiVersion: v1\n    kind: Node\n    metadata: {name: node-2}\nkind: List\n",
}

// everyKindBare has an object of every kind the snapshot holds (and the events.k8s.io
// Event), each with apiVersion and kind only.
var everyKindBare = func() string {
	var b strings.Builder
	for _, k := range []string{
		"v1 PersistentVolume", "v1 PersistentVolumeClaim", "storage.k8s.io/v1 StorageClass",
		"storage.k8s.io/v1 CSIDriver", "storage.k8s.io/v1 CSINode", "storage.k8s.io/v1 VolumeAttachment",
		"v1 Node", "v1 Pod", "apps/v1 StatefulSet", "apps/v1 Deployment", "apps/v1 DaemonSet",
		"apps/v1 ReplicaSet", "batch/v1 Job", "batch/v1 CronJob", "v1 ResourceQuota",
		"coordination.k8s.io/v1 Lease", "v1 Event", "events.k8s.io/v1 Event",
	} {
		av, kind, _ := strings.Cut(k, " ")
		b.WriteString("---\napiVersion: " + av + "\nkind: " + kind + "\n")
	}
	return b.String()
}()
