package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The auditor binary is built once per package run and shared by the tests that run it
// as a process (signals, exit codes, what it writes to stdout and stderr).
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

// buildAuditor builds the auditor with hack/build.sh, as CI and the Dockerfile do, the
// first time a test asks for it, and returns its path.
func buildAuditor(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "storage-auditor-bin-")
		if binaryErr != nil {
			return
		}
		out := filepath.Join(binaryDir, "auditor")
		cmd := exec.Command(filepath.Join("..", "..", "hack", "build.sh"), out)
		cmd.Env = append(os.Environ(), "VERSION=v0.0.0-integration")
		b, err := cmd.CombinedOutput()
		switch {
		case err != nil:
			binaryErr = errors.New("hack/build.sh: " + err.Error() + "\n" + string(b))
		case strings.TrimSpace(string(b)) != out:
			binaryErr = errors.New("hack/build.sh printed " + string(b) + ", want only the path " + out)
		default:
			binaryPath = out
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// removeBinary removes the shared binary; TestMain calls it after the tests.
func removeBinary() {
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
}

// runAuditor runs the binary with a clean environment (no KUBECONFIG, no Slack
// variables: only the flags choose the cluster and nothing is posted).
func runAuditor(t *testing.T, ctx context.Context, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runAuditorEnv(t, ctx, bin, t.TempDir(), nil, args...)
}

// runAuditorEnv runs the binary as runAuditor does, with home as $HOME and env added.
func runAuditorEnv(t *testing.T, ctx context.Context, bin, home string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...)
	return runCommand(t, cmd)
}

// runCommand runs cmd with empty stdin and returns its exit code and what it printed; a
// command that cannot be started fails the test.
func runCommand(t *testing.T, cmd *exec.Cmd) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", strings.Join(cmd.Args, " "), err)
	}
	return code, out.String(), errb.String()
}
