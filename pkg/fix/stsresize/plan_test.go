package stsresize

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the current output")

// inputsFrom builds Decide's inputs from the shared fixture: the StatefulSet ns/name, the
// namespace's claims and pods, and the whole snapshot as evidence.
func inputsFrom(t *testing.T, snap *snapshot.Snapshot, ns, name string) *Inputs {
	t.Helper()
	st := snap.StatefulSet(ns, name)
	if st == nil {
		t.Fatalf("fixture has no StatefulSet %s/%s", ns, name)
	}
	in := &Inputs{StatefulSet: st.DeepCopy(), Evidence: snap}
	for _, c := range snap.PersistentVolumeClaims {
		if c.Namespace == ns {
			in.Claims = append(in.Claims, c.DeepCopy())
		}
	}
	for _, p := range snap.Pods {
		if p.Namespace == ns {
			in.Pods = append(in.Pods, p.DeepCopy())
		}
	}
	return in
}

func loadFixture(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	snap, stats, err := snapshot.LoadFiles(filepath.Join("testdata", "cluster.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !stats.Complete {
		t.Fatal("the fixture must read as a full dump, or the class verdicts are skipped")
	}
	return snap
}

// TestDecide renders each case's plan (what --dry-run prints) or refusal and compares it
// with testdata/golden/<case>.txt; -update rewrites them.
func TestDecide(t *testing.T) {
	snap := loadFixture(t)
	cases := []struct {
		name, sts, template, size string
		refused                   bool
	}{
		{name: "expand-helm-managed", sts: "web", size: "20Gi"},
		{name: "claims-only", sts: "lagging", size: "20Gi"},
		{name: "nothing-to-do", sts: "done", size: "20Gi"},
		{name: "operator-gitops-no-claims", sts: "search", size: "50Gi"},
		{name: "ignored-class-goes-ahead", sts: "mail", size: "20Gi"},
		{name: "template-chosen", sts: "multi", template: "wal", size: "4Gi"},
		{name: "refuse-local-path", sts: "cache", size: "20Gi", refused: true},
		{name: "refuse-nfs-volume", sts: "files", size: "20Gi", refused: true},
		{name: "refuse-csi-without-resizer", sts: "queue", size: "20Gi", refused: true},
		{name: "refuse-expansion-not-allowed", sts: "ledger", size: "20Gi", refused: true},
		{name: "refuse-pending-claim", sts: "pending", size: "20Gi", refused: true},
		{name: "refuse-shrink-template", sts: "web", size: "5Gi", refused: true},
		{name: "refuse-shrink-claim", sts: "big", size: "20Gi", refused: true},
		{name: "refuse-several-templates", sts: "multi", size: "20Gi", refused: true},
		{name: "refuse-unknown-template", sts: "web", template: "logs", size: "20Gi", refused: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{Namespace: "shop", Name: c.sts, Template: c.template, Size: resource.MustParse(c.size),
				Timeout: 10 * time.Minute, BackupDir: "/var/backups/auditor"}
			p, err := Decide(inputsFrom(t, snap, "shop", c.sts), req)
			var out bytes.Buffer
			var refusal *Refusal
			switch {
			case errors.As(err, &refusal):
				if !c.refused {
					t.Fatalf("refused: %v", err)
				}
				out.WriteString("refused: " + refusal.Reason + "\n")
			case err != nil:
				t.Fatalf("Decide: %v (want a plan or a *Refusal)", err)
			default:
				if c.refused {
					t.Fatal("planned, want a refusal")
				}
				p.Write(&out)
			}
			golden := filepath.Join("testdata", "golden", c.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("output differs from %s (-update rewrites it):\n--- got\n%s--- want\n%s", golden, out.String(), want)
			}
		})
	}
}

// TestDecideClaims checks the per-claim decisions behind the web plan directly: which
// claims are patched, waited for, and which ordinals count as live.
func TestDecideClaims(t *testing.T) {
	snap := loadFixture(t)
	p, err := Decide(inputsFrom(t, snap, "shop", "web"), Request{Namespace: "shop", Name: "web", Size: resource.MustParse("20Gi"), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		ordinal           int
		live, patch, wait bool
	}
	wants := map[string]want{
		"data-web-0": {0, true, true, true},
		"data-web-1": {1, true, false, true}, // already asks for 20Gi, capacity 10Gi
		"data-web-3": {3, false, true, true}, // retained: patched too
	}
	if len(p.Claims) != len(wants) {
		t.Fatalf("claims %+v, want %v (logs-web-0 belongs to no template of web)", p.Claims, wants)
	}
	for _, c := range p.Claims {
		w, ok := wants[c.Name]
		if !ok || c.Ordinal != w.ordinal || c.Live != w.live || c.Patch != w.patch || c.Wait != w.wait {
			t.Errorf("%s: ordinal %d live %v patch %v wait %v, want %+v", c.Name, c.Ordinal, c.Live, c.Patch, c.Wait, w)
		}
	}
	if !p.Recreate || len(p.Pods) != 2 || !p.Helm.Managed || p.Helm.Name != "shop-web" {
		t.Errorf("recreate %v pods %v helm %+v", p.Recreate, p.Pods, p.Helm)
	}
	steps := p.Steps()
	if len(steps) != 7 { // 2 patches, wait, backup, delete, create, verify
		t.Errorf("%d steps, want 7", len(steps))
	}
}

// TestForCreate: the re-created object keeps what the user set and drops what the server
// owns; resized changes only the chosen template's request.
func TestForCreate(t *testing.T) {
	snap := loadFixture(t)
	st := snap.StatefulSet("shop", "search").DeepCopy()
	st.ResourceVersion, st.Generation = "812", 4
	st.Finalizers = []string{"orphan", "example.com/keep"}
	st.Status.Replicas = 3
	out := resized(st, "index", resource.MustParse("50Gi"))
	if out.UID != "" || out.ResourceVersion != "" || out.Generation != 0 || out.Status.Replicas != 0 {
		t.Errorf("server-owned fields kept: %+v", out.ObjectMeta)
	}
	if len(out.Finalizers) != 1 || out.Finalizers[0] != "example.com/keep" {
		t.Errorf("finalizers %v, want only the user's", out.Finalizers)
	}
	if len(out.OwnerReferences) != 1 || out.Annotations["argocd.argoproj.io/tracking-id"] == "" {
		t.Errorf("owner references or annotations lost: %+v", out.ObjectMeta)
	}
	if q := out.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "50Gi" {
		t.Errorf("template request %s, want 50Gi", q.String())
	}
	if q := st.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "10Gi" {
		t.Errorf("resized changed its input: %s", q.String())
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Second: "1m30s", 30 * time.Second: "30s", 2*time.Hour + 5*time.Minute: "2h5m",
	} {
		if got := duration(in); got != want {
			t.Errorf("duration(%s) = %s, want %s", in, got, want)
		}
	}
}
