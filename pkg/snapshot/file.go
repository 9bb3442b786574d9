package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// scheme knows exactly the API groups a dump may hold objects of; everything else in a
// dump (Services, ConfigMaps, CRDs…) is counted and ignored.
var (
	scheme = runtime.NewScheme()
	codecs serializer.CodecFactory
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, storagev1.AddToScheme,
		coordinationv1.AddToScheme, eventsv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err) // static registration; cannot fail at run time
		}
	}
	codecs = serializer.NewCodecFactory(scheme)
}

// FileStats says what a dump held beyond the kinds the snapshot keeps.
type FileStats struct {
	Files   int
	Objects int
	// Ignored counts objects of kinds the auditor does not read, by "apiVersion/kind".
	Ignored map[string]int
	// Complete is true when the dump was taken as a full dump (see completeIfFullDump).
	Complete bool
}

// fullDumpKinds are kinds every real cluster has objects of: storage, nodes with their
// CSINodes (the kubelet creates one per node), pods, and the Deployments and DaemonSets of
// its own add-ons (DNS, kube-proxy or the CNI). A dump holding all of them was made with
// the README's single kubectl command, so a kind it holds no object of (kubectl prints an
// empty, untyped List for it) really has none. A shorter dump (kubectl get
// pv,pvc,sc,nodes,pods) stays partial: taking it for a full one would make every node look
// CSINode-less and every claim of an undumped workload look unused.
var fullDumpKinds = []Kind{PersistentVolumes, PersistentVolumeClaims, StorageClasses, Nodes, CSINodes, Pods, Deployments, DaemonSets}

// completeIfFullDump marks every kind as read when the dump looks like a full dump, and
// reports whether it did. A partial dump (kubectl get pv,pvc) stays partial: rules that
// need a missing kind are skipped rather than reporting, say, every claim's class missing.
func (s *Snapshot) completeIfFullDump() bool {
	for _, k := range fullDumpKinds {
		if !s.present[k] {
			return false
		}
	}
	for _, k := range AllKinds {
		s.present[k] = true
	}
	return true
}

// LoadFiles reads a dump: a file, a directory (every regular, non-hidden file below it,
// in lexical order), or "-" for stdin. Each file holds `kubectl get -o yaml|json` output:
// a List, single objects, or multi-document YAML. Errors name the file and document.
func LoadFiles(path string, stdin io.Reader) (*Snapshot, FileStats, error) {
	stats := FileStats{Ignored: map[string]int{}}
	source := filepath.Base(path)
	if path == "-" {
		source = "stdin"
	}
	s := New(source)
	var files []string
	switch {
	case path == "-":
		if err := loadStream(s, &stats, "stdin", stdin); err != nil {
			return nil, stats, err
		}
		stats.Files = 1
	default:
		info, err := os.Stat(path)
		if err != nil {
			return nil, stats, fmt.Errorf("--from-file: %w", unwrapPathError(err, path))
		}
		if info.IsDir() {
			files, err = dirFiles(path)
			if err != nil {
				return nil, stats, err
			}
			if len(files) == 0 {
				return nil, stats, fmt.Errorf("%s: directory holds no files; put kubectl get -o yaml output in it", path)
			}
		} else {
			files = []string{path}
		}
		for _, f := range files {
			if err := loadFile(s, &stats, f); err != nil {
				return nil, stats, err
			}
			stats.Files++
		}
	}
	if stats.Objects == 0 {
		return nil, stats, fmt.Errorf("%s: no Kubernetes objects found; expected kubectl get -o yaml|json output", displayName(path))
	}
	stats.Complete = s.completeIfFullDump()
	s.Index()
	return s, stats, nil
}

func displayName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

func dirFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}

func unwrapPathError(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return err
}

func loadFile(s *Snapshot, stats *FileStats, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return unwrapPathError(err, path)
	}
	defer f.Close()
	before := stats.Objects
	if err := loadStream(s, stats, path, f); err != nil {
		return err
	}
	if stats.Objects == before {
		return fmt.Errorf("%s: no Kubernetes objects in this file; expected kubectl get -o yaml|json output", path)
	}
	return nil
}

// typeAndItems reads just enough of a document to route it.
type typeAndItems struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

func loadStream(s *Snapshot, stats *FileStats, name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := rejectBinary(br, name); err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(br, 64<<10)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %s", name, doc, oneLine(err))
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue // empty document between --- separators
		}
		if err := loadDocument(s, stats, raw); err != nil {
			return fmt.Errorf("%s: document %d: %s", name, doc, oneLine(err))
		}
	}
}

// rejectBinary fails fast on files that are clearly not text (NUL bytes in the first
// block), which the YAML decoder would otherwise report confusingly.
func rejectBinary(br *bufio.Reader, name string) error {
	head, _ := br.Peek(8 << 10)
	if bytes.IndexByte(head, 0) >= 0 {
		return fmt.Errorf("%s: binary data, not kubectl get -o yaml|json output", name)
	}
	return nil
}

func loadDocument(s *Snapshot, stats *FileStats, raw []byte) error {
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("not a Kubernetes object (a YAML/JSON mapping with apiVersion and kind)")
	}
	var ti typeAndItems
	if err := json.Unmarshal(raw, &ti); err != nil {
		return fmt.Errorf("not a Kubernetes object: %v", err)
	}
	if ti.Kind == "" || ti.APIVersion == "" {
		return fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	if strings.HasSuffix(ti.Kind, "List") && ti.Items != nil {
		// A typed list (PodList) says its kind was listed even when it has no items, which
		// is how a dump tells "none exist" from "not dumped".
		if k := KindNamed(strings.TrimSuffix(ti.Kind, "List")); k != "" {
			s.MarkPresent(k)
			stats.Objects++
		}
		for i, item := range ti.Items {
			if err := loadDocument(s, stats, bytes.TrimSpace(item)); err != nil {
				return fmt.Errorf("%s item %d: %v", ti.Kind, i, err)
			}
		}
		return nil
	}
	return loadObject(s, stats, raw)
}

func loadObject(s *Snapshot, stats *FileStats, raw []byte) error {
	obj, gvk, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			var ti typeAndItems
			_ = json.Unmarshal(raw, &ti)
			if ti.Kind == "" {
				return fmt.Errorf("object has no kind")
			}
			stats.Objects++
			stats.Ignored[ti.APIVersion+"/"+ti.Kind]++
			return nil
		}
		if runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
			return fmt.Errorf("object has no apiVersion or kind")
		}
		return err
	}
	stats.Objects++
	if ev, ok := obj.(*eventsv1.Event); ok {
		obj = coreEvent(ev)
	}
	if k := KindOf(obj); k != "" {
		s.MarkPresent(k)
		s.Add(obj)
		return nil
	}
	stats.Ignored[gvk.GroupVersion().String()+"/"+gvk.Kind]++
	return nil
}

// coreEvent converts an events.k8s.io/v1 Event (kubectl get events.events.k8s.io) to the
// core/v1 shape rules read.
func coreEvent(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Type:                e.Type,
		EventTime:           e.EventTime,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
		Action:              e.Action,
		Source:              corev1.EventSource{Component: e.DeprecatedSource.Component, Host: e.DeprecatedSource.Host},
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
	}
	if e.Series != nil {
		out.Count = e.Series.Count
		out.LastTimestamp = metav1.Time{Time: e.Series.LastObservedTime.Time}
	}
	return out
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
