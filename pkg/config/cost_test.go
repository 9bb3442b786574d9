package config

import (
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

const gib = int64(1) << 30

func TestCostErrorsNameTheLine(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"cost:\n  prices:\n    - storageClass: a\n      perGiBMonth: 1\n    - storageClass: b\n      perGiBMonth: -1\n",
			"c.yaml:6: cost.prices[1].perGiBMonth: must be a number >= 0"},
		{"cost:\n  prices:\n    - perGiBMonth: 1\n",
			"c.yaml:3: cost.prices[0]: set storageClass or provisioner"},
		{"cost:\n  prices:\n    - storageClass: a\n      tiers:\n        - {maxGiB: 64, monthly: 1}\n        - {maxGiB: 32, monthly: 2}\n",
			"c.yaml:6: cost.prices[0].tiers[1].maxGiB"},
		{"cost:\n  currency: dollars\n", `c.yaml:2: cost.currency: "dollars" is not a currency code`},
		{"cost:\n  budgets:\n    namespaces:\n      shop: {usd: 300}\n", `c.yaml:4: cost.budgets.namespaces.shop.usd: "usd" is not a currency code`},
		{"cost:\n  prices:\n    - storageClass: a\n      perGBMonth: 1\n", `c.yaml:4: unknown key "perGBMonth"`},
		{"cost:\n  prices:\n    - storageClass: a\n      perGiBMonth: cheap\n", "c.yaml:4: cannot unmarshal"},
	}
	for _, c := range cases {
		_, err := Parse("c.yaml", []byte(c.doc), catalog.All())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line containing %q", c.doc, err, c.want)
		}
	}
}

// TestCostSettings: the config's prices reach the engine settings, ahead of the shipped
// ones, with the budgets.
func TestCostSettings(t *testing.T) {
	c, err := Parse("c.yaml", []byte(`cost:
  prices:
    - storageClass: idc-receiver-web-20220328
      perGiBMonth: 0.35
      currency: CNY
    - provisioner: ebs.csi.aws.com
      parameters: {type: io2}
      perGiBMonth: 0.125
  budgets:
    namespaces:
      receiver: {CNY: 2000}
`), catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Settings().Cost
	if m == nil {
		t.Fatal("settings carry no cost model")
	}
	q, ok := m.Price(cost.Volume{StorageClass: "idc-receiver-web-20220328", Bytes: 1000 * gib})
	if !ok || q.Amount() != 350 || q.Currency != "CNY" {
		t.Errorf("seed class: %+v %v, want 350 CNY", q, ok)
	}
	if q, ok := m.Price(cost.Volume{Provisioner: "ebs.csi.aws.com", Bytes: 100 * gib}); !ok || q.Amount() != 8 {
		t.Errorf("the shipped prices still apply after the config's: %+v %v", q, ok)
	}
	if b := m.Budgets(); b.Namespaces["receiver"]["CNY"] != 2000 {
		t.Errorf("budgets %+v", b)
	}
	empty, _ := Parse("c.yaml", []byte("minSeverity: info\n"), catalog.All())
	if q, ok := empty.Settings().Cost.Price(cost.Volume{Provisioner: "ebs.csi.aws.com", Bytes: 100 * gib}); !ok || q.Amount() != 8 {
		t.Errorf("without a cost section the shipped prices apply: %+v %v", q, ok)
	}
}

// TestCostExamples keeps the per-cloud example configs loadable, and checks one volume of
// each is priced as the file says.
func TestCostExamples(t *testing.T) {
	cases := []struct {
		file   string
		v      cost.Volume
		amount float64
		cur    string
	}{
		{"cost-aws.yaml", cost.Volume{Provisioner: "kubernetes.io/aws-ebs", Parameters: map[string]string{"type": "io2"}, Bytes: 1000 * gib}, 125, "USD"},
		{"cost-gcp.yaml", cost.Volume{Provisioner: "pd.csi.storage.gke.io", Parameters: map[string]string{"type": "pd-ssd", "replication-type": "regional-pd"}, Bytes: 100 * gib}, 34, "USD"},
		{"cost-gcp.yaml", cost.Volume{Provisioner: "pd.csi.storage.gke.io", Parameters: map[string]string{"type": "pd-ssd"}, Bytes: 100 * gib}, 17, "USD"},
		{"cost-azure.yaml", cost.Volume{Provisioner: "disk.csi.azure.com", Parameters: map[string]string{"skuname": "Premium_LRS"}, Bytes: 100 * gib}, 19.71, "USD"},
		{"cost-azure.yaml", cost.Volume{Provisioner: "disk.csi.azure.com", Bytes: 1024 * gib}, 76.80, "USD"}, // shipped E30
		{"cost-alibaba.yaml", cost.Volume{StorageClass: "idc-receiver-web-20220328", Bytes: 1000 * gib}, 350, "CNY"},
		{"cost-alibaba.yaml", cost.Volume{Provisioner: "diskplugin.csi.alibabacloud.com", Parameters: map[string]string{"type": "cloud_essd", "performanceLevel": "PL1"}, Bytes: 100 * gib}, 100, "CNY"},
		{"cost-alibaba.yaml", cost.Volume{Provisioner: "diskplugin.csi.alibabacloud.com", Parameters: map[string]string{"type": "cloud_essd", "performanceLevel": "PL3"}, Bytes: 100 * gib}, 400, "CNY"},
	}
	for _, c := range cases {
		cfg, err := Load("../../config/"+c.file, catalog.All())
		if err != nil {
			t.Fatal(err)
		}
		q, ok := cfg.Settings().Cost.Price(c.v)
		if !ok || q.Amount() != c.amount || q.Currency != c.cur {
			t.Errorf("%s prices %+v at %v %s (ok %v), want %v %s", c.file, c.v, q.Amount(), q.Currency, ok, c.amount, c.cur)
		}
	}
	alibaba, _ := Load("../../config/cost-alibaba.yaml", catalog.All())
	if _, ok := alibaba.Settings().Cost.Price(cost.Volume{Provisioner: "ebs.csi.aws.com", Bytes: gib}); ok {
		t.Error("cost-alibaba.yaml turns the shipped USD prices off")
	}
}
