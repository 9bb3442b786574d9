package rules

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// ebsPV is a 100Gi EBS CSI volume (shipped gp3 price: 8 USD a month) claimed from ns.
func ebsPV(name, ns string, ann map[string]string) *corev1.PersistentVolume {
	p := pv(name, ns, ann)
	p.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("100Gi")}
	p.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-" + name}
	return p
}

// testRule is everyPV at severity info, with the metadata NewEngine requires.
func testRule(id string) *Rule {
	r := everyPV(id, audit.Info)
	r.Action = "test"
	return r
}

// TestEngineCost: the engine computes the cost section before the rules and adds the waste
// of the waste rules' findings after them: findings hidden by the minimum severity still
// count, findings suppressed by annotation and volumes outside the namespace filter do not.
func TestEngineCost(t *testing.T) {
	var seen *audit.Cost
	observer := testRule("pv-observer")
	observer.Check = func(p *Pass) error {
		seen = p.Cost()
		return nil
	}
	// pv-released-retained is a waste rule: this stand-in reports every PV as waste.
	eng, err := NewEngine([]*Rule{testRule("pv-released-retained"), observer})
	if err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot(
		ebsPV("shop-a", "shop", nil),
		ebsPV("shop-kept", "shop", map[string]string{IgnoreAnnotation: "pv-released-retained: kept for audit"}),
		ebsPV("web-a", "web", nil),
		ebsPV("unclaimed", "", nil),
	)
	cases := []struct {
		name            string
		s               Settings
		monthly, waste  audit.Money
		findings        int
		detailOnShopA   string // details.monthlyCost on shop-a's finding, "" when not shown
		wastedVolumes   int
		namespacesCosts int
	}{
		{"all shown", Settings{}, audit.Money{"USD": 32}, audit.Money{"USD": 24}, 3, "8.00", 3, 3},
		{"hidden by min severity still waste", Settings{MinSeverity: audit.Warning},
			audit.Money{"USD": 32}, audit.Money{"USD": 24}, 0, "", 3, 3},
		{"namespace filter", Settings{IncludeNamespaces: []string{"shop"}},
			audit.Money{"USD": 24}, audit.Money{"USD": 16}, 2, "8.00", 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.s.Only = []string{"pv-released-retained", "pv-observer"}
			res, err := eng.Run(context.Background(), snap, c.s, now)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Report.Cost
			if got == nil {
				t.Fatal("no cost section")
			}
			if seen != got {
				t.Error("rules must see the report's cost section")
			}
			if !reflect.DeepEqual(got.Monthly, c.monthly) || !reflect.DeepEqual(got.Waste, c.waste) {
				t.Errorf("monthly %v waste %v, want %v and %v", got.Monthly, got.Waste, c.monthly, c.waste)
			}
			if len(got.TopWaste) != c.wastedVolumes || len(got.ByNamespace) != c.namespacesCosts {
				t.Errorf("%d wasted volumes in %d namespaces, want %d in %d: %+v", len(got.TopWaste), len(got.ByNamespace), c.wastedVolumes, c.namespacesCosts, got)
			}
			for _, w := range got.TopWaste {
				if w.Object.Name == "shop-kept" {
					t.Error("a volume annotated to be ignored is kept on purpose: not waste")
				}
			}
			var shopA string
			for _, f := range res.Report.Findings {
				if f.RuleID == "pv-released-retained" && f.Object.Name == "shop-a" {
					shopA = f.Details["monthlyCost"]
				}
			}
			if len(res.Report.Findings) != c.findings || shopA != c.detailOnShopA {
				t.Errorf("%d findings, shop-a's monthlyCost %q; want %d and %q", len(res.Report.Findings), shopA, c.findings, c.detailOnShopA)
			}
		})
	}
}

func TestEngineCostNeedsPVs(t *testing.T) {
	eng, err := NewEngine([]*Rule{testRule("pv-one")})
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot.New("no-pvs")
	snap.Index()
	res, err := eng.Run(context.Background(), snap, Settings{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Cost != nil {
		t.Errorf("without PersistentVolumes there is no cost to compute: %+v", res.Report.Cost)
	}
}

func TestPassBudgets(t *testing.T) {
	m, err := cost.Compile(cost.Config{Budgets: cost.Budgets{Cluster: map[string]float64{"USD": 10}}})
	if err != nil {
		t.Fatal(err)
	}
	var got cost.Budgets
	r := testRule("pv-budget-reader")
	r.Check = func(p *Pass) error { got = p.Budgets(); return nil }
	eng, err := NewEngine([]*Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Settings{{}, {Cost: m}} {
		if _, err := eng.Run(context.Background(), testSnapshot(), s, now); err != nil {
			t.Fatal(err)
		}
		if want := s.Cost != nil; !got.Empty() != want {
			t.Errorf("settings %+v: budgets %+v", s, got)
		}
	}
	if got.Cluster["USD"] != 10 {
		t.Errorf("budgets %+v, want the cluster's 10 USD", got)
	}
}
