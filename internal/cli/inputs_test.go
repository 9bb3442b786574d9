package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// goInternals matches what must never reach a user: a Go stack, or Go type names from a
// decoder (*v1.Pod, map[string]interface {}, config.Namespaces, "Go struct field").
var goInternals = regexp.MustCompile(`panic|goroutine |\*?\bv1\.[A-Z]|map\[string\]|interface \{\}|Go (struct|value)|\b(config|cost|snapshot)\.[A-Z]`)

// TestMalformedInputs runs auditor run on inputs that are not a usable dump or config.
// Each must exit 2 with exactly one "error:" line that names the file (and the line, when
// the mistake has one), and nothing of Go's internals anywhere in the output.
func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	goodPV := "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec: {persistentVolumeReclaimPolicy: Retain}\nstatus: {phase: Released}\n"
	mixed := filepath.Join(dir, "mixed")
	write(t, mixed, "a-good.yaml", goodPV)
	write(t, mixed, "b-bad.yaml", "apiVersion: v1\nkind: Pod\n  metadata: {name: p}\n")
	config := func(name, content string) []string {
		return []string{"run", "--from-file", write(t, dir, "ok-dump.yaml", goodPV), "--config", write(t, dir, name, content)}
	}

	cases := []struct {
		name  string
		args  []string
		stdin string
		want  []string // substrings of the error line
	}{
		{"malformed YAML", []string{"run", "--from-file", write(t, dir, "bad.yaml",
			"apiVersion: v1\nkind: Pod\nmetadata:\n  name: [p\n")},
			"", []string{"bad.yaml: document 1: line "}},
		{"malformed YAML in an item of a kubectl List", []string{"run", "--from-file", write(t, dir, "list.yaml",
			"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: PersistentVolume\n  metadata:\n    name: pv-1\n- apiVersion: v1\n  kind: PersistentVolume\n  metadata:\n    name: [pv-2\nkind: List\n")},
			"", []string{"list.yaml: document 1: line 10: "}},
		{"malformed YAML in a later document", []string{"run", "--from-file", write(t, dir, "docs.yaml",
			goodPV+"---\n"+goodPV+"---\napiVersion: v1\nkind: Pod\n  metadata: {name: p}\n")},
			"", []string{"docs.yaml: document 3: line 15: mapping values are not allowed"}},
		{"malformed JSON", []string{"run", "--from-file", write(t, dir, "bad.json",
			"{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",\n \"metadata\": {\"name\": \"p\",}\n}\n")},
			"", []string{"bad.json: document 1: line 3: invalid character '}'"}},
		{"truncated JSON List", []string{"run", "--from-file", write(t, dir, "cut.json",
			"{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n1\"}},\n    {\"apiVersion\": \"v1\", \"kind\": \"No")},
			"", []string{"cut.json: document 1: line 5: unexpected end of file"}},
		{"field of the wrong type", []string{"run", "--from-file", write(t, dir, "types.yaml",
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: db}\nspec: {containers: 3}\n")},
			"", []string{"types.yaml: document 1: Pod db/p: field spec.containers: got a number, want a list"}},
		{"wrong kinds only", []string{"run", "--from-file", write(t, dir, "services.yaml",
			"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n")},
			"", []string{"services.yaml: holds no object of a kind the auditor reads (only 1 v1/ConfigMap, 1 v1/Service)"}},
		{"empty file", []string{"run", "--from-file", write(t, dir, "empty.yaml", "")},
			"", []string{"empty.yaml: no Kubernetes objects"}},
		{"binary garbage", []string{"run", "--from-file", write(t, dir, "core.bin", "\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe")},
			"", []string{"core.bin: binary data"}},
		{"garbage on stdin", []string{"run", "--from-file", "-"},
			"garbage: [\n", []string{"stdin: document 1: line 1: "}},
		{"directory with one good and one bad file", []string{"run", "--from-file", mixed},
			"", []string{filepath.Join(mixed, "b-bad.yaml") + ": document 1: line 3: "}},
		{"file that does not exist", []string{"run", "--from-file", filepath.Join(dir, "nope.yaml")},
			"", []string{"nope.yaml: no such file or directory"}},
		{"malformed config", config("syntax.yaml", "minSeverity: warning\n  failOn: none\n"),
			"", []string{"syntax.yaml:2: "}},
		{"config with an unknown key", config("typo.yaml", "minSeverity: warning\nslack:\n  webhookURLEnvv: HOOK\n"),
			"", []string{`typo.yaml:3: unknown key "webhookURLEnvv"`}},
		{"config value of the wrong type", config("wrongtype.yaml", "minSeverity: info\nnamespaces: shop\n"),
			"", []string{"wrongtype.yaml:2: cannot unmarshal a string (`shop`) into a mapping"}},
		{"config rules as a list", config("ruleslist.yaml", "rules:\n- pv-released-retained\n"),
			"", []string{"ruleslist.yaml:2: cannot unmarshal a list into a mapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, c.stdin, c.args...)
			if code != ExitError {
				t.Errorf("exit code %d, want %d", code, ExitError)
			}
			var errLines []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(l, "error:") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 {
				t.Fatalf("want exactly one error: line on stderr, got %d in %q", len(errLines), stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(errLines[0], w) {
					t.Errorf("error line %q should contain %q", errLines[0], w)
				}
			}
			if m := goInternals.FindString(stdout + stderr); m != "" {
				t.Errorf("output shows Go internals (%q): %q", m, stderr)
			}
		})
	}
}

// TestUnusualButValidDumps runs auditor run on dumps written in the less common ways
// kubectl and other tools write them, and on objects with every optional field missing:
// each is audited (no error line) and the Released Retain volume in it is reported.
func TestUnusualButValidDumps(t *testing.T) {
	dir := t.TempDir()
	pv := "apiVersion: v1\n  kind: PersistentVolume\n  metadata:\n    name: pv-1\n  spec:\n    persistentVolumeReclaimPolicy: Retain\n  status:\n    phase: Released\n"
	cases := []struct{ name, file, content string }{
		{"kubectl List with CRLF line ends and a byte-order mark", "crlf.yaml",
			"\xef\xbb\xbf" + strings.ReplaceAll("apiVersion: v1\nitems:\n- "+pv+"kind: List\n", "\n", "\r\n")},
		{"List items indented under items:", "indented.yaml",
			"apiVersion: v1\nkind: List\nitems:\n  - " + strings.ReplaceAll(pv, "\n  ", "\n    ")},
		{"anchors shared between List items (PyYAML writes them)", "anchors.yaml",
			"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: PersistentVolume\n  metadata: {name: pv-0}\n  spec: &spec {persistentVolumeReclaimPolicy: Retain}\n  status: &released {phase: Released}\n" +
				"- apiVersion: v1\n  kind: PersistentVolume\n  metadata: {name: pv-1}\n  spec: *spec\n  status: *released\n"},
		{"JSON List", "list.json",
			`{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}, "status": {"phase": "Released"}}], "kind": "List"}`},
		{"objects with their optional fields missing", "sparse.yaml",
			"apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec: {persistentVolumeReclaimPolicy: Retain}\nstatus: {phase: Released}\n---\n" +
				"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c, namespace: db}\n---\n" +
				"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: db}\nspec: {volumes: [{name: a}, {name: b, persistentVolumeClaim: {}}]}\n---\n" +
				"apiVersion: storage.k8s.io/v1\nkind: VolumeAttachment\nmetadata: {name: va}\n---\n" +
				"apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: db}\nreason: FailedMount\n---\n" +
				"apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n---\n" +
				"apiVersion: storage.k8s.io/v1\nkind: CSINode\nmetadata: {name: node-1}\nspec: {drivers: [{name: x}]}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run(t, "", "run", "--from-file", path, "-o", "json")
			if code == ExitError || strings.Contains(stderr, "error:") {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep audit.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, stdout)
			}
			found := false
			for _, f := range rep.Findings {
				found = found || (f.RuleID == "pv-released-retained" && f.Object.Name == "pv-1")
			}
			if !found {
				t.Errorf("pv-released-retained did not report pv-1: %+v", rep.Findings)
			}
			if m := goInternals.FindString(stdout + stderr); m != "" {
				t.Errorf("output shows Go internals (%q)", m)
			}
		})
	}
}
