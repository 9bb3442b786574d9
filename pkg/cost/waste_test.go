package cost

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func pvRef(name string) audit.ObjectRef { return audit.ObjectRef{Kind: "PersistentVolume", Name: name} }

func pvcRef(ns, name string) audit.ObjectRef {
	return audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name}
}

// TestApplyWaste uses the test cluster of TestCompute:
//
//	retained-ordinal  receiver/data-web-7 (also reported by pvc-unused)  350 CNY
//	released          pv-released                                          16 USD
//	available         pv-binding                                          1.6 USD
//	unused            shop/cache, hostPath                               unpriced
//
// Waste: 350 CNY and 17.6 USD, four volumes.
func TestApplyWaste(t *testing.T) {
	b := Compute(loadTestCluster(t), seedModel(t), nil)
	shown := []audit.Finding{
		{RuleID: "sts-retained-ordinal", Object: pvcRef("receiver", "data-web-7"), Details: map[string]string{"ordinal": "7"}},
		{RuleID: "pv-released-retained", Object: pvRef("pv-released")},
		{RuleID: "pvc-unused", Object: pvcRef("shop", "cache"), Details: map[string]string{}},
		{RuleID: "pv-failed", Object: pvRef("pv-api"), Details: map[string]string{}},               // not a waste rule
		{RuleID: "pv-released-stuck", Object: pvRef("pv-elsewhere"), Details: map[string]string{}}, // not costed (out of scope)
	}
	hidden := []audit.Finding{
		{RuleID: "pvc-unused", Object: pvcRef("receiver", "data-web-7"), Details: map[string]string{}}, // same volume again
		{RuleID: "pv-available-unreserved", Object: pvRef("pv-binding"), Details: map[string]string{}},
	}
	ApplyWaste(b, shown, hidden)
	c := b.Cost

	if want := (audit.Money{"CNY": 350, "USD": 17.6}); !reflect.DeepEqual(c.Waste, want) {
		t.Errorf("waste = %v, want %v", c.Waste, want)
	}
	checkLines(t, "wasteByBucket", c.WasteByBucket, []audit.CostLine{
		{Name: BucketRetainedOrdinal, Monthly: audit.Money{"CNY": 350}, Volumes: 1, GiB: 1000},
		{Name: BucketReleased, Monthly: audit.Money{"USD": 16}, Volumes: 1, GiB: 200},
		{Name: BucketAvailable, Monthly: audit.Money{"USD": 1.6}, Volumes: 1, GiB: 20},
		{Name: BucketUnused, Monthly: audit.Money{}, Volumes: 1, GiB: 10},
	})
	wantTop := []audit.WastedVolume{
		{Object: pvcRef("receiver", "data-web-7"), Bucket: BucketRetainedOrdinal, RuleID: "sts-retained-ordinal", GiB: 1000, Monthly: 350, Currency: "CNY"},
		{Object: pvRef("pv-released"), Bucket: BucketReleased, RuleID: "pv-released-retained", GiB: 200, Monthly: 16, Currency: "USD"},
		{Object: pvRef("pv-binding"), Bucket: BucketAvailable, RuleID: "pv-available-unreserved", GiB: 20, Monthly: 1.6, Currency: "USD"},
	}
	if !reflect.DeepEqual(c.TopWaste, wantTop) {
		t.Errorf("topWaste:\n got %+v\nwant %+v", c.TopWaste, wantTop)
	}

	details := []struct {
		f         audit.Finding
		cost, cur string // "" when the finding must carry none
	}{
		{shown[0], "350.00", "CNY"},
		{shown[1], "16.00", "USD"},
		{shown[2], "", ""}, // unpriced hostPath volume
		{shown[3], "", ""},
		{shown[4], "", ""},
		{hidden[0], "350.00", "CNY"}, // priced, though its volume counts once
		{hidden[1], "1.60", "USD"},
	}
	for _, d := range details {
		if d.f.Details["monthlyCost"] != d.cost || d.f.Details["currency"] != d.cur {
			t.Errorf("%s on %s: details %v, want monthlyCost %q currency %q", d.f.RuleID, d.f.Object, d.f.Details, d.cost, d.cur)
		}
	}
	if shown[0].Details["ordinal"] != "7" {
		t.Errorf("existing details must be kept: %v", shown[0].Details)
	}

	// Applying again does not count the volumes twice.
	ApplyWaste(b, shown, hidden)
	if want := (audit.Money{"CNY": 350, "USD": 17.6}); !reflect.DeepEqual(b.Cost.Waste, want) {
		t.Errorf("waste after a second ApplyWaste = %v, want %v", b.Cost.Waste, want)
	}
}

// TestTopWastePerCurrency: at most TopWasteLimit volumes per currency, most expensive first,
// ties broken by size then object, currencies never compared.
func TestTopWastePerCurrency(t *testing.T) {
	var cs []wasteCandidate
	for i := 0; i < 12; i++ {
		cs = append(cs, wasteCandidate{WastedVolume: audit.WastedVolume{Object: pvRef(fmt.Sprintf("usd-%02d", i)), Currency: "USD"},
			micros: int64(i%6) * 1e6, bytes: int64(i)})
	}
	cs = append(cs, wasteCandidate{WastedVolume: audit.WastedVolume{Object: pvRef("cny-small"), Currency: "CNY"}, micros: 1})
	cs = append(cs, wasteCandidate{WastedVolume: audit.WastedVolume{Object: pvRef("cny-tie-b"), Currency: "CNY"}, micros: 5, bytes: 1})
	cs = append(cs, wasteCandidate{WastedVolume: audit.WastedVolume{Object: pvRef("cny-tie-a"), Currency: "CNY"}, micros: 5, bytes: 1})
	var got []string
	for _, w := range topWaste(cs) {
		got = append(got, w.Object.Name)
	}
	want := []string{"cny-tie-a", "cny-tie-b", "cny-small",
		"usd-11", "usd-05", "usd-10", "usd-04", "usd-09", "usd-03", "usd-08", "usd-02", "usd-07", "usd-01"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topWaste order\n got %v\nwant %v", got, want)
	}
}
