package catalog

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/storage-auditor/auditor/pkg/rules"
)

func TestZZDump(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ZZ_N"))
	if n == 0 {
		t.Skip()
	}
	snap := buildSynthetic(n)
	if os.Getenv("ZZ_WORST") != "" {
		snap = buildAvailableWorstCase(n)
	}
	t.Log(snap.String())
	eng, _ := rules.NewEngine(All())
	res, err := eng.Run(context.Background(), snap, rules.Settings{}, benchNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range res.Timings {
		t.Logf("%-26s %5d findings %v", tm.Rule, tm.Findings, tm.Duration)
	}
	if out := os.Getenv("ZZ_OUT"); out != "" {
		b, _ := json.MarshalIndent(res.Report.Findings, "", " ")
		os.WriteFile(out, b, 0o644)
	}
}
