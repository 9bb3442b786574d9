package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

var update = flag.Bool("update", false, "rewrite golden files")

const demo = "../../examples/incident-cluster.yaml"

// demoNow is when the demo dump was taken; with it the demo's report is reproducible.
const demoNow = "2026-11-20T09:30:00Z"

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInputIsOneLineAndExit2 covers the foundation's acceptance: each user mistake gives
// a one-line error naming what is wrong, and exit code 2.
func TestBadInputIsOneLineAndExit2(t *testing.T) {
	dir := t.TempDir()
	malformed := write(t, dir, "malformed.yaml", "apiVersion: v1\nkind: List\nitems:\n  - kind: [unclosed\n")
	empty := write(t, dir, "empty.yaml", "")
	comments := write(t, dir, "comments.yaml", "# nothing here\n---\n")
	mixed := filepath.Join(dir, "mixed")
	write(t, mixed, "a-pvs.yaml", "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\n")
	write(t, mixed, "notes.yaml", "owner: platform-team\nreviewed: true\n")
	binary := write(t, dir, "garbage.bin", "\x00\x01\x02\xff\xfeKUBE\x00")
	noKind := write(t, dir, "nokind.json", `{"metadata": {"name": "x"}}`)
	typo := write(t, dir, "typo.yaml", "minSeverity: warning\nrules:\n  pv-released-retained:\n    enabeld: false\n")
	badRule := write(t, dir, "badrule.yaml", "rules:\n  pv-released-retaind:\n    enabled: false\n")
	badParam := write(t, dir, "badparam.yaml", "rules:\n  pv-released-stuck:\n    params:\n      grace: soon\n")
	emptyDir := filepath.Join(dir, "emptydir")
	_ = os.Mkdir(emptyDir, 0o755)

	cases := []struct {
		name string
		args []string
		want string // substring of the one-line error
	}{
		{"malformed file", []string{"run", "--from-file", malformed}, "malformed.yaml: document 1"},
		{"empty file", []string{"run", "--from-file", empty}, "empty.yaml: no Kubernetes objects"},
		{"only comments", []string{"run", "--from-file", comments}, "comments.yaml: no Kubernetes objects"},
		{"directory with a non-Kubernetes file", []string{"run", "--from-file", mixed}, "notes.yaml: document 1: not a Kubernetes object"},
		{"binary garbage", []string{"run", "--from-file", binary}, "garbage.bin: binary data"},
		{"object without kind", []string{"run", "--from-file", noKind}, "nokind.json: document 1: not a Kubernetes object"},
		{"missing file", []string{"run", "--from-file", filepath.Join(dir, "nope.yaml")}, "nope.yaml: no such file or directory"},
		{"empty directory", []string{"run", "--from-file", emptyDir}, "directory holds no files"},
		{"unknown output", []string{"run", "--from-file", demo, "-o", "xml"}, `unknown output format "xml"`},
		{"config typo", []string{"run", "--from-file", demo, "--config", typo}, `typo.yaml:4: unknown key "enabeld"`},
		{"config unknown rule", []string{"run", "--from-file", demo, "--config", badRule}, `badrule.yaml:2: unknown rule "pv-released-retaind" (did you mean "pv-released-retained"?)`},
		{"config bad param", []string{"run", "--from-file", demo, "--config", badParam}, `badparam.yaml:4: rules.pv-released-stuck.params.grace`},
		{"missing config", []string{"run", "--from-file", demo, "--config", filepath.Join(dir, "none.yaml")}, "none.yaml: no such file"},
		{"unknown rule flag", []string{"run", "--from-file", demo, "--rules", "pv-nope"}, `unknown rule "pv-nope"`},
		{"bad severity", []string{"run", "--from-file", demo, "--min-severity", "high"}, `--min-severity: unknown severity "high"`},
		{"bad fail-on", []string{"run", "--from-file", demo, "--fail-on", "sometimes"}, `--fail-on: unknown severity "sometimes"`},
		{"unknown flag", []string{"run", "--form-file", demo}, "unknown flag: --form-file"},
		{"unknown command", []string{"rnu"}, `unknown command "rnu"`},
		{"explain unknown rule", []string{"rules", "explain", "pv-nope"}, `unknown rule "pv-nope"`},
		{"bad kubeconfig", []string{"run", "--kubeconfig", filepath.Join(dir, "no-kubeconfig")}, "no-kubeconfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", c.args...)
			if code != ExitError {
				t.Errorf("exit code %d, want %d (stderr %q)", code, ExitError, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty on error, got %q", stdout)
			}
			first, _, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, "error: ") || !strings.Contains(first, c.want) {
				t.Errorf("first stderr line %q should be 'error: …%s…'", first, c.want)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("stderr has a Go stack: %q", stderr)
			}
			if n := strings.Count(strings.TrimSuffix(stderr, "\n"), "\n"); n > 1 {
				t.Errorf("error should be one line (plus at most a usage hint), got %q", stderr)
			}
		})
	}
}

// TestDemoJSONContract checks the report document of the demo against the contract, and
// against a reviewed golden copy (go test ./internal/cli -update rewrites it).
func TestDemoJSONContract(t *testing.T) {
	code, stdout, stderr := run(t, "", "run", "--from-file", demo, "-o", "json", "--now", demoNow)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"apiVersion", "kind", "cluster", "generatedAt", "summary", "findings", "skipped"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if doc["apiVersion"] != "storage-auditor.dev/v1" || doc["kind"] != "AuditReport" || doc["cluster"] != "incident-cluster.yaml" || doc["generatedAt"] != demoNow {
		t.Errorf("header = %v %v %v %v", doc["apiVersion"], doc["kind"], doc["cluster"], doc["generatedAt"])
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	rules := map[string]bool{}
	for _, f := range rep.Findings {
		rules[f.RuleID] = true
		if f.Object.Kind == "" || f.Object.Name == "" || f.Message == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	if len(rep.Skipped) != 0 {
		t.Errorf("no rule should be skipped on the demo: %+v", rep.Skipped)
	}
	golden(t, "demo.json", stdout)

	// -o yaml is the same document.
	code, yout, _ := run(t, "", "run", "--from-file", demo, "-o", "yaml", "--now", demoNow)
	if code != ExitOK || !strings.HasPrefix(yout, "apiVersion: storage-auditor.dev/v1\nkind: AuditReport\n") {
		t.Errorf("yaml output: exit %d, starts %q", code, yout[:min(len(yout), 80)])
	}
}

func TestEmptyFindingsAreAnArray(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "ok.yaml", "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec: {persistentVolumeReclaimPolicy: Retain}\nstatus: {phase: Bound}\n")
	_, stdout, _ := run(t, "", "run", "--from-file", f, "-o", "json", "--rules", "pv-released-retained")
	if !strings.Contains(stdout, `"findings": []`) || !strings.Contains(stdout, `"skipped": []`) {
		t.Errorf("empty lists must be [] not null:\n%s", stdout)
	}
}

func TestFailOnAndStdin(t *testing.T) {
	b, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, string(b), "run", "--from-file", "-", "--fail-on", "warning", "-o", "json")
	if code != ExitFindings {
		t.Errorf("--fail-on warning on the demo: exit %d, want 1 (%s)", code, stderr)
	}
	code, _, _ = run(t, string(b), "run", "--from-file", "-", "--fail-on", "none")
	if code != ExitOK {
		t.Errorf("--fail-on none: exit %d, want 0", code)
	}
}

func TestSuppressedFindingIsCounted(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "pvs.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: PersistentVolume
  metadata:
    name: kept-on-purpose
    annotations: {storage-auditor.dev/ignore: "pv-released-retained: legal hold until 2027"}
  spec: {persistentVolumeReclaimPolicy: Retain, claimRef: {namespace: a, name: b, uid: uid-1}}
  status: {phase: Released}
- apiVersion: v1
  kind: PersistentVolume
  metadata: {name: forgotten}
  spec: {persistentVolumeReclaimPolicy: Retain, claimRef: {namespace: a, name: c, uid: uid-2}}
  status: {phase: Released}
`)
	code, stdout, stderr := run(t, "", "run", "--from-file", f, "-o", "json", "--rules", "pv-released-retained")
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, stderr)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Object.Name != "forgotten" || rep.Summary.Suppressed != 1 {
		t.Errorf("want only 'forgotten' shown and 1 suppressed, got %+v", rep)
	}
	_, table, _ := run(t, "", "run", "--from-file", f, "--rules", "pv-released-retained")
	if !strings.Contains(table, "1 suppressed by annotation") {
		t.Errorf("table should count the suppressed finding:\n%s", table)
	}
}

func TestTableGolden(t *testing.T) {
	code, stdout, stderr := run(t, "", "run", "--from-file", demo, "--now", demoNow)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, l := range strings.Split(stdout, "\n") {
		if w := len([]rune(strings.TrimRight(l, " "))); w > 120 {
			t.Errorf("line wider than 120 columns (%d): %q", w, l)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("no colour when stdout is not a terminal")
	}
	golden(t, "demo.table", stdout)
}

func TestRulesCommands(t *testing.T) {
	code, out, _ := run(t, "", "rules", "list")
	if code != 0 || !strings.Contains(out, "pv-released-retained") {
		t.Fatalf("rules list: %d %s", code, out)
	}
	code, out, _ = run(t, "", "rules", "list", "-o", "json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 {
		t.Fatalf("rules list -o json: %d %s", code, out)
	}
	code, out, _ = run(t, "", "rules", "explain", "pv-released-stuck")
	if code != 0 || !strings.Contains(out, "# pv-released-stuck") || !strings.Contains(out, "grace") {
		t.Fatalf("explain: %d %s", code, out)
	}
	code, out, _ = run(t, "", "version")
	// Test binaries carry no module build info, so the client-go version is only checked
	// on the real binary (hack/test.sh runs `auditor version`).
	if code != 0 || !strings.Contains(out, "client-go: ") {
		t.Fatalf("version: %d %s", code, out)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./internal/cli -update creates it; review it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test ./internal/cli -update if intended)\n--- got\n%s", p, got)
	}
}

// TestDemoFindings states what the demo dump must and must not show, rule by rule: the
// incidents it was built to reproduce, and the healthy neighbours each rule must leave
// alone (its "must not fire" cases as they occur in a real cluster).
func TestDemoFindings(t *testing.T) {
	_, stdout, _ := run(t, "", "run", "--from-file", demo, "-o", "json", "--now", demoNow)
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	has := func(rule, ns, name string) bool {
		for _, f := range rep.Findings {
			if f.RuleID == rule && f.Object.Namespace == ns && strings.HasPrefix(f.Object.Name, name) {
				return true
			}
		}
		return false
	}
	fires := []struct{ rule, ns, name string }{
		{"pv-released-retained", "", "pvc-611ac55c"},          // elasticsearch-3's volume
		{"pv-released-retained", "", "pvc-c94ec3f0"},          // elasticsearch-4's volume
		{"pv-available-unreserved", "", "pvc-f8ff39c0"},       // the "freed" volume kafka's scale-up binds
		{"sc-expansion-unsupported", "", "local-path"},        // Helm-renamed local-path class
		{"pvc-expansion-ignored", "web", "uploads"},           // 10Gi -> 20Gi, ExternalExpanding only
		{"pv-capacity-mismatch", "", "pvc-96dd8d96"},          // postgres volume edited to 200Gi
		{"sts-template-drift", "cache", "redis"},              // 20Gi template over 10Gi claims
		{"sts-retained-ordinal", "streaming", "data-kafka-3"}, // kafka scaled 5 -> 3
		{"sts-retained-ordinal", "streaming", "data-kafka-4"},
		{"pod-node-missing", "streaming", "zookeeper-1"},
		{"pod-terminating-stuck", "streaming", "zookeeper-1"},
		{"va-orphaned", "", "csi-055d9c05"}, // zookeeper-1's disk still attached to the dead node
		{"node-attach-limit", "", "aks-pool1-18492011-vmss000002"},
		{"quota-storage-exhausted", "ci", "storage"},
	}
	for _, f := range fires {
		if !has(f.rule, f.ns, f.name) {
			t.Errorf("demo: %s should fire on %s/%s", f.rule, f.ns, f.name)
		}
	}
	quiet := []struct{ rule, ns, name string }{
		{"sc-expansion-unsupported", "", "managed-csi"},       // CSI driver with its resizer Lease and sidecar
		{"pvc-unused", "billing", "pg-backups"},               // only a CronJob uses it
		{"sts-retained-ordinal", "streaming", "data-kafka-2"}, // live ordinal
		{"sts-template-drift", "streaming", "kafka"},          // template matches its claims
		{"pv-released-retained", "", "pvc-f8ff39c0"},          // Available, not Released
		{"node-attach-limit", "", "aks-pool1-18492011-vmss000000"},
		{"pvc-pending", "ci", "cache-builder-13"},  // Bound; its pod cannot attach, which is not pending
		{"sc-default-conflict", "", "managed-csi"}, // the only default class
		{"csinode-driver-missing", "", "aks-pool1-18492011-vmss000002"},
	}
	for _, q := range quiet {
		if has(q.rule, q.ns, q.name) {
			t.Errorf("demo: %s must not fire on %s/%s", q.rule, q.ns, q.name)
		}
	}
	rules := map[string]bool{}
	for _, f := range rep.Findings {
		rules[f.RuleID] = true
	}
	if len(rules) < 6 {
		t.Errorf("the demo should show at least six rules, shows %d", len(rules))
	}
}

func TestExplainEveryRule(t *testing.T) {
	_, out, _ := run(t, "", "rules", "list", "-o", "json")
	var list []struct{ ID, Severity, Title string }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if want := len(catalog.All()); len(list) != want {
		t.Errorf("rules list shows %d rules, the catalogue has %d", len(list), want)
	}
	for _, r := range list {
		code, doc, stderr := run(t, "", "rules", "explain", r.ID)
		if code != 0 || !strings.HasPrefix(doc, "# "+r.ID+"\n") || !strings.Contains(doc, "default severity | "+r.Severity) || !strings.Contains(doc, "kubectl") {
			t.Errorf("rules explain %s: exit %d, %s; doc should start with the ID, give the severity and the kubectl lines", r.ID, code, stderr)
		}
	}
}

// TestShortDumpStaysPartial: `kubectl get pv,pvc,storageclass,nodes,pods -o yaml` is a
// natural shortening of the README's command. Taken for a full dump it would make every
// node look CSINode-less and every claim of an undumped workload look unused.
func TestShortDumpStaysPartial(t *testing.T) {
	b, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	// Keep only the items of the five kinds: cut the List at each "- apiVersion" item.
	keep := map[string]bool{"PersistentVolume": true, "PersistentVolumeClaim": true, "StorageClass": true, "Node": true, "Pod": true}
	var out strings.Builder
	out.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	items := strings.Split(string(b), "\n- apiVersion: ")
	for _, it := range items[1:] {
		if i := strings.Index(it, "\n  kind: "); i >= 0 {
			kind := strings.TrimSpace(strings.SplitN(it[i+len("\n  kind: "):], "\n", 2)[0])
			if keep[kind] {
				out.WriteString("- apiVersion: " + strings.TrimRight(it, "\n") + "\n")
			}
		}
	}
	f := write(t, t.TempDir(), "short.yaml", out.String())
	code, stdout, stderr := run(t, "", "run", "--from-file", f, "-o", "json", "--now", demoNow)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	skipped := map[string]bool{}
	for _, s := range rep.Skipped {
		skipped[s.Rule] = true
	}
	for _, id := range []string{"csinode-driver-missing", "pvc-unused", "node-attach-limit"} {
		if !skipped[id] {
			t.Errorf("%s needs kinds the short dump lacks and must be skipped: %+v", id, rep.Skipped)
		}
	}
	for _, fd := range rep.Findings {
		if skipped[fd.RuleID] {
			t.Errorf("skipped rule %s reported %s", fd.RuleID, fd.Object)
		}
	}
	if len(rep.Findings) == 0 {
		t.Error("rules that need only the dumped kinds must still run")
	}
}
