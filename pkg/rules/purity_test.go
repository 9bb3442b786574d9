package rules_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRulesCannotReachTheAPI enforces the rule contract by the import graph: nothing the
// rules and the engine depend on may import client-go (so no clientset, no REST client),
// nor os/exec.
func TestRulesCannotReachTheAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/client-go") || pkg == "os/exec" || strings.HasSuffix(pkg, "/pkg/snapshot/live") {
			t.Errorf("pkg/rules depends on %s: rules must only read the snapshot", pkg)
		}
	}
}
