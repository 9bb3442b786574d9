package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func sample() *audit.Report {
	r := audit.NewReport("prod", time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	r.Findings = append(r.Findings, audit.Finding{
		RuleID: "pv-released-retained", Severity: audit.Warning,
		Object:  audit.ObjectRef{Kind: "PersistentVolume", Name: "pvc-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"},
		Message: "PV pvc-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d (100Gi) was released: delete it", Details: map[string]string{"capacity": "100Gi", "yes": "no"},
	})
	r.Summary.Count(audit.Warning)
	return r
}

// TestYAMLIsTheJSONDocument: -o yaml must carry exactly the JSON contract (names, values).
func TestYAMLIsTheJSONDocument(t *testing.T) {
	var j, y bytes.Buffer
	if err := WriteJSON(&j, sample()); err != nil {
		t.Fatal(err)
	}
	if err := WriteYAML(&y, sample()); err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if string(a) != string(b) {
		t.Errorf("yaml differs from json:\n%s\n%s\n---\n%s", a, b, y.String())
	}
	if strings.Contains(y.String(), "{") && !strings.Contains(y.String(), "[]") {
		t.Errorf("yaml should be block style:\n%s", y.String())
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	var plain, colour bytes.Buffer
	_ = WriteTable(&plain, sample(), Options{})
	_ = WriteTable(&colour, sample(), Options{Color: true})
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain table has ANSI escapes")
	}
	if !strings.Contains(colour.String(), "\x1b[33mWARNING\x1b[0m") {
		t.Errorf("coloured table should paint the severity:\n%q", colour.String())
	}
}

// TestWrapKeepsEveryCharacter: wrapping must never cut a name (tablewriter's own wrapper
// truncates words longer than the column, which is why we wrap ourselves).
func TestWrapKeepsEveryCharacter(t *testing.T) {
	texts := []string{
		"PV pvc-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d (100Gi) was released by claim logging/data-elasticsearch-3",
		"volumeattachment/csi-055d9c05807c7b88bd18fb3e2ebc0e531998bfe282d07799a0d89eca179a165b",
		"short",
		"a b c d e f g h i j k l m n o p q r s t u v w x y z",
	}
	for _, s := range texts {
		for width := 8; width <= 60; width++ {
			got := wrap(s, width)
			for _, line := range strings.Split(got, "\n") {
				if len([]rune(line)) > width {
					t.Errorf("wrap(%q, %d): line %q is wider than %d", s, width, line, width)
				}
			}
			if strings.Join(strings.Fields(got), "") != strings.Join(strings.Fields(s), "") {
				t.Errorf("wrap(%q, %d) lost characters: %q", s, width, got)
			}
		}
	}
}

func TestTableFitsWidth(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample(), Options{Width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if n := len([]rune(strings.TrimRight(l, " "))); n > 80 {
			t.Errorf("line of %d columns at width 80: %q", n, l)
		}
	}
}
