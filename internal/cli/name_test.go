package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// commandLine matches a quoted auditor command line ("auditor run", "auditor --help"), the
// text that must read "kubectl storage-audit …" when the binary runs as the plugin.
var commandLine = regexp.MustCompile(`(^|[^\w-])auditor (run|serve|cost|rules|version|resize|preflight|fix|help|--help)\b`)

// commandPaths lists every command's arguments below root ("run", "rules list", …).
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		p := append(append([]string(nil), prefix...), sub.Name())
		out = append(out, p)
		out = append(out, commandPaths(sub, p)...)
	}
	return out
}

// TestPluginHelpNamesThePlugin runs every command's --help as kubectl-storage_audit (the
// name kubectl gives the plugin's file): the usage lines, texts, examples and flag help
// must all say kubectl storage-audit. As auditor, the same texts quote auditor command
// lines (which also shows the check can fail).
func TestPluginHelpNamesThePlugin(t *testing.T) {
	paths := append([][]string{{}}, commandPaths(newRoot(nil, nil, nil), nil)...)
	for _, p := range paths {
		name := strings.Join(append([]string{"root"}, p...), " ")
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := MainAs("kubectl-storage_audit", append(append([]string(nil), p...), "--help"), strings.NewReader(""), &out, &errb)
			help := out.String()
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			usage := "Usage:\n  " + strings.TrimSpace("kubectl storage-audit "+strings.Join(p, " "))
			if !strings.Contains(help, usage) {
				t.Errorf("help lacks %q:\n%s", usage, help)
			}
			for _, l := range strings.Split(help, "\n") {
				if commandLine.MatchString(l) {
					t.Errorf("help still quotes an auditor command line: %q", l)
				}
			}
		})
	}
	var out bytes.Buffer
	Main([]string{"run", "--help"}, strings.NewReader(""), &out, &bytes.Buffer{})
	if !commandLine.MatchString(out.String()) || !strings.Contains(out.String(), "Usage:\n  auditor run [flags]") {
		t.Errorf("as auditor, run --help should quote auditor command lines:\n%s", out.String())
	}
}

// TestPluginMessagesNameThePlugin: errors and their usage hint, and the rules list
// footer, follow the name too.
func TestPluginMessagesNameThePlugin(t *testing.T) {
	var out, errb bytes.Buffer
	code := MainAs("kubectl-storage_audit", []string{"rules", "explain", "pv-nope"}, strings.NewReader(""), &out, &errb)
	if code != ExitError || !strings.Contains(errb.String(), "`kubectl storage-audit rules list` shows the IDs") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	MainAs("kubectl-storage_audit", []string{"rnu"}, strings.NewReader(""), &out, &errb)
	if !strings.Contains(errb.String(), `unknown command "rnu" for "kubectl storage-audit"`) || !strings.Contains(errb.String(), "Run 'kubectl storage-audit --help' for usage.") {
		t.Errorf("stderr %q", errb.String())
	}
	out.Reset()
	MainAs("kubectl-storage_audit.exe", []string{"rules", "list"}, strings.NewReader(""), &out, &errb)
	if !strings.Contains(out.String(), "`kubectl storage-audit rules explain ID`") {
		t.Errorf("rules list footer:\n%s", out.String())
	}
}

func TestRenamerRewritesOnlyCommandLines(t *testing.T) {
	r := newRenamer(pluginName, []string{"run", "rules", "help"})
	cases := []struct{ in, want string }{
		{"auditor run --context prod", "kubectl storage-audit run --context prod"},
		{"  auditor run\n  auditor rules list", "  kubectl storage-audit run\n  kubectl storage-audit rules list"},
		{"see `auditor rules list`", "see `kubectl storage-audit rules list`"},
		{"Run 'auditor --help' for usage.", "Run 'kubectl storage-audit --help' for usage."},
		{"| auditor run --from-file -", "| kubectl storage-audit run --from-file -"},
		{"The auditor only lists objects", "The auditor only lists objects"},
		{"storage-auditor run finds", "storage-auditor run finds"},
		{"--state-configmap auditor-state", "--state-configmap auditor-state"},
		{"config/auditor.yaml", "config/auditor.yaml"},
		{"auditor running", "auditor running"},
	}
	for _, c := range cases {
		if got := r.rewrite(c.in); got != c.want {
			t.Errorf("rewrite(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := newRenamer(programName, []string{"run"}).rewrite("auditor run"); got != "auditor run" {
		t.Errorf("as auditor nothing changes, got %q", got)
	}
}

func TestDisplayName(t *testing.T) {
	for prog, want := range map[string]string{
		"auditor": "auditor", "kubectl-storage_audit": "kubectl storage-audit",
		"kubectl-storage_audit.exe": "kubectl storage-audit", "storage-auditor": "auditor", "auditor.test": "auditor",
	} {
		if got := displayName(prog); got != want {
			t.Errorf("displayName(%q) = %q, want %q", prog, got, want)
		}
	}
}
