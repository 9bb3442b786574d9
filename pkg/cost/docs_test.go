package cost

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDocsListShippedPrices keeps docs/cost.md's tables in step with the shipped prices.
func TestDocsListShippedPrices(t *testing.T) {
	b, err := os.ReadFile("../../docs/cost.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range shippedPrices {
		p := s.price
		if p.PerGiBMonth != nil {
			row := fmt.Sprintf("| %s | %s |", p.Parameters["type"], strconv.FormatFloat(*p.PerGiBMonth, 'f', -1, 64))
			if !strings.Contains(doc, row) && !strings.Contains(doc, fmt.Sprintf("| %s | %.2f |", p.Parameters["type"], *p.PerGiBMonth)) {
				t.Errorf("docs/cost.md does not list %s %s at %v", p.Provisioner, p.Parameters["type"], *p.PerGiBMonth)
			}
			continue
		}
		for _, tier := range p.Tiers {
			if row := fmt.Sprintf("| %g | %.2f |", tier.MaxGiB, tier.Monthly); !strings.Contains(doc, row) {
				t.Errorf("docs/cost.md does not list the %s tier %q", p.Parameters["skuName"], row)
			}
		}
	}
	for prov, params := range driverDefaults {
		for k, v := range params {
			if !strings.Contains(doc, "`"+prov+"`") || !strings.Contains(strings.ToLower(doc), strings.ToLower(k+": "+v)) {
				t.Errorf("docs/cost.md does not document %s's default %s: %s", prov, k, v)
			}
		}
	}
}
