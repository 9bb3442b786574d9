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
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	sigsyaml "sigs.k8s.io/yaml"
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
	if len(s.present) == 0 {
		// Only kinds no rule reads (Services, ConfigMaps…): every rule would be skipped and
		// the report would say "no problems found" about a cluster it never saw.
		return nil, stats, fmt.Errorf("%s: holds no object of a kind the auditor reads (only %s); dump pv,pvc,storageclasses,nodes,pods… as the README shows",
			displayName(path), describeKinds(stats.Ignored))
	}
	stats.Complete = s.completeIfFullDump()
	s.Index()
	return s, stats, nil
}

// describeKinds lists counts by kind, most first: "3 v1/Service, 1 v1/ConfigMap".
func describeKinds(counts map[string]int) string {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if counts[kinds[i]] != counts[kinds[j]] {
			return counts[kinds[i]] > counts[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	var parts []string
	for i, k := range kinds {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more kinds", len(kinds)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], printable(k)))
	}
	return strings.Join(parts, ", ")
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

// maxDocumentBytes bounds what one document, or one item of a List, may hold in memory
// while it is decoded. No Kubernetes object comes near it (etcd stores at most ~1.5 MB
// each), and a List is streamed item by item, so only input that is not a dump (one
// endless line, a giant mapping) reaches it: that fails instead of filling the memory.
const maxDocumentBytes = 64 << 20

// loadStream reads one file of a dump, one document at a time and, for a List (what
// kubectl get -o yaml|json prints), one item at a time: a 200 MB dump is never held
// whole, only the objects the snapshot keeps, compacted. JSON streams ({…}{…} or one
// pretty-printed object) are read as JSON, anything else as multi-document YAML.
func loadStream(s *Snapshot, stats *FileStats, name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := rejectBinary(br, name); err != nil {
		return err
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, utf8BOM) {
		_, _ = br.Discard(3) // editors on Windows write one; neither decoder accepts it
	}
	l := loader{s: s, stats: stats}
	if looksLikeJSON(br) {
		return l.jsonStream(name, br)
	}
	return l.yamlStream(name, br)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// rejectBinary fails fast on files that are clearly not text (NUL bytes in the first
// block), which the YAML decoder would otherwise report confusingly.
func rejectBinary(br *bufio.Reader, name string) error {
	head, _ := br.Peek(8 << 10)
	if bytes.IndexByte(head, 0) >= 0 {
		return fmt.Errorf("%s: binary data, not kubectl get -o yaml|json output", name)
	}
	return nil
}

// looksLikeJSON reports whether the stream starts with a JSON object: '{' then '"' or
// '}'. A YAML flow mapping ({apiVersion: v1, …}) starts with '{' too and is left to the
// YAML reader, which reads JSON documents as well, only not item by item.
func looksLikeJSON(br *bufio.Reader) bool {
	head, _ := br.Peek(4 << 10)
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	head = bytes.TrimLeft(head[1:], " \t\r\n")
	return len(head) > 0 && (head[0] == '"' || head[0] == '}')
}

// loader adds decoded documents to a snapshot and counts them in its stats.
type loader struct {
	s     *Snapshot
	stats *FileStats
}

// document loads one JSON document: an object, or a List whose items are documents.
func (l loader) document(raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return errors.New("not a Kubernetes object: empty")
	}
	tm, err := typeMetaOf(raw)
	if err != nil {
		return err
	}
	if tm.isList() {
		var items []json.RawMessage
		if err := json.Unmarshal(tm.Items, &items); err != nil {
			return fmt.Errorf("%s: items: %s", printable(tm.Kind), plainJSONError(err))
		}
		l.markList(tm)
		for i, item := range items {
			if err := l.document(item); err != nil {
				return fmt.Errorf("%s item %d: %v", printable(tm.Kind), i, err)
			}
		}
		return nil
	}
	return l.object(raw, tm)
}

// typeMeta is what routes a document: its type and, for a List, its items.
type typeMeta struct {
	APIVersion, Kind string
	Items            json.RawMessage // nil when absent or null
}

// isList reports whether the document is a List (List, PodList…) with items.
func (tm typeMeta) isList() bool { return strings.HasSuffix(tm.Kind, "List") && tm.Items != nil }

// typeMetaOf reads apiVersion, kind and items without assuming their JSON types, so a
// document with "kind: 3" gets an error about kind, not about Go types.
func typeMetaOf(raw []byte) (typeMeta, error) {
	const notObject = "not a Kubernetes object (a YAML/JSON mapping with apiVersion and kind)"
	if raw[0] != '{' {
		return typeMeta{}, errors.New(notObject)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return typeMeta{}, fmt.Errorf("%s: %s", notObject, plainJSONError(err))
	}
	var tm typeMeta
	for key, dst := range map[string]*string{"apiVersion": &tm.APIVersion, "kind": &tm.Kind} {
		v, ok := fields[key]
		if !ok || bytes.Equal(v, []byte("null")) {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return typeMeta{}, fmt.Errorf("not a Kubernetes object: %s must be a string, not %s", key, jsonKind(v))
		}
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return typeMeta{}, fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	if items := fields["items"]; len(items) > 0 && !bytes.Equal(items, []byte("null")) {
		if strings.HasSuffix(tm.Kind, "List") && items[0] != '[' {
			return typeMeta{}, fmt.Errorf("%s: items must be a list, not %s", printable(tm.Kind), jsonKind(items))
		}
		tm.Items = items
	}
	return tm, nil
}

// markList records a typed List (PodList): it says its kind was listed even when it has
// no items, which is how a dump tells "none exist" from "not dumped".
func (l loader) markList(tm typeMeta) {
	if k := KindNamed(strings.TrimSuffix(tm.Kind, "List")); k != "" {
		l.s.MarkPresent(k)
		l.stats.Objects++
	}
}

func (l loader) object(raw []byte, tm typeMeta) error {
	obj, gvk, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			l.stats.Objects++
			l.stats.Ignored[tm.APIVersion+"/"+tm.Kind]++
			return nil
		}
		if runtime.IsMissingKind(err) || runtime.IsMissingVersion(err) {
			return fmt.Errorf("object has no apiVersion or kind")
		}
		return fmt.Errorf("%s %s: %s", printable(tm.Kind), objectName(raw), plainJSONError(err))
	}
	l.stats.Objects++
	if ev, ok := obj.(*eventsv1.Event); ok {
		obj = coreEvent(ev)
	}
	if k := KindOf(obj); k != "" {
		l.s.MarkPresent(k)
		l.s.Add(obj)
		return nil
	}
	l.stats.Ignored[gvk.GroupVersion().String()+"/"+gvk.Kind]++
	return nil
}

// objectName names an object that failed to decode, for the error: "ns/name", "name" or
// "(unnamed)".
func objectName(raw []byte) string {
	var m struct {
		Metadata struct {
			Name      any `json:"name"`
			Namespace any `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &m)
	name, _ := m.Metadata.Name.(string)
	ns, _ := m.Metadata.Namespace.(string)
	switch {
	case name == "":
		return "(unnamed)"
	case ns != "":
		return printable(ns + "/" + name)
	}
	return printable(name)
}

// printable returns s for an error message: as it is when it is short and printable,
// quoted otherwise, so a name with a newline cannot break the one-line error.
func printable(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// pendingList holds the items of a streamed List until its kind is known: kubectl prints
// the keys in alphabetical order, so "kind: List" comes after the items. The items go
// into a snapshot of their own (compacted as they come, so it holds what the snapshot will
// hold, no more) and are merged when the document turns out to be a List; otherwise they
// are dropped, as a non-List's "items" field always was. The first item that fails is
// remembered and reported if the document is a List.
type pendingList struct {
	loader
	n       int // items read
	err     error
	errItem int
	errLine int
}

func (l loader) newPendingList() *pendingList {
	return &pendingList{loader: loader{s: New(l.s.Source), stats: &FileStats{Ignored: map[string]int{}}}}
}

// add loads the item raw (JSON) that starts at line (0: unknown).
func (p *pendingList) add(raw []byte, line int) {
	i := p.n
	p.n++
	if p.err != nil {
		return // the List is already known to be bad; keep reading to find its end
	}
	if err := p.document(raw); err != nil {
		p.err, p.errItem, p.errLine = err, i, line
	}
}

// finish loads a streamed document: head is the document without its items (JSON) and
// list its items, nil when it had none. prefix formats an error at a line (0: none).
func (l loader) finish(head []byte, list *pendingList, at func(line int) string) error {
	if list == nil {
		if head = bytes.TrimSpace(head); len(head) == 0 || bytes.Equal(head, []byte("null")) {
			return nil // an empty document: comments only, "~", or --- with nothing after
		}
		return l.document(head)
	}
	tm, err := typeMetaOf(bytes.TrimSpace(head))
	if err != nil {
		return errors.New(at(0) + err.Error())
	}
	if !strings.HasSuffix(tm.Kind, "List") {
		return l.document(head) // not a List: its items field means nothing to us
	}
	if list.err != nil {
		return fmt.Errorf("%s%s item %d: %v", at(list.errLine), printable(tm.Kind), list.errItem, list.err)
	}
	l.markList(tm)
	l.absorb(list.loader)
	return nil
}

// absorb moves everything p loaded into l.
func (l loader) absorb(p loader) {
	for _, k := range AllKinds {
		if p.s.present[k] {
			l.s.MarkPresent(k)
		}
	}
	l.stats.Objects += p.stats.Objects
	for k, n := range p.stats.Ignored {
		l.stats.Ignored[k] += n
	}
	s, t := l.s, p.s
	s.PersistentVolumes = appendAll(s.PersistentVolumes, t.PersistentVolumes)
	s.PersistentVolumeClaims = appendAll(s.PersistentVolumeClaims, t.PersistentVolumeClaims)
	s.StorageClasses = appendAll(s.StorageClasses, t.StorageClasses)
	s.CSIDrivers = appendAll(s.CSIDrivers, t.CSIDrivers)
	s.CSINodes = appendAll(s.CSINodes, t.CSINodes)
	s.VolumeAttachments = appendAll(s.VolumeAttachments, t.VolumeAttachments)
	s.Nodes = appendAll(s.Nodes, t.Nodes)
	s.Pods = appendAll(s.Pods, t.Pods)
	s.StatefulSets = appendAll(s.StatefulSets, t.StatefulSets)
	s.Deployments = appendAll(s.Deployments, t.Deployments)
	s.DaemonSets = appendAll(s.DaemonSets, t.DaemonSets)
	s.ReplicaSets = appendAll(s.ReplicaSets, t.ReplicaSets)
	s.Jobs = appendAll(s.Jobs, t.Jobs)
	s.CronJobs = appendAll(s.CronJobs, t.CronJobs)
	s.ResourceQuotas = appendAll(s.ResourceQuotas, t.ResourceQuotas)
	s.Leases = appendAll(s.Leases, t.Leases)
	s.Events = appendAll(s.Events, t.Events)
}

func appendAll[T any](dst, src []T) []T {
	if len(dst) == 0 {
		return src
	}
	return append(dst, src...)
}

// jsonStream reads a stream of JSON objects. The "items" array of each is read one item
// at a time; every other field is small and kept to route the object when it ends.
func (l loader) jsonStream(name string, br *bufio.Reader) error {
	src := &lineTracker{r: br}
	dec := json.NewDecoder(src)
	for doc := 1; ; doc++ {
		at := func(line int) string {
			if line > 0 {
				return fmt.Sprintf("%s: document %d: line %d: ", name, doc, line)
			}
			return fmt.Sprintf("%s: document %d: ", name, doc)
		}
		fail := func(err error) error {
			if errors.Is(err, errTooLarge) {
				return fmt.Errorf("%sover %d MB in one object; a dump holds objects of at most a few MB (a List is read item by item): is this kubectl get -o json output?", at(0), maxDocumentBytes>>20)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%sunexpected end of file (a truncated dump?)", at(src.lineAt(src.off)))
			}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("%s%s", at(src.lineAt(se.Offset)), plainJSONError(err))
			}
			return fmt.Errorf("%s%s", at(0), plainJSONError(err))
		}
		src.limitFrom(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if tok != json.Delim('{') {
			return fmt.Errorf("%snot a Kubernetes object (a JSON object with apiVersion and kind)", at(src.lineAt(dec.InputOffset())))
		}
		head := bytes.NewBufferString("{")
		var list *pendingList
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			key, _ := tok.(string) // object keys are strings: the decoder checks
			if key == "items" {
				if list != nil {
					return fmt.Errorf("%s\"items\" appears twice", at(src.lineAt(dec.InputOffset())))
				}
				tok, err := dec.Token()
				if err != nil {
					return fail(err)
				}
				if tok == nil {
					continue // "items": null is no items
				}
				if tok != json.Delim('[') {
					// Not a list of items: keep it in the object, which reports it if a List.
					if err := copyJSONField(dec, head, key, tok); err != nil {
						return fail(err)
					}
					continue
				}
				list = l.newPendingList()
				for dec.More() {
					src.limitFrom(dec.InputOffset())
					var item json.RawMessage
					if err := dec.Decode(&item); err != nil {
						return fail(err)
					}
					end := dec.InputOffset()
					list.add(item, src.lineAt(end-int64(len(item))))
				}
				if _, err := dec.Token(); err != nil { // ]
					return fail(err)
				}
				src.limitFrom(dec.InputOffset())
				continue
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return fail(err)
			}
			writeJSONField(head, key, v)
		}
		if _, err := dec.Token(); err != nil { // }
			return fail(err)
		}
		head.WriteByte('}')
		if err := l.finish(head.Bytes(), list, at); err != nil {
			if strings.HasPrefix(err.Error(), name+": ") {
				return err
			}
			return fmt.Errorf("%s%s", at(0), oneLine(err))
		}
	}
}

func writeJSONField(head *bytes.Buffer, key string, v []byte) {
	if head.Len() > 1 {
		head.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	head.Write(k)
	head.WriteByte(':')
	head.Write(v)
}

// copyJSONField writes key and the value that starts with tok (already read) to head.
// Only "items" that is not an array gets here, to be reported by the object's checks.
func copyJSONField(dec *json.Decoder, head *bytes.Buffer, key string, tok json.Token) error {
	if d, ok := tok.(json.Delim); ok { // an object: its tokens are skipped, the value kept as {}
		depth := 1
		for depth > 0 {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			switch t {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
		if d == '{' {
			writeJSONField(head, key, []byte("{}"))
		}
		return nil
	}
	v, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	writeJSONField(head, key, v)
	return nil
}

// errTooLarge is returned by lineTracker when a single value exceeds maxDocumentBytes.
var errTooLarge = errors.New("value too large")

// lineTracker counts the lines of what the JSON decoder reads, to turn the byte offsets
// of its errors into line numbers. It keeps the last window of bytes read: the decoder
// reports an error where it stopped scanning, which is within the last read. It also
// bounds a single value: reading more than maxDocumentBytes past limitFrom fails.
type lineTracker struct {
	r        io.Reader
	off      int64 // bytes read
	win      []byte
	winOff   int64 // offset of win[0]
	winLines int   // newlines before win[0]
	limit    int64
}

const lineWindow = 1 << 20

func (t *lineTracker) Read(p []byte) (int, error) {
	if t.limit > 0 && t.off > t.limit {
		return 0, errTooLarge
	}
	if len(p) > 64<<10 {
		p = p[:64<<10] // small reads keep the decoder's read-ahead within the window
	}
	n, err := t.r.Read(p)
	t.off += int64(n)
	t.win = append(t.win, p[:n]...)
	if len(t.win) > 2*lineWindow {
		drop := len(t.win) - lineWindow
		t.winLines += bytes.Count(t.win[:drop], []byte("\n"))
		t.winOff += int64(drop)
		t.win = append(t.win[:0:0], t.win[drop:]...)
	}
	return n, err
}

// limitFrom bounds the next value, which starts at offset off.
func (t *lineTracker) limitFrom(off int64) { t.limit = off + maxDocumentBytes }

// lineAt returns the 1-based line of byte offset off, or 0 when it has left the window.
func (t *lineTracker) lineAt(off int64) int {
	if off < t.winOff || off > t.winOff+int64(len(t.win)) {
		return 0
	}
	return t.winLines + bytes.Count(t.win[:off-t.winOff], []byte("\n")) + 1
}

// yamlStream reads multi-document YAML line by line. A document is converted to JSON
// when it ends, except the items of a List laid out as kubectl prints it ("items:" at the
// start of a line, then "- " entries), which are cut out and converted one at a time;
// an alias to an anchor of an earlier item still resolves (itemJSON).
func (l loader) yamlStream(name string, br *bufio.Reader) error {
	y := &yamlDoc{l: l, name: name, num: 1, line: 0}
	y.reset(1)
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it, within the document bound.
			buf = append(buf[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if y.size()+len(buf) > maxDocumentBytes {
					return y.tooLarge()
				}
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %v", name, err)
		}
		if len(line) > 0 {
			y.line++
			if err := y.add(line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return y.end()
		}
	}
}

// yamlDoc is the YAML document being read.
type yamlDoc struct {
	l     loader
	name  string
	num   int // document number, from 1
	line  int // lines read from the file
	lines int // lines of this document

	state      yamlState
	head       bytes.Buffer // the document without the items cut out
	headLines  int
	headMap    []lineSpan // head line → file line, where items were cut out
	itemsLine  int        // file line of the "items:" key, 0 if none yet
	itemIndent int
	item       bytes.Buffer // the item being read
	itemLine   int          // its first file line
	list       *pendingList
	anchors    map[string]anchorDef // anchors defined by the List's items, by name
}

type yamlState int

const (
	inHead     yamlState = iota
	afterItems           // after "items:", before its first entry
	inItems
)

// lineSpan says head line head is file line file, and so are the lines after it, until
// the next span.
type lineSpan struct{ head, file int }

func (y *yamlDoc) reset(num int) {
	y.num = num
	y.state = inHead
	y.lines = 0
	y.head.Reset()
	y.headLines = 0
	y.headMap = y.headMap[:0]
	y.itemsLine = 0
	y.item.Reset()
	y.list = nil
	y.anchors = nil
}

func (y *yamlDoc) size() int { return y.head.Len() + y.item.Len() }

func (y *yamlDoc) at(line int) string {
	if line > 0 {
		return fmt.Sprintf("%s: document %d: line %d: ", y.name, y.num, line)
	}
	return fmt.Sprintf("%s: document %d: ", y.name, y.num)
}

func (y *yamlDoc) tooLarge() error {
	return fmt.Errorf("%sover %d MB in one object; a dump holds objects of at most a few MB (a List is read item by item): is this kubectl get -o yaml output?", y.at(0), maxDocumentBytes>>20)
}

// add takes the next line of the file.
func (y *yamlDoc) add(line []byte) error {
	if marker(line, "---") || marker(line, "...") {
		if err := y.end(); err != nil {
			return err
		}
		next := y.num
		if y.lines > 0 {
			next++ // an empty document (--- right after ---) gets no number of its own
		}
		y.reset(next)
		if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' && line[0] == '-' {
			// "--- {…}" or "--- |": the document starts on the marker's line.
			return y.add(append(bytes.Repeat([]byte(" "), 4), line[4:]...))
		}
		return nil
	}
	if y.size()+len(line) > maxDocumentBytes {
		return y.tooLarge()
	}
	y.lines++
	indent := len(line) - len(bytes.TrimLeft(line, " "))
	content := bytes.TrimRight(line[indent:], " \t\r\n")
	switch y.state {
	case afterItems:
		switch {
		case len(content) == 0 || content[0] == '#':
			y.addHead(line)
			return nil
		case isEntry(content):
			y.state, y.itemIndent = inItems, indent
			if y.list == nil {
				y.list = y.l.newPendingList()
			}
			return y.startItem(line)
		}
		y.state = inHead // items is null or not a list: the head keeps it
	case inItems:
		switch {
		case len(content) == 0, indent > y.itemIndent, content[0] == '#':
			y.item.Write(line)
			return nil
		case indent == y.itemIndent && isEntry(content):
			if err := y.endItem(); err != nil {
				return err
			}
			return y.startItem(line)
		}
		if err := y.endItem(); err != nil {
			return err
		}
		y.state = inHead
	}
	if indent == 0 && isItemsKey(content) {
		if y.itemsLine > 0 {
			return fmt.Errorf("%s\"items\" appears twice (first at line %d)", y.at(y.line), y.itemsLine)
		}
		y.itemsLine, y.state = y.line, afterItems
	}
	y.addHead(line)
	return nil
}

// marker reports whether line is the document marker m ("---" or "...") alone or
// followed by a space.
func marker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == 3 || strings.IndexByte(" \t\r\n", line[3]) >= 0)
}

// isEntry reports whether content (a line without its indentation) starts a sequence
// entry: "-" alone or followed by a space.
func isEntry(content []byte) bool {
	return content[0] == '-' && (len(content) == 1 || content[1] == ' ' || content[1] == '\t')
}

// isItemsKey reports whether content is the key "items:" with its value on the next lines.
func isItemsKey(content []byte) bool {
	rest, ok := bytes.CutPrefix(content, []byte("items:"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || rest[0] == '#'
}

func (y *yamlDoc) addHead(line []byte) {
	y.headLines++
	if n := len(y.headMap); n == 0 || y.headMap[n-1].file+(y.headLines-y.headMap[n-1].head) != y.line {
		y.headMap = append(y.headMap, lineSpan{head: y.headLines, file: y.line})
	}
	y.head.Write(line)
}

// fileLine maps a line of the head to its line in the file.
func (y *yamlDoc) fileLine(headLine int) int {
	file := 0
	for _, s := range y.headMap {
		if s.head > headLine {
			break
		}
		file = s.file + headLine - s.head
	}
	return file
}

func (y *yamlDoc) startItem(line []byte) error {
	y.itemLine = y.line
	y.item.Reset()
	y.item.Write(line)
	return nil
}

// endItem converts the item read and hands it to the pending List.
func (y *yamlDoc) endItem() error {
	text := y.item.Bytes()
	raw, err := y.itemJSON(text)
	if err != nil {
		line, msg := yamlErrorLine(err)
		if line > 0 {
			line += y.itemLine - 1
		} else {
			line = y.itemLine
		}
		return fmt.Errorf("%s%s", y.at(line), msg)
	}
	y.recordAnchors(text)
	y.list.add(raw, y.itemLine)
	y.item.Reset()
	return nil
}

// itemJSON converts one "- …" entry to JSON. The entry's "-" becomes a space, which
// leaves a mapping indented as it was. An alias to an anchor of an earlier item (PyYAML
// writes those for repeated values) is resolved by converting the item together with the
// items defining the anchors it needs, as a sequence whose last entry is the item.
func (y *yamlDoc) itemJSON(text []byte) ([]byte, error) {
	entry := bytes.Clone(text)
	entry[y.itemIndent] = ' '
	raw, err := sigsyaml.YAMLToJSON(entry)
	if err == nil {
		return raw, nil
	}
	var needed []anchorDef
	for range len(y.anchors) {
		m := unknownAnchorRE.FindStringSubmatch(err.Error())
		if m == nil {
			return nil, err
		}
		def, ok := y.anchors[m[1]]
		if !ok || slices.ContainsFunc(needed, func(d anchorDef) bool { return d.item == def.item }) {
			return nil, fmt.Errorf("%v (an alias must follow its anchor in the same document)", err)
		}
		needed = append(needed, def)
		slices.SortFunc(needed, func(a, b anchorDef) int { return a.item - b.item })
		var seq bytes.Buffer
		for _, d := range needed {
			seq.Write(d.text)
		}
		seq.Write(text)
		var all []json.RawMessage
		if err = sigsyaml.Unmarshal(seq.Bytes(), &all); err == nil && len(all) > 0 {
			return all[len(all)-1], nil
		}
	}
	return nil, err
}

var (
	unknownAnchorRE = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)
	// anchorRE finds anchor definitions ("&id001"); a false match only keeps an item's text.
	anchorRE = regexp.MustCompile(`(?:^|[\s\[{,])&([^\s\[\]{},]+)`)
)

// anchorDef is an item of the List being read that defines an anchor.
type anchorDef struct {
	item int
	text []byte // the "- …" entry as read
}

// recordAnchors remembers the item just read if it defines anchors, for later items'
// aliases. Items without "&" (nearly all) cost one scan.
func (y *yamlDoc) recordAnchors(text []byte) {
	if bytes.IndexByte(text, '&') < 0 {
		return
	}
	ms := anchorRE.FindAllSubmatch(text, -1)
	if len(ms) == 0 {
		return
	}
	def := anchorDef{item: y.list.n, text: bytes.Clone(text)}
	if y.anchors == nil {
		y.anchors = map[string]anchorDef{}
	}
	for _, m := range ms {
		y.anchors[string(m[1])] = def
	}
}

// end finishes the document at its end marker or the end of the file.
func (y *yamlDoc) end() error {
	if y.state == inItems {
		if err := y.endItem(); err != nil {
			return err
		}
	}
	if y.list == nil && blankYAML(y.head.Bytes()) {
		return nil
	}
	raw, err := sigsyaml.YAMLToJSON(y.head.Bytes())
	if err != nil {
		line, msg := yamlErrorLine(err)
		return fmt.Errorf("%s%s", y.at(y.fileLine(line)), msg)
	}
	if err := y.l.finish(raw, y.list, y.at); err != nil {
		if strings.HasPrefix(err.Error(), y.name+": ") {
			return err
		}
		return fmt.Errorf("%s%s", y.at(0), oneLine(err))
	}
	return nil
}

// blankYAML reports whether b holds only blank lines and comments.
func blankYAML(b []byte) bool {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlErrorLine splits a YAML conversion error into its line (relative to the text
// converted; 0 if it names none) and a one-line message free of Go type names.
func yamlErrorLine(err error) (int, string) {
	msg := oneLine(err)
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors: ")
	if strings.Contains(msg, "map key") {
		// sigs.k8s.io/yaml prints the Go value of a non-string key.
		return 0, "a mapping key is a list, a mapping or null; Kubernetes objects have string keys"
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}

var (
	timeRE    = regexp.MustCompile(`parsing time ("[^"]*") as "[^"]*": .*`)
	goFieldRE = regexp.MustCompile(`(?:json: )?cannot unmarshal (.+?) into Go (?:struct field (\S+)|value) of type (\S+)`)
)

// plainJSONError rewrites a JSON decoding error without Go type names: "field
// spec.containers: got string, want a list".
func plainJSONError(err error) string {
	msg := oneLine(err)
	if m := goFieldRE.FindStringSubmatch(msg); m != nil {
		field := ""
		if m[2] != "" {
			// "Pod.spec.containers": the struct name, then the JSON path.
			_, path, _ := strings.Cut(m[2], ".")
			field = "field " + path + ": "
		}
		want := goTypeWord(m[3])
		if m[1] == "bool" && want == "a string" {
			// YAML 1.1, which kubectl's YAML follows, reads unquoted y, n, yes, no, on, off as booleans.
			want += " (quote it: unquoted y, n, yes, no, on, off are true/false in YAML)"
		}
		msg = strings.Replace(msg, m[0], fmt.Sprintf("%sgot %s, want %s", field, jsonWord(m[1]), want), 1)
	}
	if m := timeRE.FindStringSubmatch(msg); m != nil {
		msg = strings.Replace(msg, m[0], "time "+m[1]+" is not an RFC 3339 time such as 2026-01-02T15:04:05Z", 1)
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonWord names a JSON value kind as the decoder reports it ("number", "string"…).
func jsonWord(v string) string {
	switch v {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "bool":
		return "true/false"
	}
	if n, ok := strings.CutPrefix(v, "number "); ok {
		if len(n) > 24 {
			n = n[:20] + "…"
		}
		return "the number " + n
	}
	return "a " + v
}

// goTypeWord names what a Go type accepts in YAML/JSON terms.
func goTypeWord(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true/false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer that fits in " + strings.TrimPrefix(strings.TrimPrefix(t, "u"), "int") + " bits"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping" // a struct
}

// jsonKind names the kind of a raw JSON value.
func jsonKind(v []byte) string {
	switch {
	case len(v) == 0:
		return "empty"
	case v[0] == '{':
		return "a mapping"
	case v[0] == '[':
		return "a list"
	case v[0] == '"':
		return "a string"
	case v[0] == 't' || v[0] == 'f':
		return "true/false"
	case v[0] == 'n':
		return "null"
	}
	return "a number"
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
