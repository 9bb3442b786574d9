package cost

import (
	"reflect"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

func loadTestCluster(t testing.TB) *snapshot.Snapshot {
	t.Helper()
	snap, _, err := snapshot.LoadFiles("testdata/cluster.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func seedModel(t testing.TB) *Model {
	t.Helper()
	m, err := Compile(seedConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The test cluster, priced with seedConfig (idc-receiver-web-20220328 at 0.35 CNY, gp3 at
// the shipped 0.08 USD):
//
//	receiver  8 PVs × 1000Gi × 0.35 CNY                       = 2800 CNY  (StatefulSet web)
//	shop      pv-api       100Gi × 0.08                        =    8 USD  (Deployment api, via its ReplicaSet)
//	          new-data     50Gi Pending, at its request × 0.08 =    4 USD
//	          pv-released  200Gi Released, in its old claim's namespace = 16 USD
//	          pv-local     10Gi hostPath                       = unpriced
//	          gone         Lost: its PV is gone                = not counted
//	(no claim) pv-binding  20Gi, claim "binding" names it      =  1.6 USD (counted once)
//
// Total 2800 CNY and 29.6 USD, 13 volumes, 1 unpriced.
func TestCompute(t *testing.T) {
	b := Compute(loadTestCluster(t), seedModel(t), nil)
	c := b.Cost
	if want := (audit.Money{"CNY": 2800, "USD": 29.6}); !reflect.DeepEqual(c.Monthly, want) {
		t.Errorf("monthly = %v, want %v", c.Monthly, want)
	}
	if c.Volumes != 13 || c.Unpriced != 1 {
		t.Errorf("volumes %d unpriced %d, want 13 and 1", c.Volumes, c.Unpriced)
	}
	checkLines(t, "byNamespace", c.ByNamespace, []audit.CostLine{
		{Name: "receiver", Monthly: audit.Money{"CNY": 2800}, Volumes: 8, GiB: 8000},
		{Name: "shop", Monthly: audit.Money{"USD": 28}, Volumes: 4, GiB: 360},
		{Name: NoClaim, Monthly: audit.Money{"USD": 1.6}, Volumes: 1, GiB: 20},
	})
	checkLines(t, "byStorageClass", c.ByStorageClass, []audit.CostLine{
		{Name: "idc-receiver-web-20220328", Monthly: audit.Money{"CNY": 2800}, Volumes: 8, GiB: 8000},
		{Name: "gp3", Monthly: audit.Money{"USD": 29.6}, Volumes: 4, GiB: 370},
		{Name: "manual", Monthly: audit.Money{}, Volumes: 1, GiB: 10},
	})
	checkLines(t, "byWorkload", c.ByWorkload, []audit.CostLine{
		{Name: "StatefulSet/receiver/web", Monthly: audit.Money{"CNY": 2800}, Volumes: 8, GiB: 8000},
		{Name: NoWorkload, Monthly: audit.Money{"USD": 21.6}, Volumes: 4, GiB: 280},
		{Name: "Deployment/shop/api", Monthly: audit.Money{"USD": 8}, Volumes: 1, GiB: 100},
	})
	if len(c.WasteByBucket) != 0 || len(c.TopWaste) != 0 || len(c.Waste) != 0 {
		t.Errorf("no waste before ApplyWaste: %+v", c)
	}
}

// TestComputeScope: with a namespace filter only the covered namespaces are costed; PVs
// without a claimRef are cluster-scoped and always covered.
func TestComputeScope(t *testing.T) {
	c := Compute(loadTestCluster(t), seedModel(t), func(ns string) bool { return ns == "shop" }).Cost
	if want := (audit.Money{"USD": 29.6}); !reflect.DeepEqual(c.Monthly, want) {
		t.Errorf("monthly = %v, want %v", c.Monthly, want)
	}
	if c.Volumes != 5 || len(c.ByNamespace) != 2 || c.ByNamespace[0].Name != "shop" || c.ByNamespace[1].Name != NoClaim {
		t.Errorf("covered %d volumes in %+v, want shop's 4 and the unclaimed PV", c.Volumes, c.ByNamespace)
	}
}

// TestComputeDefaultModel: a nil model prices with the shipped list prices only: the seed
// class is unpriced then, and nothing is ever counted in two currencies.
func TestComputeDefaultModel(t *testing.T) {
	c := Compute(loadTestCluster(t), nil, nil).Cost
	if want := (audit.Money{"USD": 29.6}); !reflect.DeepEqual(c.Monthly, want) || c.Unpriced != 9 {
		t.Errorf("monthly = %v with %d unpriced, want %v with 9", c.Monthly, c.Unpriced, want)
	}
}

func checkLines(t *testing.T, what string, got, want []audit.CostLine) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// TestSortLinesMixedCurrencies: lines compare in the first currency, then the next; a line
// with no amount in the first currency sorts after every line that has one.
func TestSortLinesMixedCurrencies(t *testing.T) {
	ls := []audit.CostLine{
		{Name: "b", Monthly: audit.Money{"USD": 100}},
		{Name: "a", Monthly: audit.Money{"USD": 100}},
		{Name: "c", Monthly: audit.Money{"CNY": 1}},
		{Name: "d", Monthly: audit.Money{"CNY": 1, "USD": 1}},
		{Name: "e", Monthly: audit.Money{}, GiB: 5},
		{Name: "f", Monthly: audit.Money{}},
	}
	sortLines(ls, []string{"CNY", "USD"})
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if want := []string{"d", "c", "a", "b", "e", "f"}; !reflect.DeepEqual(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}
