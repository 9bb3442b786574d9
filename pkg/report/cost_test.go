package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// sampleCost is the seed cluster's cost section (8 × 1000 GiB at 0.35 CNY) next to a shop
// priced in USD, with more workloads than the table shows and waste in both currencies.
func sampleCost() *audit.Cost {
	c := &audit.Cost{
		Monthly: audit.Money{"CNY": 2835, "USD": 1234.5},
		Waste:   audit.Money{"CNY": 35, "USD": 216},
		ByNamespace: []audit.CostLine{
			{Name: "receiver", Monthly: audit.Money{"CNY": 2835}, Volumes: 9, GiB: 8100},
			{Name: "shop", Monthly: audit.Money{"USD": 1218.5}, Volumes: 14, GiB: 12231.5},
			{Name: "(no claim)", Monthly: audit.Money{"USD": 16}, Volumes: 1, GiB: 200},
			{Name: "cache", Monthly: audit.Money{}, Volumes: 3, GiB: 300},
		},
		ByStorageClass: []audit.CostLine{
			{Name: "idc-receiver-web-20220328", Monthly: audit.Money{"CNY": 2835}, Volumes: 9, GiB: 8100},
			{Name: "gp3", Monthly: audit.Money{"USD": 978.52}, Volumes: 13, GiB: 12231.5},
			{Name: "io2", Monthly: audit.Money{"USD": 255.98}, Volumes: 2, GiB: 200},
			{Name: "local-path", Monthly: audit.Money{}, Volumes: 3, GiB: 300},
		},
		ByWorkload: []audit.CostLine{
			{Name: "StatefulSet/receiver/web", Monthly: audit.Money{"CNY": 2800}, Volumes: 8, GiB: 8000},
		},
		WasteByBucket: []audit.CostLine{
			{Name: "released", Monthly: audit.Money{"CNY": 35, "USD": 16}, Volumes: 2, GiB: 300},
			{Name: "unused", Monthly: audit.Money{"USD": 200}, Volumes: 1, GiB: 2500},
			{Name: "retained-ordinal", Monthly: audit.Money{}, Volumes: 1, GiB: 50},
		},
		TopWaste: []audit.WastedVolume{
			{Object: audit.ObjectRef{Kind: "PersistentVolume", Name: "pvc-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"}, Bucket: "released",
				RuleID: "pv-released-retained", GiB: 100, Monthly: 35, Currency: "CNY"},
			{Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: "export-2025"}, Bucket: "unused",
				RuleID: "pvc-unused", GiB: 2500, Monthly: 200, Currency: "USD"},
			{Object: audit.ObjectRef{Kind: "PersistentVolume", Name: "pv-old-orders"}, Bucket: "released",
				RuleID: "pv-released-stuck", GiB: 200, Monthly: 16, Currency: "USD"},
		},
		Volumes:  27,
		Unpriced: 3,
	}
	for i := 0; i < 12; i++ {
		c.ByWorkload = append(c.ByWorkload, audit.CostLine{Name: fmt.Sprintf("Deployment/shop/api-%02d", i),
			Monthly: audit.Money{"USD": float64(100 - i)}, Volumes: 1, GiB: float64(1000 - 10*i)})
	}
	return c
}

func TestCostTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCostTable(&b, sampleCost(), Options{Width: 100}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("plain table has ANSI escapes")
	}
	goldenFile(t, "cost.table", b.String())
}

func TestCostMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCostMarkdown(&b, sampleCost()); err != nil {
		t.Fatal(err)
	}
	checkTables(t, b.String())
	goldenFile(t, "cost.md", b.String())
}

// TestCostJSONGolden pins the section's shape in the report document.
func TestCostJSONGolden(t *testing.T) {
	rep := audit.NewReport("seed", sample().GeneratedAt)
	rep.Cost = sampleCost()
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cost json.RawMessage `json:"cost"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc.Cost, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	goldenFile(t, "cost.json", pretty.String())
}

// TestTableShowsCost: the run table ends with the cost section when the report has one.
func TestTableShowsCost(t *testing.T) {
	var without, with bytes.Buffer
	rep := sample()
	if err := WriteTable(&without, rep, Options{}); err != nil {
		t.Fatal(err)
	}
	rep.Cost = sampleCost()
	if err := WriteTable(&with, rep, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(without.String(), "Storage cost") {
		t.Errorf("no cost section without cost:\n%s", without.String())
	}
	if !strings.HasPrefix(with.String(), without.String()+"\nStorage cost: 2,835.00 CNY, 1,234.50 USD a month for 27 volumes; 3 without a price are not counted.\n") {
		t.Errorf("cost section should follow the findings:\n%s", with.String())
	}
}

func TestCostSummaryEdges(t *testing.T) {
	cases := []struct {
		c             *audit.Cost
		monthly, want string
	}{
		{&audit.Cost{Monthly: audit.Money{}, Volumes: 3, Unpriced: 3}, "no volume has a price (3 volumes)", ""},
		{&audit.Cost{Monthly: audit.Money{"EUR": 10}, Volumes: 1}, "10.00 EUR a month for 1 volume", ""},
		{&audit.Cost{Monthly: audit.Money{"EUR": 10}, Waste: audit.Money{}, Volumes: 2, Unpriced: 1,
			WasteByBucket: []audit.CostLine{{Name: "unused", Monthly: audit.Money{}, Volumes: 1}}},
			"10.00 EUR a month for 2 volumes; 1 without a price is not counted", "1 volume nobody uses"},
	}
	for _, c := range cases {
		monthly, waste := costSummary(c.c)
		if monthly != c.monthly || waste != c.want {
			t.Errorf("costSummary(%+v) = %q, %q; want %q, %q", c.c, monthly, waste, c.monthly, c.want)
		}
	}
}
