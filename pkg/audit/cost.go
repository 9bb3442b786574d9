package audit

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Money is an amount per currency (ISO 4217 code → amount). Amounts in different
// currencies are never added together.
type Money map[string]float64

// Add adds amount in currency to m.
func (m Money) Add(currency string, amount float64) {
	if amount != 0 {
		m[currency] += amount
	}
}

// Currencies returns m's currencies in a stable order.
func (m Money) Currencies() []string {
	cs := make([]string, 0, len(m))
	for c := range m {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// Cost is the report's cost section: what the cluster's storage costs per month, and how
// much of it is spent on volumes nobody uses.
type Cost struct {
	// Monthly is the provisioned cost of every priced volume.
	Monthly Money `json:"monthly"`
	// Waste is the cost of the volumes waste findings are about (each volume once).
	Waste          Money      `json:"waste"`
	ByNamespace    []CostLine `json:"byNamespace"`
	ByStorageClass []CostLine `json:"byStorageClass"`
	ByWorkload     []CostLine `json:"byWorkload"`
	// WasteByBucket splits Waste by kind of waste: released, available, unused,
	// retained-ordinal.
	WasteByBucket []CostLine `json:"wasteByBucket"`
	// TopWaste lists the most expensive wasted volumes, most expensive first.
	TopWaste []WastedVolume `json:"topWaste"`
	// Volumes counts the volumes costed; Unpriced those no price matched.
	Volumes  int `json:"volumes"`
	Unpriced int `json:"unpriced"`
}

// CostLine is one row of a cost breakdown.
type CostLine struct {
	Name    string  `json:"name"`
	Monthly Money   `json:"monthly"`
	Volumes int     `json:"volumes"`
	GiB     float64 `json:"gib"`
}

// WastedVolume is one volume counted as waste.
type WastedVolume struct {
	Object  ObjectRef `json:"object"`
	Bucket  string    `json:"bucket"`
	RuleID  string    `json:"ruleID"`
	GiB     float64   `json:"gib"`
	Monthly float64   `json:"monthly"`
	// Currency of Monthly.
	Currency string `json:"currency"`
}

// FormatMoney renders an amount the way reports and messages show money: two decimals,
// thousands grouped, then the currency ("2,800.00 CNY", "-5.28 USD").
func FormatMoney(amount float64, currency string) string {
	s := strconv.FormatFloat(math.Abs(amount), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if amount < 0 && s != "0.00" {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	b.WriteString("." + frac)
	if currency != "" {
		b.WriteString(" " + currency)
	}
	return b.String()
}
