// Package golden compares test output with files under a package's testdata, and
// rewrites them when the test runs with -update: the review happens in the diff.
package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// Check compares got with testdata/name, or writes it there when update is set. The
// message names the command that rewrites just this test's files.
func Check(t *testing.T, update bool, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run '%s' -update creates it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -run '%s' -update rewrites it; review the diff):\n%s", path, t.Name(), got)
	}
}
