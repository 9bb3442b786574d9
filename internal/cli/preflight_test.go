package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// preflightCluster is a case of pkg/preflight's fixtures.
func preflightCluster(name string) string {
	return filepath.Join("..", "..", "pkg", "preflight", "testdata", name, "cluster.yaml")
}

// TestPreflightExitCodes: the verdict is the exit code (0 go, 1 warn, 4 no-go), the JSON
// document is {verdict, checks, costDelta}, and --config prices the change.
func TestPreflightExitCodes(t *testing.T) {
	cfg := write(t, t.TempDir(), "prices.yaml", "cost:\n  prices:\n    - {storageClass: fast, perGiBMonth: 0.25, currency: EUR}\n    - {storageClass: fast-expand, perGiBMonth: 0.25, currency: EUR}\n")
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		verdict string
		cost    map[string]float64
	}{
		{"scale no-go", []string{"scale", "statefulset", "shop/db", "--replicas", "8", "--from-file", preflightCluster("scale-nogo-retained-available-attach")},
			exitPreflightNoGo, "no-go", map[string]float64{"EUR": 2}},
		{"scale go", []string{"scale", "sts", "shop/db", "--replicas=8", "--from-file", preflightCluster("scale-go-after-cleanup")},
			ExitOK, "go", map[string]float64{"EUR": 4.5}},
		{"resize go", []string{"resize", "pvc", "app/data", "--size", "25Gi", "--from-file", preflightCluster("resize-pvc-csi-go")},
			ExitOK, "go", map[string]float64{"EUR": 3.75}},
		{"resize no-go", []string{"resize", "persistentvolumeclaim", "web/uploads", "--size", "20Gi", "--from-file", preflightCluster("resize-pvc-local-path")},
			exitPreflightNoGo, "no-go", map[string]float64{}},
		{"resize statefulset", []string{"resize", "statefulset", "data/pg", "--size", "40Gi", "--template", "data", "--from-file", preflightCluster("resize-sts-helm-quota")},
			exitPreflightNoGo, "no-go", map[string]float64{"USD": 4.8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"preflight"}, tt.args...)
			args = append(args, "--config", cfg, "--now", "2026-06-01T12:00:00Z", "-o", "json")
			code, stdout, stderr := run(t, "", args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tt.code, stdout, stderr)
			}
			var doc struct {
				Verdict   string
				Checks    []map[string]any
				CostDelta map[string]float64
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if doc.Verdict != tt.verdict || len(doc.Checks) == 0 {
				t.Errorf("verdict %q with %d checks, want %q", doc.Verdict, len(doc.Checks), tt.verdict)
			}
			if len(doc.CostDelta) != len(tt.cost) {
				t.Errorf("costDelta %v, want %v", doc.CostDelta, tt.cost)
			}
			for c, v := range tt.cost {
				if doc.CostDelta[c] != v {
					t.Errorf("costDelta %v, want %v", doc.CostDelta, tt.cost)
				}
			}
		})
	}
}

// TestPreflightWarnExitsOne: a check that could not be made (no quotas in the dump) is a
// warning, and a warning verdict exits 1.
func TestPreflightWarnExitsOne(t *testing.T) {
	// Growing app/data is go with resize-pvc-csi-go's dump, which says "no quotas" with an
	// empty ResourceQuotaList; without that list the quota check cannot be made.
	code, stdout, _ := run(t, "", "preflight", "resize", "pvc", "app/data", "--size", "25Gi", "--from-file", stripQuotas(t), "--now", "2026-06-01T12:00:00Z")
	if code != exitPreflightWarn || !strings.Contains(stdout, "Verdict: WARN") || !strings.Contains(stdout, "quota headroom not checked") {
		t.Errorf("exit %d, want %d:\n%s", code, exitPreflightWarn, stdout)
	}
}

func stripQuotas(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(preflightCluster("resize-pvc-csi-go"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"kind": "ResourceQuotaList"`) {
			kept = append(kept, l)
		}
	}
	return write(t, t.TempDir(), "cluster.yaml", strings.Join(kept, "\n"))
}

func TestPreflightTableAndHelp(t *testing.T) {
	code, stdout, _ := run(t, "", "preflight", "scale", "statefulset", "shop/db", "--replicas", "8", "--from-file", preflightCluster("scale-nogo-retained-available-attach"), "--now", "2026-06-01T12:00:00Z")
	if code != exitPreflightNoGo || !strings.HasPrefix(stdout, "Pre-flight: scale StatefulSet shop/db from 2 to 8 replicas\nVerdict: NO-GO") ||
		!strings.Contains(stdout, "stale-pvc-reuse") || !strings.Contains(stdout, "Monthly cost delta: none") {
		t.Errorf("table: exit %d\n%s", code, stdout)
	}
	for _, l := range strings.Split(stdout, "\n") {
		if w := len([]rune(strings.TrimRight(l, " "))); w > 120 {
			t.Errorf("line wider than 120 columns (%d): %q", w, l)
		}
	}
	for _, args := range [][]string{{"preflight", "--help"}, {"preflight", "scale", "--help"}, {"preflight", "resize", "--help"}} {
		code, out, _ := run(t, "", args...)
		if code != 0 || !strings.Contains(out, "4  no-go") || !strings.Contains(out, "1  warn") {
			t.Errorf("%v: exit %d, help should document the exit codes:\n%s", args, code, out)
		}
	}
}

// TestPreflightUsageErrors: every mistake is one line on stderr and exit 2.
func TestPreflightUsageErrors(t *testing.T) {
	dump := preflightCluster("scale-go-after-cleanup")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"preflight"}, "say what to check"},
		{[]string{"preflight", "scale", "deployment", "shop/db", "--replicas", "3", "--from-file", dump}, `not "deployment"`},
		{[]string{"preflight", "scale", "statefulset", "db", "--replicas", "3", "--from-file", dump}, "NAMESPACE/NAME"},
		{[]string{"preflight", "scale", "statefulset", "shop/db", "--from-file", dump}, "--replicas is required"},
		{[]string{"preflight", "scale", "statefulset", "shop/db", "--replicas", "-1", "--from-file", dump}, "want 0 or more"},
		{[]string{"preflight", "scale", "statefulset", "shop/nope", "--replicas", "3", "--from-file", dump}, "StatefulSet shop/nope not found"},
		{[]string{"preflight", "scale", "statefulset", "shop/db", "--replicas", "3", "--from-file", dump, "-n", "shop"}, "-n does not apply"},
		{[]string{"preflight", "scale", "statefulset", "shop/db", "--replicas", "3", "--from-file", dump, "-o", "yaml"}, "want table or json"},
		{[]string{"preflight", "resize", "pvc", "shop/data-db-0", "--from-file", dump}, "--size is required"},
		{[]string{"preflight", "resize", "pvc", "shop/data-db-0", "--size", "big", "--from-file", dump}, "want a size above zero"},
		{[]string{"preflight", "resize", "pvc", "shop/data-db-0", "--size", "2Gi", "--template", "data", "--from-file", dump}, "--template only applies"},
		{[]string{"preflight", "resize", "statefulset", "shop/db", "--size", "2Gi", "--from-file", dump}, "choose one with --template"},
		{[]string{"preflight", "resize", "node", "shop/db", "--size", "2Gi", "--from-file", dump}, "statefulset or a pvc"},
	} {
		code, _, stderr := run(t, "", tt.args...)
		if code != ExitError || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
