package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestResizeUsageErrors: mistakes in the resize command's arguments are one-line errors
// with exit code 2, found before any connection is attempted. (The workflow itself is
// tested against a real control plane in test/integration/resize_test.go.)
func TestResizeUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no argument", []string{"--size", "20Gi"}, "want one argument, NAMESPACE/NAME"},
		{"no namespace", []string{"web", "--size", "20Gi"}, `"web": want NAMESPACE/NAME`},
		{"empty name", []string{"shop/", "--size", "20Gi"}, `"shop/": want NAMESPACE/NAME`},
		{"too many slashes", []string{"shop/web/0", "--size", "20Gi"}, "want NAMESPACE/NAME"},
		{"no size", []string{"shop/web"}, "--size is required"},
		{"not a quantity", []string{"shop/web", "--size", "20GB"}, `--size "20GB": want a positive quantity`},
		{"zero", []string{"shop/web", "--size", "0"}, "want a positive quantity"},
		{"negative", []string{"shop/web", "--size", "-1Gi"}, "want a positive quantity"},
		{"zero timeout", []string{"shop/web", "--size", "20Gi", "--timeout", "0s"}, "--timeout must be positive"},
		{"unreadable kubeconfig", []string{"shop/web", "--size", "20Gi", "--kubeconfig", missing}, "kubeconfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", append([]string{"resize", "statefulset"}, c.args...)...)
			if code != ExitError {
				t.Errorf("exit %d, want %d", code, ExitError)
			}
			if !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("stderr %q, want one line containing %q", stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("nothing may be printed on stdout before the plan: %q", stdout)
			}
		})
	}
}
