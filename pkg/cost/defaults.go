package cost

// The shipped prices: public list prices in USD, for capacity only (provisioned IOPS and
// throughput of io1/io2, gp3 above its baseline, or Premium SSD v2 are not priced). They
// are a starting point so that `auditor run` shows a cost without any configuration;
// regions, discounts and contracts differ, so cost.prices in the config file overrides
// them (first match wins, the config's entries before these) and cost.shippedPrices: false
// turns them off. docs/cost.md lists the same tables.
//
// Sources, as of mid-2024:
//   - AWS EBS, us-east-1, https://aws.amazon.com/ebs/pricing/ ("GB-month" there is GiB).
//   - Google Compute Engine persistent disks, us-central1,
//     https://cloud.google.com/compute/disks-image-pricing (also GiB).
//   - Azure managed disks, East US, LRS, pay-as-you-go,
//     https://azure.microsoft.com/pricing/details/managed-disks/ : billed per size tier,
//     the disk's size rounded up to the next tier.

// Provisioner names the shipped prices know. In-tree provisioners are priced as their CSI
// drivers (the same disks), after their own parameter defaults are applied.
const (
	provEBS                 = "ebs.csi.aws.com"
	provEBSInTree           = "kubernetes.io/aws-ebs"
	provGCEPD               = "pd.csi.storage.gke.io"
	provGCEPDInTree         = "kubernetes.io/gce-pd"
	provAzure               = "disk.csi.azure.com"
	provAzureInTree         = "kubernetes.io/azure-disk"
	shippedSourceAWS        = "shipped: AWS EBS us-east-1 list price, mid-2024"
	shippedSourceGCP        = "shipped: GCE PD us-central1 list price, mid-2024"
	shippedSourceAzureTiers = "shipped: Azure managed disks East US LRS list price, mid-2024"
)

// csiOf maps in-tree provisioners to the CSI driver that replaced them.
var csiOf = map[string]string{
	provEBSInTree:   provEBS,
	provGCEPDInTree: provGCEPD,
	provAzureInTree: provAzure,
}

// paramAliases are parameter names a driver accepts for the same setting, mapped to the
// one prices are written with (lower-case). The Azure disk CSI driver accepts the in-tree
// storageaccounttype as well as skuName.
var paramAliases = map[string]map[string]string{
	provAzure: {"storageaccounttype": "skuname"},
}

// driverDefaults are what a driver provisions when the class omits a parameter, keyed by
// the provisioner as the class names it (in-tree and CSI defaults differ: in-tree EBS
// made gp2, the CSI driver makes gp3).
var driverDefaults = map[string]map[string]string{
	provEBS:         {"type": "gp3"},
	provEBSInTree:   {"type": "gp2"},
	provGCEPD:       {"type": "pd-standard"},
	provGCEPDInTree: {"type": "pd-standard"},
	provAzure:       {"skuname": "StandardSSD_LRS"},
	provAzureInTree: {"skuname": "Standard_LRS"},
}

// Azure managed disk tiers (GiB, USD a month), East US, LRS, pay-as-you-go, mid-2024.
var (
	// azurePremiumTiers are Premium SSD (Premium_LRS) P1-P80.
	azurePremiumTiers = []Tier{
		{4, 0.77}, {8, 1.54}, {16, 3.01}, {32, 5.28}, {64, 10.21}, {128, 19.71},
		{256, 38.02}, {512, 73.22}, {1024, 135.17}, {2048, 259.05}, {4096, 495.57},
		{8192, 946.08}, {16384, 1802.24}, {32767, 3604.48},
	}
	// azureStandardSSDTiers are Standard SSD (StandardSSD_LRS) E1-E80.
	azureStandardSSDTiers = []Tier{
		{4, 0.30}, {8, 0.60}, {16, 1.20}, {32, 2.40}, {64, 4.80}, {128, 9.60},
		{256, 19.20}, {512, 38.40}, {1024, 76.80}, {2048, 153.60}, {4096, 307.20},
		{8192, 614.40}, {16384, 1228.80}, {32767, 2457.60},
	}
	// azureStandardHDDTiers are Standard HDD (Standard_LRS) S4-S80.
	azureStandardHDDTiers = []Tier{
		{32, 1.54}, {64, 3.01}, {128, 5.89}, {256, 11.33}, {512, 21.76}, {1024, 40.96},
		{2048, 77.83}, {4096, 143.36}, {8192, 262.14}, {16384, 524.29}, {32767, 1048.58},
	}
)

func perGiB(v float64) *float64 { return &v }

// shippedPrices are tried after the config's prices. In-tree provisioners match through
// csiOf, so each disk type is listed once, under its CSI driver.
var shippedPrices = []shippedPrice{
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "gp3"}, PerGiBMonth: perGiB(0.08)}},
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "gp2"}, PerGiBMonth: perGiB(0.10)}},
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "io1"}, PerGiBMonth: perGiB(0.125)}},
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "io2"}, PerGiBMonth: perGiB(0.125)}},
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "st1"}, PerGiBMonth: perGiB(0.045)}},
	{shippedSourceAWS, Price{Provisioner: provEBS, Parameters: map[string]string{"type": "sc1"}, PerGiBMonth: perGiB(0.015)}},
	{shippedSourceGCP, Price{Provisioner: provGCEPD, Parameters: map[string]string{"type": "pd-standard"}, PerGiBMonth: perGiB(0.04)}},
	{shippedSourceGCP, Price{Provisioner: provGCEPD, Parameters: map[string]string{"type": "pd-balanced"}, PerGiBMonth: perGiB(0.10)}},
	{shippedSourceGCP, Price{Provisioner: provGCEPD, Parameters: map[string]string{"type": "pd-ssd"}, PerGiBMonth: perGiB(0.17)}},
	{shippedSourceAzureTiers, Price{Provisioner: provAzure, Parameters: map[string]string{"skuName": "Premium_LRS"}, Tiers: azurePremiumTiers}},
	{shippedSourceAzureTiers, Price{Provisioner: provAzure, Parameters: map[string]string{"skuName": "StandardSSD_LRS"}, Tiers: azureStandardSSDTiers}},
	{shippedSourceAzureTiers, Price{Provisioner: provAzure, Parameters: map[string]string{"skuName": "Standard_LRS"}, Tiers: azureStandardHDDTiers}},
}

type shippedPrice struct {
	source string
	price  Price
}
