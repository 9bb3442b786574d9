// Package demo gives tests the report of the demo dump, examples/incident-cluster.yaml,
// exactly as `auditor run --from-file examples/incident-cluster.yaml --now 2026-11-20T09:30:00Z`
// makes it, so every renderer's golden file starts from the same document.
package demo

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Now is when the demo dump was taken.
var Now = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// Path is the demo dump's path, found from this file so any package's test can use it.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "incident-cluster.yaml")
}

// Report audits the demo dump with every rule and default settings.
func Report(t testing.TB) *audit.Report {
	t.Helper()
	snap, _, err := snapshot.LoadFiles(Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), snap, rules.Settings{}, Now)
	if err != nil {
		t.Fatal(err)
	}
	return res.Report
}
