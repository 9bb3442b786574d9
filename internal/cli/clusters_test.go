package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// kubeconfigFile writes a kubeconfig with one cluster per context, each at server.
func kubeconfigFile(t *testing.T, dir, name, current string, servers map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for ctx, server := range servers {
		b.WriteString("- name: " + ctx + "\n  cluster:\n    server: " + server + "\n")
	}
	b.WriteString("users:\n")
	for ctx := range servers {
		b.WriteString("- name: " + ctx + "\n  user:\n    token: token-" + ctx + "\n")
	}
	b.WriteString("contexts:\n")
	for ctx := range servers {
		b.WriteString("- name: " + ctx + "\n  context:\n    cluster: " + ctx + "\n    user: " + ctx + "\n")
	}
	if current != "" {
		b.WriteString("current-context: " + current + "\n")
	}
	return write(t, dir, name, b.String())
}

// TestKubeconfigListIsMerged: $KUBECONFIG holding several files is merged as kubectl
// merges it: contexts from every file, the first file's current-context, and a context
// may use a cluster and user defined in another file.
func TestKubeconfigListIsMerged(t *testing.T) {
	dir := t.TempDir()
	first := kubeconfigFile(t, dir, "first.yaml", "eu", map[string]string{"eu": "https://eu.example:6443"})
	second := kubeconfigFile(t, dir, "second.yaml", "us", map[string]string{"us": "https://us.example:6443"})
	// A third file that only adds a context over the first file's cluster and user.
	third := write(t, dir, "third.yaml", "apiVersion: v1\nkind: Config\ncontexts:\n- name: eu-shop\n  context:\n    cluster: eu\n    user: eu\n    namespace: shop\n")
	t.Setenv("KUBECONFIG", strings.Join([]string{first, second, third}, string(os.PathListSeparator)))

	k := kubeOptions{}
	cfg, name, err := k.restConfig()
	if err != nil {
		t.Fatal(err)
	}
	if name != "eu" || cfg.Host != "https://eu.example:6443" || cfg.BearerToken != "token-eu" {
		t.Errorf("current context %q host %q token %q; want the first file's: eu, https://eu.example:6443, token-eu", name, cfg.Host, cfg.BearerToken)
	}
	k.context = "eu-shop"
	if cfg, _, err = k.restConfig(); err != nil || cfg.Host != "https://eu.example:6443" || cfg.BearerToken != "token-eu" {
		t.Errorf("context eu-shop (third file) over cluster eu (first file): %v %+v", err, cfg)
	}
	if ns, err := k.namespace(); err != nil || ns != "shop" {
		t.Errorf("namespace of eu-shop = %q, %v; want shop", ns, err)
	}
	c := clusterFlags{allContexts: true, maxConcurrency: 4}
	names, err := c.resolve(&auditFlags{})
	if err != nil || strings.Join(names, ",") != "eu,eu-shop,us" {
		t.Errorf("--all-contexts = %v, %v; want every file's contexts, sorted", names, err)
	}
}

// TestManyClustersUsageErrors: each misuse of --contexts/--all-contexts is a one-line
// error and exit 2, before any cluster is contacted; the one-cluster commands do not
// have the flags.
func TestManyClustersUsageErrors(t *testing.T) {
	dir := t.TempDir()
	kc := kubeconfigFile(t, dir, "kubeconfig", "a", map[string]string{"a": "https://127.0.0.1:1", "b": "https://127.0.0.1:2"})
	typo := write(t, dir, "state.yaml", "state:\n  file: "+filepath.Join(dir, "state.json")+"\n")
	empty := write(t, dir, "empty.yaml", "apiVersion: v1\nkind: Config\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"both", []string{"run", "--kubeconfig", kc, "--contexts", "a", "--all-contexts"}, "--contexts and --all-contexts: choose one"},
		{"unknown context", []string{"run", "--kubeconfig", kc, "--contexts", "a,c"}, `context "c" is not in kubeconfig ` + kc + " (it has: a, b)"},
		{"no contexts", []string{"run", "--kubeconfig", empty, "--all-contexts"}, "has no contexts"},
		{"with --context", []string{"run", "--kubeconfig", kc, "--context", "a", "--all-contexts"}, "--context picks one cluster"},
		{"with --from-file", []string{"run", "--from-file", demo, "--all-contexts"}, "--from-file reads one dump"},
		{"fix", []string{"run", "--kubeconfig", kc, "--all-contexts", "--fix"}, "--fix changes one cluster at a time"},
		{"state file", []string{"run", "--kubeconfig", kc, "--all-contexts", "--state-file", filepath.Join(dir, "s.json")}, "--state-file keeps one cluster's state"},
		{"state file from config", []string{"run", "--kubeconfig", kc, "--all-contexts", "--config", typo}, "state.file keeps one cluster's state"},
		{"only changes without state", []string{"run", "--kubeconfig", kc, "--all-contexts", "--slack-webhook-url", "https://hooks.slack.com/services/T/B/X", "--slack-only-changes"}, "--slack-only-changes needs run-to-run state"},
		{"concurrency", []string{"run", "--kubeconfig", kc, "--all-contexts", "--max-concurrency", "0"}, "--max-concurrency 0: want 1 or more"},
		{"concurrency alone", []string{"run", "--kubeconfig", kc, "--max-concurrency", "2"}, "--max-concurrency applies to --contexts"},
		{"cost concurrency alone", []string{"cost", "--kubeconfig", kc, "--max-concurrency", "2"}, "--max-concurrency applies to --contexts"},
		{"serve", []string{"serve", "--kubeconfig", kc, "--all-contexts"}, "unknown flag: --all-contexts"},
		{"resize", []string{"resize", "statefulset", "a/b", "--size", "1Gi", "--contexts", "a,b"}, "unknown flag: --contexts"},
		{"preflight", []string{"preflight", "scale", "statefulset", "a/b", "--replicas", "2", "--contexts", "a"}, "unknown flag: --contexts"},
		{"fix release-pv", []string{"fix", "release-pv", "pv-1", "--all-contexts"}, "unknown flag: --all-contexts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", c.args...)
			first, _, _ := strings.Cut(stderr, "\n")
			if code != ExitError || stdout != "" || !strings.HasPrefix(first, "error: ") || !strings.Contains(first, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and 'error: …%s…'", code, stdout, stderr, c.want)
			}
			if n := strings.Count(strings.TrimSuffix(stderr, "\n"), "\n"); n > 1 {
				t.Errorf("error should be one line (plus at most a usage hint): %q", stderr)
			}
		})
	}
}

// TestNoClusterReachable: when no cluster can be audited the run exits 2, yet the output
// still lists every cluster with its error (in the order given) and stderr names each.
// The servers are closed local ports, refused at once.
func TestNoClusterReachable(t *testing.T) {
	dir := t.TempDir()
	kc := kubeconfigFile(t, dir, "kubeconfig", "", map[string]string{"one": "https://127.0.0.1:1", "two": "https://127.0.0.1:2"})
	code, stdout, stderr := run(t, "", "run", "--kubeconfig", kc, "--contexts", "two,one,two", "-o", "json", "--now", demoNow)
	if code != ExitError {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	var list struct {
		Kind  string          `json:"kind"`
		Items []*audit.Report `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if list.Kind != "AuditReportList" || len(list.Items) != 2 || list.Items[0].Cluster != "two" || list.Items[1].Cluster != "one" {
		t.Fatalf("want items two, one (as given, repeats dropped): %s", stdout)
	}
	for _, rep := range list.Items {
		if !strings.Contains(rep.Error, "connection refused") || rep.GeneratedAt.Format("2006-01-02T15:04:05Z07:00") != demoNow {
			t.Errorf("%s: error %q at %s; want the refused connection, dated --now", rep.Cluster, rep.Error, rep.GeneratedAt)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "error: cluster two: ") || !strings.HasPrefix(lines[1], "error: cluster one: ") ||
		!strings.Contains(lines[2], "no cluster could be audited (2 of 2 failed") {
		t.Errorf("stderr should name each cluster, then say none could be audited:\n%s", stderr)
	}

	code, stdout, _ = run(t, "", "cost", "--kubeconfig", kc, "--all-contexts", "-o", "yaml")
	if code != ExitError || !strings.HasPrefix(stdout, "apiVersion: storage-auditor.dev/v1\nkind: CostReportList\nitems:\n") {
		t.Errorf("cost for unreachable clusters: exit %d:\n%s", code, stdout)
	}
}

func TestWorstExit(t *testing.T) {
	cases := []struct {
		codes  []int
		failed int
		want   int
	}{
		{[]int{ExitOK, ExitOK}, 0, ExitOK},
		{[]int{ExitOK, ExitPartial}, 1, ExitPartial},
		{[]int{ExitFindings, ExitPartial}, 1, ExitFindings},
		{[]int{ExitNotify, ExitFindings, ExitPartial}, 0, ExitNotify},
		{[]int{ExitPartial, ExitPartial}, 2, ExitError},
		{[]int{ExitPartial}, 1, ExitError},
		{nil, 0, ExitOK},
	}
	for _, c := range cases {
		if got := worstExit(c.codes, c.failed); got != c.want {
			t.Errorf("worstExit(%v, %d failed) = %d, want %d", c.codes, c.failed, got, c.want)
		}
	}
}

func TestPrefixWriterNamesEveryLine(t *testing.T) {
	var b bytes.Buffer
	w := &prefixWriter{w: &b, prefix: "prod: "}
	for _, s := range []string{"Reading cluster prod (https://x)...\n", "Read 3 PVs in 1s\nsecond\n"} {
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := "prod: Reading cluster prod (https://x)...\nprod: Read 3 PVs in 1s\nprod: second\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
