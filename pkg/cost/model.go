package cost

import (
	"fmt"
	"math"
	"strings"
)

// gib is the size prices are written per: 2^30 bytes (AWS and Google say "GB" and bill this).
const gib = 1 << 30

// Model is a compiled price list: the config's prices first, then the shipped ones; the
// first entry that matches a volume prices it. It also carries the budgets. A Model is
// read-only once built and safe for concurrent use.
type Model struct {
	rates   []rate
	budgets Budgets
}

// rate is one compiled price entry.
type rate struct {
	class       string
	provisioner string            // canonical (in-tree names mapped to their CSI driver)
	params      map[string]string // lower-case key → value, compared case-insensitively
	perGiB      float64
	tiers       []Tier
	currency    string
	// source says where the price came from: "cost.prices[2]" or the shipped table.
	source string
}

// Volume is what a price is chosen by.
type Volume struct {
	StorageClass string
	// Provisioner is the class's provisioner; for a PV whose class is gone, its CSI
	// driver or in-tree plugin's provisioner name.
	Provisioner string
	// Parameters are the class's parameters.
	Parameters map[string]string
	// Bytes is the provisioned capacity.
	Bytes int64
}

// Quote is the monthly price of one volume.
type Quote struct {
	// Micros is the amount in millionths of Currency: sums of integers stay exact, so
	// 8 × 350 CNY is 2800, not 2799.9999999999995.
	Micros   int64
	Currency string
	// Source names the price entry that matched.
	Source string
}

// Amount is the quote in units of its currency.
func (q Quote) Amount() float64 { return float64(q.Micros) / 1e6 }

// Compile validates c and builds its model.
func Compile(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{budgets: c.Budgets}
	def := c.Currency
	if def == "" {
		def = DefaultCurrency
	}
	for i, p := range c.Prices {
		cur := p.Currency
		if cur == "" {
			cur = def
		}
		m.rates = append(m.rates, compileRate(p, cur, fmt.Sprintf("cost.prices[%d]", i)))
	}
	if c.ShippedPrices == nil || *c.ShippedPrices {
		m.rates = append(m.rates, shippedRates...)
	}
	return m, nil
}

var shippedRates = func() []rate {
	out := make([]rate, len(shippedPrices))
	for i, s := range shippedPrices {
		out[i] = compileRate(s.price, DefaultCurrency, s.source)
	}
	return out
}()

// DefaultModel prices with the shipped list prices only, and has no budgets.
func DefaultModel() *Model { return &Model{rates: shippedRates} }

// Budgets returns the configured budgets.
func (m *Model) Budgets() Budgets { return m.budgets }

func compileRate(p Price, currency, source string) rate {
	r := rate{class: p.StorageClass, provisioner: canonical(p.Provisioner), tiers: p.Tiers, currency: currency, source: source}
	if p.PerGiBMonth != nil {
		r.perGiB = *p.PerGiBMonth
	}
	if len(p.Parameters) > 0 {
		r.params = make(map[string]string, len(p.Parameters))
		for k, v := range p.Parameters {
			r.params[paramKey(r.provisioner, k)] = v
		}
	}
	return r
}

// canonical maps an in-tree provisioner to its CSI driver.
func canonical(provisioner string) string {
	if c, ok := csiOf[provisioner]; ok {
		return c
	}
	return provisioner
}

// paramKey lower-cases a parameter name and resolves the driver's aliases.
func paramKey(canonicalProvisioner, key string) string {
	k := strings.ToLower(key)
	if a, ok := paramAliases[canonicalProvisioner][k]; ok {
		return a
	}
	return k
}

// effectiveParams is what the driver provisions with: the class's parameters under their
// canonical names, plus the driver's defaults for those it omits.
func effectiveParams(provisioner string, params map[string]string) map[string]string {
	canon := canonical(provisioner)
	out := make(map[string]string, len(params)+1)
	for k, v := range params {
		out[paramKey(canon, k)] = v
	}
	for k, v := range driverDefaults[provisioner] {
		if _, set := out[k]; !set {
			out[k] = v
		}
	}
	return out
}

// match returns the first rate for a class/provisioner/parameters, or nil.
func (m *Model) match(class, provisioner string, params map[string]string) *rate {
	canon := canonical(provisioner)
	var eff map[string]string // built on first need: most matches are by class name
	for i := range m.rates {
		r := &m.rates[i]
		if r.class != "" && r.class != class {
			continue
		}
		if r.provisioner != "" && r.provisioner != canon {
			continue
		}
		if len(r.params) > 0 {
			if eff == nil {
				eff = effectiveParams(provisioner, params)
			}
			if !paramsMatch(r.params, canon, eff) {
				continue
			}
		}
		return r
	}
	return nil
}

func paramsMatch(want map[string]string, canon string, have map[string]string) bool {
	for k, v := range want {
		got, ok := have[paramKey(canon, k)]
		if !ok || !strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(v)) {
			return false
		}
	}
	return true
}

// monthly prices bytes of capacity at r; ok is false when a tiered price has no tier
// large enough.
func (r *rate) monthly(bytes int64) (micros int64, ok bool) {
	size := float64(bytes) / gib
	if len(r.tiers) == 0 {
		return int64(math.Round(size * r.perGiB * 1e6)), true
	}
	for _, t := range r.tiers {
		if size <= t.MaxGiB {
			return int64(math.Round(t.Monthly * 1e6)), true
		}
	}
	return 0, false
}

// Price prices one volume: ok is false when no entry matches (hostPath, local, NFS and
// unknown provisioners, unless the config prices them) or its tiers are too small.
func (m *Model) Price(v Volume) (Quote, bool) {
	r := m.match(v.StorageClass, v.Provisioner, v.Parameters)
	if r == nil {
		return Quote{}, false
	}
	micros, ok := r.monthly(v.Bytes)
	if !ok {
		return Quote{}, false
	}
	return Quote{Micros: micros, Currency: r.currency, Source: r.source}, true
}
