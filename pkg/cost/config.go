// Package cost prices the cluster's volumes and adds the prices up: what storage costs per
// month in total, by namespace, by StorageClass and by workload, and how much of it the
// waste rules' volumes cost. It is pure: it reads a snapshot and findings, never the API.
//
// Prices are per GiB-month of provisioned capacity (or per size tier for Azure managed
// disks). Amounts in different currencies are never added together.
package cost

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultCurrency is the currency of price entries that name none, when the config does
// not set cost.currency; the shipped prices are in it.
const DefaultCurrency = "USD"

// Config is the config file's cost section.
type Config struct {
	// Currency is the currency of the prices below that do not name one (default USD).
	// The shipped prices are USD list prices whatever this says.
	Currency string `yaml:"currency"`
	// ShippedPrices set to false leaves out the shipped list prices: only Prices apply and
	// every other volume is unpriced.
	ShippedPrices *bool `yaml:"shippedPrices"`
	// Prices are tried in order before the shipped ones; the first that matches wins.
	Prices []Price `yaml:"prices"`
	// Budgets are the monthly limits the cost-budget rule judges.
	Budgets Budgets `yaml:"budgets"`
}

// Price is one entry of cost.prices: what it matches and what a matching volume costs.
// Every matcher that is set must match.
type Price struct {
	// StorageClass matches the volume's StorageClass by name.
	StorageClass string `yaml:"storageClass"`
	// Provisioner matches the class's provisioner (a CSI driver name, or an in-tree
	// provisioner such as kubernetes.io/aws-ebs, which also matches its CSI driver).
	Provisioner string `yaml:"provisioner"`
	// Parameters match the class's parameters: keys case-insensitively, values
	// case-insensitively. A parameter the class omits takes the driver's default (EBS
	// type gp3, GCE PD type pd-standard, Azure skuName StandardSSD_LRS).
	Parameters map[string]string `yaml:"parameters"`
	// PerGiBMonth is the price of one GiB of provisioned capacity for a month.
	PerGiBMonth *float64 `yaml:"perGiBMonth"`
	// Tiers price by size tier instead: a volume pays the monthly price of the smallest
	// tier it fits in (Azure managed disks are billed this way).
	Tiers    []Tier `yaml:"tiers"`
	Currency string `yaml:"currency"`
}

// Tier is one size tier: volumes up to MaxGiB cost Monthly a month.
type Tier struct {
	MaxGiB  float64 `yaml:"maxGiB"`
	Monthly float64 `yaml:"monthly"`
}

// Budgets are monthly storage budgets, per currency (ISO 4217 code → amount).
//
//	budgets:
//	  cluster: {USD: 5000}
//	  namespaces:
//	    shop: {USD: 300}
type Budgets struct {
	// Cluster limits the monthly cost of every volume the run covers.
	Cluster map[string]float64 `yaml:"cluster"`
	// Namespaces limits the monthly cost of each namespace's volumes (PVs count in their
	// claim's namespace).
	Namespaces map[string]map[string]float64 `yaml:"namespaces"`
}

// Empty reports whether no budget is set.
func (b Budgets) Empty() bool { return len(b.Cluster) == 0 && len(b.Namespaces) == 0 }

// FieldError is a mistake in the cost section. Path locates it under cost: map keys as
// strings, list indexes as ints (["prices", 2, "perGiBMonth"]), so the config loader can
// turn it into a file line.
type FieldError struct {
	Path []any
	Msg  string
}

// Error renders the error with its YAML path: cost.prices[2].perGiBMonth: must not be negative.
func (e *FieldError) Error() string { return PathString(e.Path) + ": " + e.Msg }

// PathString renders a path under cost the way the errors show it.
func PathString(path []any) string {
	var b strings.Builder
	b.WriteString("cost")
	for _, p := range path {
		switch v := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		default:
			b.WriteString(fmt.Sprintf(".%v", v))
		}
	}
	return b.String()
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	// namespaceRE is a DNS label, what namespace names are.
	namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

func checkCurrency(path []any, c string) error {
	if !currencyRE.MatchString(c) {
		return &FieldError{path, fmt.Sprintf("%q is not a currency code: write an ISO 4217 code such as USD, EUR or CNY", c)}
	}
	return nil
}

// Validate checks the section and returns the first mistake, as a *FieldError.
func (c Config) Validate() error {
	if c.Currency != "" {
		if err := checkCurrency([]any{"currency"}, c.Currency); err != nil {
			return err
		}
	}
	for i, p := range c.Prices {
		if err := p.validate([]any{"prices", i}); err != nil {
			return err
		}
	}
	return c.Budgets.validate()
}

func (p Price) validate(at []any) error {
	sub := func(k ...any) []any { return append(append([]any(nil), at...), k...) }
	if p.StorageClass == "" && p.Provisioner == "" {
		return &FieldError{at, "set storageClass or provisioner (with parameters): a price that matches every volume hides the unpriced ones"}
	}
	for k, v := range p.Parameters {
		if strings.TrimSpace(k) == "" {
			return &FieldError{sub("parameters"), "empty parameter name"}
		}
		if v == "" {
			return &FieldError{sub("parameters", k), "empty value: name the value the class sets (a class that omits the parameter gets the driver's default)"}
		}
	}
	switch {
	case p.PerGiBMonth == nil && len(p.Tiers) == 0:
		return &FieldError{at, "set perGiBMonth (price of a GiB for a month) or tiers"}
	case p.PerGiBMonth != nil && len(p.Tiers) > 0:
		return &FieldError{at, "set perGiBMonth or tiers, not both"}
	case p.PerGiBMonth != nil && (*p.PerGiBMonth < 0 || isBad(*p.PerGiBMonth)):
		return &FieldError{sub("perGiBMonth"), "must be a number >= 0"}
	}
	last := 0.0
	for i, t := range p.Tiers {
		switch {
		case t.MaxGiB <= last || isBad(t.MaxGiB):
			return &FieldError{sub("tiers", i, "maxGiB"), "must be > 0 and larger than the previous tier's (list tiers smallest first)"}
		case t.Monthly < 0 || isBad(t.Monthly):
			return &FieldError{sub("tiers", i, "monthly"), "must be a number >= 0"}
		}
		last = t.MaxGiB
	}
	if p.Currency != "" {
		return checkCurrency(sub("currency"), p.Currency)
	}
	return nil
}

func (b Budgets) validate() error {
	check := func(at []any, m map[string]float64) error {
		for _, cur := range sortedKeys(m) {
			if err := checkCurrency(append(append([]any(nil), at...), cur), cur); err != nil {
				return err
			}
			if v := m[cur]; v < 0 || isBad(v) {
				return &FieldError{append(append([]any(nil), at...), cur), "must be a number >= 0"}
			}
		}
		return nil
	}
	if err := check([]any{"budgets", "cluster"}, b.Cluster); err != nil {
		return err
	}
	for _, ns := range sortedKeys(b.Namespaces) {
		at := []any{"budgets", "namespaces", ns}
		if !namespaceRE.MatchString(ns) {
			return &FieldError{at, fmt.Sprintf("%q is not a namespace name", ns)}
		}
		if len(b.Namespaces[ns]) == 0 {
			return &FieldError{at, "no budget: write one per currency, e.g. {USD: 300}"}
		}
		if err := check(at, b.Namespaces[ns]); err != nil {
			return err
		}
	}
	return nil
}

// isBad catches NaN and infinities (YAML accepts .nan and .inf).
func isBad(f float64) bool { return f != f || f > 1e300 || f < -1e300 }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
