package audit

import "testing"

func TestFormatMoney(t *testing.T) {
	cases := []struct {
		amount   float64
		currency string
		want     string
	}{
		{2800, "CNY", "2,800.00 CNY"},
		{5.28, "USD", "5.28 USD"},
		{0, "EUR", "0.00 EUR"},
		{1234567.891, "USD", "1,234,567.89 USD"},
		{999.999, "USD", "1,000.00 USD"},
		{-76.8, "USD", "-76.80 USD"},
		{-0.001, "USD", "0.00 USD"},
		{100, "", "100.00"},
	}
	for _, c := range cases {
		if got := FormatMoney(c.amount, c.currency); got != c.want {
			t.Errorf("FormatMoney(%v, %q) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
}
