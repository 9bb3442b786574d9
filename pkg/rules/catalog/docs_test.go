package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const docsDir = "../../../docs/rules"

// TestDocsUpToDate keeps docs/rules/<id>.md generated from the rules' own metadata: run
// `go test ./pkg/rules/catalog -update` after changing a rule's doc, title or params.
func TestDocsUpToDate(t *testing.T) {
	want := map[string]string{"README.md": index()}
	for _, r := range All() {
		want[r.ID+".md"] = r.Markdown()
	}
	if *update {
		if err := os.MkdirAll(docsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(docsDir, "*.md"))
		for _, f := range old {
			if _, ok := want[filepath.Base(f)]; !ok {
				_ = os.Remove(f)
			}
		}
		for name, text := range want {
			if err := os.WriteFile(filepath.Join(docsDir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(docsDir, name))
		if err != nil || string(got) != text {
			t.Errorf("docs/rules/%s is out of date: run go test ./pkg/rules/catalog -update", name)
		}
	}
	files, _ := filepath.Glob(filepath.Join(docsDir, "*.md"))
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("docs/rules/%s documents no registered rule: run go test ./pkg/rules/catalog -update", filepath.Base(f))
		}
	}
}

func index() string {
	var b strings.Builder
	b.WriteString("# Rules\n\nGenerated from the rules' metadata (`go test ./pkg/rules/catalog -update`); " +
		"`auditor rules list` and `auditor rules explain ID` print the same.\n\n")
	b.WriteString("| ID | default severity | category | title |\n|---|---|---|---|\n")
	for _, r := range All() {
		fmt.Fprintf(&b, "| [`%s`](%s.md) | %s | %s | %s |\n", r.ID, r.ID, r.Severity, r.Category, r.Title)
	}
	return b.String()
}
