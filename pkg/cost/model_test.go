package cost

import (
	"errors"
	"strings"
	"testing"
)

const giB = int64(1) << 30

func f64(v float64) *float64 { return &v }

// seedConfig is the issue's example: the seed cluster's class in CNY, io2 by provisioner.
func seedConfig() Config {
	return Config{
		Currency: "USD",
		Prices: []Price{
			{StorageClass: "idc-receiver-web-20220328", PerGiBMonth: f64(0.35), Currency: "CNY"},
			{Provisioner: "ebs.csi.aws.com", Parameters: map[string]string{"type": "io2"}, PerGiBMonth: f64(0.2)},
		},
	}
}

func TestPrice(t *testing.T) {
	seed, err := Compile(seedConfig())
	if err != nil {
		t.Fatal(err)
	}
	noShipped, err := Compile(Config{ShippedPrices: new(bool),
		Prices: []Price{{Provisioner: "nfs.csi.k8s.io", PerGiBMonth: f64(0.01), Currency: "EUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	firstWins, err := Compile(Config{Currency: "EUR", Prices: []Price{
		{StorageClass: "fast", Provisioner: "ebs.csi.aws.com", PerGiBMonth: f64(0.5)},
		{Provisioner: "ebs.csi.aws.com", PerGiBMonth: f64(0.05)},
		{StorageClass: "fast", PerGiBMonth: f64(9)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	azureTiers, err := Compile(Config{Prices: []Price{{Provisioner: "disk.csi.azure.com",
		Parameters: map[string]string{"skuName": "Premium_LRS"},
		Tiers:      []Tier{{MaxGiB: 64, Monthly: 7}, {MaxGiB: 128, Monthly: 13}}, Currency: "EUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	ebs := func(params map[string]string) Volume {
		return Volume{StorageClass: "x", Provisioner: "ebs.csi.aws.com", Parameters: params, Bytes: 100 * giB}
	}
	azure := func(prov string, params map[string]string, size int64) Volume {
		return Volume{StorageClass: "managed", Provisioner: prov, Parameters: params, Bytes: size}
	}
	premium := map[string]string{"skuName": "Premium_LRS"}
	cases := []struct {
		name   string
		m      *Model
		v      Volume
		amount float64 // want; ignored when !ok
		cur    string
		source string
		ok     bool
	}{
		// By StorageClass name.
		{"seed class in CNY", seed, Volume{StorageClass: "idc-receiver-web-20220328", Provisioner: "diskplugin.csi.alibabacloud.com",
			Parameters: map[string]string{"type": "cloud_efficiency"}, Bytes: 1000 * giB}, 350, "CNY", "cost.prices[0]", true},
		{"fractional GiB", seed, Volume{StorageClass: "idc-receiver-web-20220328", Bytes: giB / 2}, 0.175, "CNY", "cost.prices[0]", true},
		// By provisioner and parameters; config entries before shipped ones.
		{"io2 by config, not the shipped 0.125", seed, ebs(map[string]string{"type": "io2"}), 20, "USD", "cost.prices[1]", true},
		{"parameter values case-insensitive", seed, ebs(map[string]string{"Type": "IO2"}), 20, "USD", "cost.prices[1]", true},
		{"in-tree aws-ebs priced as its CSI driver", seed, Volume{Provisioner: "kubernetes.io/aws-ebs", Parameters: map[string]string{"type": "io2"}, Bytes: 100 * giB}, 20, "USD", "cost.prices[1]", true},
		// Shipped prices.
		{"shipped gp3", seed, ebs(map[string]string{"type": "gp3"}), 8, "USD", shippedSourceAWS, true},
		{"EBS CSI without type is gp3", seed, ebs(nil), 8, "USD", shippedSourceAWS, true},
		{"in-tree EBS without type is gp2", seed, Volume{Provisioner: "kubernetes.io/aws-ebs", Bytes: 100 * giB}, 10, "USD", shippedSourceAWS, true},
		{"shipped io1", seed, ebs(map[string]string{"type": "io1", "iopsPerGB": "50"}), 12.5, "USD", shippedSourceAWS, true},
		{"shipped st1", seed, ebs(map[string]string{"type": "st1"}), 4.5, "USD", shippedSourceAWS, true},
		{"shipped sc1", seed, ebs(map[string]string{"type": "sc1"}), 1.5, "USD", shippedSourceAWS, true},
		{"GCE PD balanced", seed, Volume{Provisioner: "pd.csi.storage.gke.io", Parameters: map[string]string{"type": "pd-balanced"}, Bytes: 200 * giB}, 20, "USD", shippedSourceGCP, true},
		{"GCE PD ssd", seed, Volume{Provisioner: "pd.csi.storage.gke.io", Parameters: map[string]string{"type": "pd-ssd"}, Bytes: 100 * giB}, 17, "USD", shippedSourceGCP, true},
		{"in-tree gce-pd without type is pd-standard", seed, Volume{Provisioner: "kubernetes.io/gce-pd", Bytes: 100 * giB}, 4, "USD", shippedSourceGCP, true},
		// Azure tiers: the size rounds up to the tier.
		{"Azure P4 at 32 GiB", seed, azure("disk.csi.azure.com", premium, 32*giB), 5.28, "USD", shippedSourceAzureTiers, true},
		{"Azure 20 GiB rounds up to P4", seed, azure("disk.csi.azure.com", premium, 20*giB), 5.28, "USD", shippedSourceAzureTiers, true},
		{"Azure 33 GiB rounds up to P6", seed, azure("disk.csi.azure.com", premium, 33*giB), 10.21, "USD", shippedSourceAzureTiers, true},
		{"Azure E30 at 1 TiB", seed, azure("disk.csi.azure.com", map[string]string{"skuname": "standardssd_lrs"}, 1024*giB), 76.80, "USD", shippedSourceAzureTiers, true},
		{"Azure CSI without skuName is StandardSSD_LRS", seed, azure("disk.csi.azure.com", nil, 1000*giB), 76.80, "USD", shippedSourceAzureTiers, true},
		{"in-tree azure-disk storageaccounttype", seed, azure("kubernetes.io/azure-disk", map[string]string{"storageaccounttype": "Premium_LRS", "kind": "Managed"}, 100*giB), 19.71, "USD", shippedSourceAzureTiers, true},
		{"in-tree azure-disk default Standard_LRS", seed, azure("kubernetes.io/azure-disk", nil, 1024*giB), 40.96, "USD", shippedSourceAzureTiers, true},
		{"Azure larger than the largest tier", seed, azure("disk.csi.azure.com", premium, 40000*giB), 0, "", "", false},
		{"configured tiers", azureTiers, azure("kubernetes.io/azure-disk", map[string]string{"storageAccountType": "premium_lrs"}, 100*giB), 13, "EUR", "cost.prices[0]", true},
		// Unpriced.
		{"hostPath / no provisioner", seed, Volume{StorageClass: "manual", Bytes: 100 * giB}, 0, "", "", false},
		{"local-path", seed, Volume{StorageClass: "local-path", Provisioner: "rancher.io/local-path", Bytes: 100 * giB}, 0, "", "", false},
		{"NFS", seed, Volume{StorageClass: "nfs", Provisioner: "nfs.csi.k8s.io", Bytes: 100 * giB}, 0, "", "", false},
		{"EBS type nobody priced", seed, ebs(map[string]string{"type": "standard"}), 0, "", "", false},
		{"GCE hyperdisk", seed, Volume{Provisioner: "pd.csi.storage.gke.io", Parameters: map[string]string{"type": "hyperdisk-balanced"}, Bytes: giB}, 0, "", "", false},
		// shippedPrices: false.
		{"shipped prices off", noShipped, ebs(map[string]string{"type": "gp3"}), 0, "", "", false},
		{"config price with shipped off", noShipped, Volume{Provisioner: "nfs.csi.k8s.io", Bytes: 100 * giB}, 1, "EUR", "cost.prices[0]", true},
		// First match wins; cost.currency is the default currency.
		{"first match wins", firstWins, Volume{StorageClass: "fast", Provisioner: "ebs.csi.aws.com", Bytes: 10 * giB}, 5, "EUR", "cost.prices[0]", true},
		{"second entry for other classes", firstWins, Volume{StorageClass: "slow", Provisioner: "ebs.csi.aws.com", Bytes: 10 * giB}, 0.5, "EUR", "cost.prices[1]", true},
		{"class-only entry after", firstWins, Volume{StorageClass: "fast", Provisioner: "other", Bytes: 10 * giB}, 90, "EUR", "cost.prices[2]", true},
		// Default model.
		{"default model", DefaultModel(), ebs(map[string]string{"type": "gp2"}), 10, "USD", shippedSourceAWS, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, ok := c.m.Price(c.v)
			if ok != c.ok {
				t.Fatalf("Price(%+v) ok = %v, want %v (quote %+v)", c.v, ok, c.ok, q)
			}
			if !ok {
				return
			}
			if q.Amount() != c.amount || q.Currency != c.cur || q.Source != c.source {
				t.Errorf("Price(%+v) = %v %s from %q, want %v %s from %q", c.v, q.Amount(), q.Currency, q.Source, c.amount, c.cur, c.source)
			}
		})
	}
}

// TestShippedTablesIncludeTheIssuePrices pins the prices issue #8 quotes.
func TestShippedTablesIncludeTheIssuePrices(t *testing.T) {
	find := func(ts []Tier, size float64) float64 {
		for _, tr := range ts {
			if tr.MaxGiB == size {
				return tr.Monthly
			}
		}
		return -1
	}
	if got := find(azurePremiumTiers, 32); got != 5.28 {
		t.Errorf("P4 32 GiB = %v, want 5.28", got)
	}
	if got := find(azureStandardSSDTiers, 1024); got != 76.80 {
		t.Errorf("E30 1 TiB = %v, want 76.80", got)
	}
	for _, ts := range [][]Tier{azurePremiumTiers, azureStandardSSDTiers, azureStandardHDDTiers} {
		if err := (Price{Provisioner: "p", Tiers: ts}).validate(nil); err != nil {
			t.Errorf("shipped tiers invalid: %v", err)
		}
	}
	for _, s := range shippedPrices {
		if err := s.price.validate(nil); err != nil {
			t.Errorf("shipped price %+v invalid: %v", s.price, err)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		c    Config
		want string
	}{
		{Config{Currency: "usd"}, `cost.currency: "usd" is not a currency code`},
		{Config{Prices: []Price{{StorageClass: "a", PerGiBMonth: f64(1)}, {PerGiBMonth: f64(1)}}}, "cost.prices[1]: set storageClass or provisioner"},
		{Config{Prices: []Price{{StorageClass: "a"}}}, "cost.prices[0]: set perGiBMonth"},
		{Config{Prices: []Price{{StorageClass: "a", PerGiBMonth: f64(-1)}}}, "cost.prices[0].perGiBMonth: must be a number >= 0"},
		{Config{Prices: []Price{{StorageClass: "a", PerGiBMonth: f64(1), Tiers: []Tier{{1, 1}}}}}, "cost.prices[0]: set perGiBMonth or tiers, not both"},
		{Config{Prices: []Price{{StorageClass: "a", Tiers: []Tier{{64, 1}, {32, 1}}}}}, "cost.prices[0].tiers[1].maxGiB: must be > 0 and larger"},
		{Config{Prices: []Price{{StorageClass: "a", Tiers: []Tier{{64, -1}}}}}, "cost.prices[0].tiers[0].monthly"},
		{Config{Prices: []Price{{StorageClass: "a", PerGiBMonth: f64(1), Currency: "Yuan"}}}, "cost.prices[0].currency"},
		{Config{Prices: []Price{{Provisioner: "p", Parameters: map[string]string{"type": ""}, PerGiBMonth: f64(1)}}}, "cost.prices[0].parameters.type: empty value"},
		{Config{Budgets: Budgets{Cluster: map[string]float64{"USD": -5}}}, "cost.budgets.cluster.USD: must be a number >= 0"},
		{Config{Budgets: Budgets{Cluster: map[string]float64{"dollars": 5}}}, "cost.budgets.cluster.dollars: \"dollars\" is not a currency code"},
		{Config{Budgets: Budgets{Namespaces: map[string]map[string]float64{"Shop": {"USD": 1}}}}, `cost.budgets.namespaces.Shop: "Shop" is not a namespace name`},
		{Config{Budgets: Budgets{Namespaces: map[string]map[string]float64{"shop": {}}}}, "cost.budgets.namespaces.shop: no budget"},
	}
	for _, c := range cases {
		err := c.c.Validate()
		var fe *FieldError
		if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want a FieldError containing %q", c.c, err, c.want)
		}
		if _, err := Compile(c.c); err == nil {
			t.Errorf("Compile(%+v) accepted an invalid config", c.c)
		}
	}
	if err := seedConfig().Validate(); err != nil {
		t.Errorf("seed config: %v", err)
	}
	if err := (Config{ShippedPrices: new(bool), Prices: []Price{{StorageClass: "free", PerGiBMonth: f64(0)}},
		Budgets: Budgets{Cluster: map[string]float64{"USD": 0}}}).Validate(); err != nil {
		t.Errorf("zero prices and budgets are allowed: %v", err)
	}
}
