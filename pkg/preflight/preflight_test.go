package preflight

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/internal/golden"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var update = flag.Bool("update", false, "rewrite the want.json and want.table golden files from the current output")

// testNow is the clock of every case; the fixtures' timestamps are written relative to it.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCase is testdata/<case>/case.yaml: what to check and the verdict it must give.
type testCase struct {
	Op       string      `yaml:"op"` // scale, resize-pvc, resize-statefulset
	Target   string      `yaml:"target"`
	Replicas int         `yaml:"replicas"`
	Size     string      `yaml:"size"`
	Template string      `yaml:"template"`
	Verdict  Verdict     `yaml:"verdict"`
	Cost     cost.Config `yaml:"cost"`
}

func loadCase(t *testing.T, dir string) (*Checker, testCase) {
	t.Helper()
	var tc testCase
	b, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tc); err != nil {
		t.Fatalf("case.yaml: %v", err)
	}
	snap, _, err := snapshot.LoadFiles(filepath.Join(dir, "cluster.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := cost.Compile(tc.Cost)
	if err != nil {
		t.Fatal(err)
	}
	return &Checker{Snapshot: snap, Prices: prices, Now: testNow}, tc
}

func (tc testCase) run(t *testing.T, c *Checker) (*Result, error) {
	t.Helper()
	ns, name, _ := strings.Cut(tc.Target, "/")
	switch tc.Op {
	case "scale":
		return c.Scale(ns, name, tc.Replicas)
	case "resize-pvc":
		return c.ResizeClaim(ns, name, resource.MustParse(tc.Size))
	case "resize-statefulset":
		return c.ResizeStatefulSet(ns, name, tc.Template, resource.MustParse(tc.Size))
	}
	t.Fatalf("unknown op %q", tc.Op)
	return nil, nil
}

// TestCases runs each testdata/<case> and compares the verdict with case.yaml's and the
// whole result with want.json (the JSON document) and want.table (the table).
func TestCases(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*"))
	if len(dirs) < 8 {
		t.Fatalf("only %d cases found", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c, tc := loadCase(t, dir)
			res, err := tc.run(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.Verdict {
				t.Errorf("verdict %s, want %s; checks:\n%s", res.Verdict, tc.Verdict, checkLines(res))
			}
			var js, table bytes.Buffer
			if err := WriteJSON(&js, res); err != nil {
				t.Fatal(err)
			}
			if err := WriteTable(&table, res, report.Options{}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, "want.json"), js.Bytes())
			checkGolden(t, filepath.Join(dir, "want.table"), table.Bytes())
		})
	}
}

// checkGolden compares with the file at path under testdata (internal/golden).
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	rel, err := filepath.Rel("testdata", path)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, *update, rel, string(got))
}

func checkLines(r *Result) string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.Severity.String() + " " + c.Check + " " + c.Object.String() + ": " + c.Message + "\n")
	}
	return b.String()
}

// objects returns "check Kind/ns/name" for the checks of a severity.
func objects(r *Result, sev audit.Severity) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Severity == sev {
			out = append(out, c.Check+" "+c.Object.String())
		}
	}
	return out
}

// TestScaleUpNamesExactlyWhatItReuses states the acceptance case in words: scaling the
// StatefulSet kept at 2 back to 8 is no-go and names the six retained claims, the two
// Available PVs that would bind, and the attach shortfall; the cost delta is the fresh
// volumes only (logs-db-4..7: 4 x 2Gi x 0.25 EUR).
func TestScaleUpNamesExactlyWhatItReuses(t *testing.T) {
	c, tc := loadCase(t, filepath.Join("testdata", "scale-nogo-retained-available-attach"))
	res, err := tc.run(t, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stale-pvc-reuse PersistentVolumeClaim/shop/data-db-2", "stale-pvc-reuse PersistentVolumeClaim/shop/data-db-3",
		"stale-pvc-reuse PersistentVolumeClaim/shop/data-db-4", "stale-pvc-reuse PersistentVolumeClaim/shop/data-db-5",
		"stale-pvc-reuse PersistentVolumeClaim/shop/data-db-6", "stale-pvc-reuse PersistentVolumeClaim/shop/data-db-7",
		"stale-pv-bind PersistentVolume/pv-logs-2", "stale-pv-bind PersistentVolume/pv-logs-3",
		"attach-headroom CSIDriver/disk.csi.example.com",
	}
	got := objects(res, audit.Critical)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("critical checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, ch := range res.Checks {
		if ch.Check == CheckAttachHeadroom && !strings.Contains(ch.Message, "only 0 pod(s) fit, 6 short, 10 attach slot(s) short") {
			t.Errorf("attach shortfall not stated: %s", ch.Message)
		}
	}
	if got := res.CostDelta["EUR"]; got != 4*2*0.25 {
		t.Errorf("cost delta %v EUR, want %v", got, 4*2*0.25)
	}
}

// TestCostDeltaIsNewCapacityTimesPrice: for every case with a price, the delta is the
// new (or added) capacity times the price per GiB.
func TestCostDeltaIsNewCapacityTimesPrice(t *testing.T) {
	for _, tt := range []struct {
		dir     string
		newGiB  float64
		perGiB  float64
		current string
	}{
		{"scale-go-after-cleanup", 6*1 + 6*2, 0.25, "EUR"},
		{"resize-pvc-csi-go", 25 - 10, 0.25, "EUR"},
		{"scale-down-delete", -2 * 50, 0.08, "USD"}, // shipped gp3 price
	} {
		c, tc := loadCase(t, filepath.Join("testdata", tt.dir))
		res, err := tc.run(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.CostDelta[tt.current], tt.newGiB*tt.perGiB; got != want {
			t.Errorf("%s: cost delta %v %s, want %v", tt.dir, got, tt.current, want)
		}
	}
}

func TestErrors(t *testing.T) {
	c, _ := loadCase(t, filepath.Join("testdata", "resize-sts-helm-quota"))
	twoTemplates, _ := loadCase(t, filepath.Join("testdata", "scale-go-after-cleanup"))
	for _, tt := range []struct {
		name string
		run  func() error
		want string
	}{
		{"missing statefulset", func() error { _, err := c.Scale("data", "nope", 3); return err }, "StatefulSet data/nope not found"},
		{"missing claim", func() error { _, err := c.ResizeClaim("data", "nope", resource.MustParse("1Gi")); return err }, "PersistentVolumeClaim data/nope not found"},
		{"negative replicas", func() error { _, err := c.Scale("data", "pg", -1); return err }, "want 0 or more"},
		{"zero size", func() error { _, err := c.ResizeClaim("data", "data-pg-0", resource.MustParse("0")); return err }, "above zero"},
		{"which template", func() error {
			_, err := twoTemplates.ResizeStatefulSet("shop", "db", "", resource.MustParse("5Gi"))
			return err
		}, "2 volumeClaimTemplates (data, logs): choose one with --template"},
		{"unknown template", func() error {
			_, err := twoTemplates.ResizeStatefulSet("shop", "db", "wal", resource.MustParse("5Gi"))
			return err
		}, `no volumeClaimTemplate "wal"`},
	} {
		err := tt.run()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestJSONShape pins the document pipelines read: verdict, checks (never null), costDelta
// (never null), and nothing else; checks carry check, severity, object, message.
func TestJSONShape(t *testing.T) {
	res := (&Checker{Snapshot: emptySnapshot(), Now: testNow}).newBuilder().finish("nothing")
	var b bytes.Buffer
	if err := WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(b.String()), ""); got != `{"verdict":"go","checks":[],"costDelta":{}}` {
		t.Errorf("empty result = %s", got)
	}
	c, tc := loadCase(t, filepath.Join("testdata", "resize-pvc-local-path"))
	res, err := tc.run(t, c)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	_ = WriteJSON(&b, res)
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 3 || doc["verdict"] != "no-go" {
		t.Errorf("document keys/verdict: %v", doc)
	}
	check := doc["checks"].([]any)[0].(map[string]any)
	obj := check["object"].(map[string]any)
	if len(check) != 4 || check["severity"] != "critical" || check["check"] == "" || check["message"] == "" ||
		obj["kind"] == nil || obj["name"] == nil || len(obj) != 3 {
		t.Errorf("check shape: %v", check)
	}
}

func emptySnapshot() *snapshot.Snapshot {
	s := snapshot.New("empty")
	s.Index()
	return s
}
