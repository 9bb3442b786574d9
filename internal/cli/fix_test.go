package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/fix"
)

// unreachableKubeconfig names an API server nobody listens on: flag checks must fail
// before anything connects.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	return write(t, t.TempDir(), "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`)
}

func TestFixFlagErrors(t *testing.T) {
	kc := unreachableKubeconfig(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--from-file", demo, "--fix"}, "--fix changes a live cluster and cannot be used with --from-file"},
		{[]string{"run", "--from-file", demo, "--allow", "destructive"}, "--allow applies to --fix"},
		{[]string{"run", "--from-file", demo, "--yes"}, "--yes applies to --fix"},
		{[]string{"run", "--from-file", demo, "--dry-run", "server"}, "--dry-run applies to --fix"},
		{[]string{"run", "--from-file", demo, "--max-actions", "3"}, "--max-actions applies to --fix"},
		{[]string{"run", "--kubeconfig", kc, "--fix", "--dry-run", "all"}, `--dry-run "all": want server`},
		{[]string{"run", "--kubeconfig", kc, "--fix", "--allow", "everything"}, `--allow "everything": want disruptive or destructive`},
		{[]string{"run", "--kubeconfig", kc, "--fix", "--max-actions", "0"}, "--max-actions 0: want 1 or more"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}
}

func TestFixHelpDocumentsExitCode5(t *testing.T) {
	_, out, _ := run(t, "", "run", "--help")
	for _, want := range []string{"--fix", "--allow", "--dry-run", "--max-actions", "--yes", "5  --fix: at least one action failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	if code, _, stderr := run(t, "", "fix", "release-pv"); code != ExitError || !strings.Contains(stderr, "accepts 1 arg") {
		t.Errorf("release-pv without a name: exit %d, %q", code, stderr)
	}
}

// demoFixReport is the demo's report as a live audit would produce it (the demo dump
// carries UIDs and resourceVersions).
func demoFixReport(t *testing.T) *audit.Report {
	t.Helper()
	code, stdout, stderr := run(t, "", "run", "--from-file", demo, "-o", "json", "--now", demoNow)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := &audit.Report{}
	if err := json.Unmarshal([]byte(stdout), rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFixStageAppliesNothingUnlessAsked: without a terminal and without --yes, and with
// --dry-run=client, the plan is printed and not one request reaches the API server.
func TestFixStageAppliesNothingUnlessAsked(t *testing.T) {
	rep := demoFixReport(t)
	cases := []struct {
		name, dryRun, want string
	}{
		{"no terminal, no --yes", "", "Nothing applied: stdin is not a terminal and --yes was not given; run again with --yes to apply the 5 allowed actions above."},
		{"client dry run", "client", "Dry run (client): nothing was sent to the API server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset()
			s := &fixStage{dryRun: c.dryRun, client: cs, policy: fix.Policy{MaxActions: 10}}
			var out bytes.Buffer
			failed, err := s.run(context.Background(), rep, strings.NewReader("y\n"), &out)
			if err != nil || failed {
				t.Fatal(failed, err)
			}
			if !strings.Contains(out.String(), "Fix plan for incident-cluster.yaml") || !strings.Contains(out.String(), c.want) {
				t.Errorf("output lacks the plan or %q:\n%s", c.want, out.String())
			}
			if len(cs.Actions()) != 0 {
				t.Errorf("requests were sent: %v", cs.Actions())
			}
		})
	}
}

// TestFixStageReportsEveryAction: with --yes, every allowed action is attempted against an
// API server that has none of the objects: each is skipped (gone), none fails, and the
// run says so per action.
func TestFixStageReportsEveryAction(t *testing.T) {
	rep := demoFixReport(t)
	cs := fake.NewSimpleClientset()
	s := &fixStage{yes: true, client: cs, policy: fix.Policy{MaxActions: 10}}
	var out bytes.Buffer
	failed, err := s.run(context.Background(), rep, strings.NewReader(""), &out)
	if err != nil || failed {
		t.Fatalf("failed %v err %v\n%s", failed, err, out.String())
	}
	if !strings.Contains(out.String(), "Fix results: 5 skipped, 4 not allowed.") || strings.Count(out.String(), "no longer exists") != 5 {
		t.Errorf("results:\n%s", out.String())
	}
}

func TestFixOutput(t *testing.T) {
	var so, se bytes.Buffer
	if fixOutput(&so, &se, "table", "") != &so || fixOutput(&so, &se, "json", "") != &se ||
		fixOutput(&so, &se, "json", filepath.Join(os.TempDir(), "r.json")) != &so {
		t.Error("the plan goes to stdout under a table or when the report goes to a file, else to stderr")
	}
}
