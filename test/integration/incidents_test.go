package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// auditLive runs `auditor run` against the test cluster through the real CLI path.
func auditLive(t *testing.T, extra ...string) *audit.Report {
	t.Helper()
	args := append([]string{"run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--config", "testdata/config.yaml"}, extra...)
	return auditArgs(t, args...)
}

func auditArgs(t *testing.T, args ...string) *audit.Report {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("auditor %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if len(rep.Skipped) > 0 || len(rep.Unreadable) > 0 {
		t.Fatalf("audit incomplete: skipped %+v unreadable %+v", rep.Skipped, rep.Unreadable)
	}
	return &rep
}

// find returns the findings of rule on an object named name (in namespace ns, "" for
// cluster-scoped objects).
func find(rep *audit.Report, rule, ns, name string) []audit.Finding {
	var out []audit.Finding
	for _, f := range rep.Findings {
		if f.RuleID == rule && f.Object.Namespace == ns && f.Object.Name == name {
			out = append(out, f)
		}
	}
	return out
}

func require(t *testing.T, rep *audit.Report, rule, ns, name string) audit.Finding {
	t.Helper()
	fs := find(rep, rule, ns, name)
	if len(fs) == 0 {
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.RuleID+" "+f.Object.String())
		}
		t.Fatalf("no %s finding on %s/%s; findings: %s", rule, ns, name, strings.Join(got, "; "))
	}
	return fs[0]
}

func forbid(t *testing.T, rep *audit.Report, rule, ns, name string) {
	t.Helper()
	if fs := find(rep, rule, ns, name); len(fs) > 0 {
		t.Errorf("unexpected %s finding on %s/%s: %s", rule, ns, name, fs[0].Message)
	}
}

// TestIncidents reproduces each incident with the real controllers and checks the audit.
// The subtests share one cluster and run in order; each works in its own namespace.
func TestIncidents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ns := range incidentNamespaces {
		if err := controlplane.EnsureNamespace(ctx, env.CS, ns); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a retained ordinals, Released PVs, and the Available-PV trap", func(t *testing.T) {
		r, err := env.RetainScaleDown(ctx, "a-retain")
		if err != nil {
			t.Fatal(err)
		}
		rep := auditLive(t)
		require(t, rep, "sts-retained-ordinal", "a-retain", r.RetainedClaim)
		for _, pv := range r.ReleasedPVs {
			require(t, rep, "pv-released-retained", "", pv)
		}
		forbid(t, rep, "sts-retained-ordinal", "a-retain", "data-web-0") // live ordinal

		freed := r.ReleasedPVs[1]
		if err := env.FreeReleasedPV(ctx, freed); err != nil {
			t.Fatal(err)
		}
		rep = auditLive(t)
		f := require(t, rep, "pv-available-unreserved", "", freed)
		if f.Severity != audit.Critical || !strings.Contains(f.Details["wouldBind"], "StatefulSet a-retain/web") ||
			!strings.Contains(f.Details["wouldBind"], "data-web-2") {
			t.Errorf("the auditor should warn, critically, that web's scale-up binds %s as data-web-2: %+v", freed, f)
		}
		forbid(t, rep, "pv-released-retained", "", freed)

		// Spring the trap: the new claim data-web-2 gets the freed PV, old data included.
		got, err := env.ScaleUp(ctx, "a-retain", "web", 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got != freed {
			t.Errorf("scale-up bound data-web-2 to %s; the PV controller was expected to reuse the freed PV %s", got, freed)
		}
		rep = auditLive(t)
		forbid(t, rep, "pv-available-unreserved", "", freed)
		forbid(t, rep, "sts-retained-ordinal", "a-retain", r.RetainedClaim) // ordinal 1 is live again
	})

	t.Run("b local-path resize nobody performs", func(t *testing.T) {
		r, err := env.LocalPathResize(ctx, "b-expand")
		if err != nil {
			t.Fatal(err)
		}
		pvc, err := env.CS.CoreV1().PersistentVolumeClaims("b-expand").Get(ctx, r.Claim, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := pvc.Status.Capacity.Storage().String(); c != "1Gi" {
			t.Fatalf("claim capacity %s: the scenario expects nobody to expand it", c)
		}
		rep := auditLive(t)
		f := require(t, rep, "pvc-expansion-ignored", "b-expand", r.Claim)
		if !strings.Contains(f.Details["lastEvent"]+f.Message, "ExternalExpanding") && !strings.Contains(fmt.Sprint(f.Details), "external controller") {
			t.Logf("note: finding does not quote the ExternalExpanding event: %+v", f)
		}
		sc := require(t, rep, "sc-expansion-unsupported", "", scenario.LocalPathClass)
		if sc.Severity != audit.Critical {
			t.Errorf("a local-path class with a claim asking for more should be critical: %+v", sc)
		}
	})

	t.Run("c PV capacity edited above the claim's", func(t *testing.T) {
		r, err := env.PVCapacityEdit(ctx, "c-capacity")
		if err != nil {
			t.Fatal(err)
		}
		rep := auditLive(t)
		require(t, rep, "pv-capacity-mismatch", "", r.PV)
	})

	t.Run("d template change refused, orphan re-create drifts", func(t *testing.T) {
		r, err := env.TemplateDrift(ctx, "d-drift")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Refusal, "spec: Forbidden: updates to statefulset spec for fields other than") {
			t.Errorf("unexpected refusal: %s", r.Refusal)
		}
		rep := auditLive(t)
		fs := append(find(rep, "sts-template-drift", "d-drift", "db"), find(rep, "sts-template-drift", "d-drift", "data-db-0")...)
		if len(fs) == 0 {
			t.Fatalf("no sts-template-drift finding for d-drift/db")
		}
	})

	t.Run("e pod bound to a deleted node", func(t *testing.T) {
		r, err := env.PodOnDeletedNode(ctx, "e-ghost")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.ReleaseFinalizer(context.Background(), "e-ghost", r.Pod) })
		rep := auditLive(t)
		require(t, rep, "pod-node-missing", "e-ghost", r.Pod)
	})

	t.Run("f node at its CSI attach limit", func(t *testing.T) {
		r, err := env.AttachLimit(ctx, "f-attach")
		if err != nil {
			t.Fatal(err)
		}
		rep := auditLive(t)
		f := require(t, rep, "node-attach-limit", "", r.Node)
		if f.Severity != audit.Critical {
			t.Errorf("2 of 2 slots used should be critical: %+v", f)
		}
	})

	t.Run("a kubectl dump gives the same findings as the live audit", func(t *testing.T) {
		now := time.Now().UTC().Format(time.RFC3339)
		live := auditLive(t, "--now", now)
		dump := filepath.Join(t.TempDir(), "dump.yaml")
		kubectlDump(t, dump)
		fromFile := auditArgs(t, "run", "--from-file", dump, "-o", "json", "--config", "testdata/config.yaml", "--now", now)
		// Only this test's incidents (and cluster-scoped objects) are compared: other tests'
		// namespaces on the shared control plane can change between the two reads (a
		// resize controller re-sending an event dated after --now, say).
		mine := map[string]bool{"": true}
		for _, ns := range incidentNamespaces {
			mine[ns] = true
		}
		l, f := keysIn(live, mine), keysIn(fromFile, mine)
		if strings.Join(l, "\n") != strings.Join(f, "\n") {
			t.Errorf("live and dump audits differ:\n--- live\n%s\n--- dump\n%s", strings.Join(l, "\n"), strings.Join(f, "\n"))
		}
		// Both must hold the incidents still open at this point (the trap has sprung).
		for _, rule := range []string{"pv-released-retained", "pvc-expansion-ignored", "sc-expansion-unsupported",
			"pv-capacity-mismatch", "sts-template-drift", "pod-node-missing", "node-attach-limit"} {
			if !strings.Contains(strings.Join(f, "\n"), " "+rule+" ") {
				t.Errorf("the dump audit lacks %s: %s", rule, strings.Join(f, "\n"))
			}
		}
	})
}

// incidentNamespaces are TestIncidents' namespaces, one per incident.
var incidentNamespaces = []string{"a-retain", "b-expand", "c-capacity", "d-drift", "e-ghost", "f-attach"}

// keys identifies findings by rule, severity, object and message (ages use --now).
func keys(rep *audit.Report) []string { return keysIn(rep, nil) }

// keysIn is keys for the findings on objects in the namespaces nss ("" for cluster-scoped
// objects); nil means all.
func keysIn(rep *audit.Report, nss map[string]bool) []string {
	var out []string
	for _, f := range rep.Findings {
		if nss != nil && !nss[f.Object.Namespace] {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", f.Severity, f.RuleID, f.Object.String(), f.Message))
	}
	sort.Strings(out)
	return out
}

// kubectlDump writes the dump the README tells people to make.
func kubectlDump(t *testing.T, path string) {
	t.Helper()
	var all bytes.Buffer
	for _, args := range [][]string{
		{"get", "pv,pvc,storageclasses,csidrivers,csinodes,volumeattachments,nodes,pods,statefulsets,deployments,daemonsets,replicasets,jobs,cronjobs,resourcequotas,events", "-A", "-o", "yaml"},
		{"get", "leases", "-n", "kube-system", "-o", "yaml"},
	} {
		cmd := exec.Command("kubectl", append(args, "--kubeconfig", cp.Kubeconfig)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		all.WriteString("---\n")
		all.Write(out)
	}
	if err := os.WriteFile(path, all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
