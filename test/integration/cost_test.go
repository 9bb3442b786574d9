package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestCostLive reproduces the seed cluster's bill on the real control plane: eight Bound
// 1000Gi claims of class idc-receiver-web-20220328, priced at 0.35 CNY per GiB-month by
// testdata/cost.yaml, plus one 100Gi volume of the class Released by its claim and kept
// by reclaim policy Retain. The PV controller binds and releases them; the audit must
// price them through the real CLI:
//
//	bound      8 × 1000 GiB × 0.35 CNY = 2800 CNY
//	released       100 GiB × 0.35 CNY =   35 CNY  (waste, bucket "released")
//	monthly                             2835 CNY, all in namespace cost-seed
//
// and cost-seed's budget of 2000 CNY is exceeded by 835 CNY. Nothing else in the shared
// cluster is priced in CNY, so the CNY totals are this test's alone.
func TestCostLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	const (
		ns    = "cost-seed"
		class = "idc-receiver-web-20220328"
	)
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	retain := corev1.PersistentVolumeReclaimRetain
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: scenario.Driver,
		ReclaimPolicy: &retain, Parameters: map[string]string{"type": "cloud_efficiency"}}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	bind := func(pv, claim, size string) {
		t.Helper()
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, scenario.CSIPV(pv, class, size, retain), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, scenario.Claim(ns, claim, class, size, pv), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 8; i++ {
		bind(fmt.Sprintf("cost-seed-%d", i), fmt.Sprintf("data-receiver-%d", i), "1000Gi")
	}
	bind("cost-seed-released", "old-data", "100Gi")
	for i := 0; i < 8; i++ {
		if _, err := env.WaitClaimBound(ctx, ns, fmt.Sprintf("data-receiver-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.WaitClaimBound(ctx, ns, "old-data"); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "old-data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitPVPhase(ctx, "cost-seed-released", corev1.VolumeReleased); err != nil {
		t.Fatal(err)
	}

	rep := auditArgs(t, "run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--config", "testdata/cost.yaml")
	c := rep.Cost
	if c == nil {
		t.Fatal("the report has no cost section")
	}
	const bound, released = 8 * 1000 * 0.35, 100 * 0.35
	if got := c.Monthly["CNY"]; got != bound+released {
		t.Errorf("cost.monthly.CNY = %v, want %v + %v = %v", got, bound, released, bound+released)
	}
	if got := c.Monthly["CNY"] - c.Waste["CNY"]; got != 2800 {
		t.Errorf("the seed's 8 Bound 1000Gi claims cost %v CNY a month, want 2800", got)
	}
	if got := c.Waste["CNY"]; got != released {
		t.Errorf("cost.waste.CNY = %v, want the Released volume's %v", got, released)
	}
	line := func(lines []audit.CostLine, name string) audit.CostLine {
		t.Helper()
		for _, l := range lines {
			if l.Name == name {
				return l
			}
		}
		t.Fatalf("no line %q in %+v", name, lines)
		return audit.CostLine{}
	}
	if l := line(c.ByNamespace, ns); l.Monthly["CNY"] != bound+released || l.Volumes != 9 || l.GiB != 8100 {
		t.Errorf("byNamespace %s = %+v, want %v CNY for 9 volumes, 8100 GiB", ns, l, bound+released)
	}
	if l := line(c.ByStorageClass, class); l.Monthly["CNY"] != bound+released || l.Volumes != 9 {
		t.Errorf("byStorageClass %s = %+v", class, l)
	}
	if l := line(c.WasteByBucket, "released"); l.Monthly["CNY"] != released || l.Volumes < 1 {
		t.Errorf("wasteByBucket released = %+v, want %v CNY", l, released)
	}
	top := false
	for _, w := range c.TopWaste {
		if w.Object.Name == "cost-seed-released" {
			top = w.Monthly == released && w.Currency == "CNY" && w.RuleID == "pv-released-retained"
		}
	}
	if !top {
		t.Errorf("topWaste should list cost-seed-released at %v CNY: %+v", released, c.TopWaste)
	}

	f := require(t, rep, "pv-released-retained", "", "cost-seed-released")
	if f.Details["monthlyCost"] != "35.00" || f.Details["currency"] != "CNY" {
		t.Errorf("the waste finding should carry its cost: %+v", f.Details)
	}
	b := require(t, rep, "cost-budget", "", ns)
	if b.Object.Kind != "Namespace" || b.Severity != audit.Warning || b.Details["monthlyCost"] != "2835.00" ||
		b.Details["budget"] != "2000.00" || b.Details["overBy"] != "835.00" || b.Details["currency"] != "CNY" {
		t.Errorf("cost-budget finding = %+v", b)
	}
}
