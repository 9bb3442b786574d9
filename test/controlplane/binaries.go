package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// modulePath identifies this repository's root go.mod; nested modules such as
// hack/tools/k8s have their own go.mod and must be walked past.
const modulePath = "github.com/storage-auditor/auditor"

// binaries are the absolute paths of the programs a control plane runs.
type binaries struct {
	etcd, apiserver, controllerManager string
}

// findBinaries locates etcd and the Kubernetes binaries of the requested version.
// KUBE_BIN_DIR wins so that CI or a developer can point at prebuilt binaries; otherwise
// hack/k8s-binaries.sh builds (cold, ~10 min, bounded only by ctx) or reuses a cache.
func findBinaries(ctx context.Context, version string, needKCM bool) (binaries, error) {
	var b binaries
	etcd, err := findEtcd()
	if err != nil {
		return b, err
	}
	b.etcd = etcd

	dir := os.Getenv("KUBE_BIN_DIR")
	fromEnv := dir != ""
	if !fromEnv {
		if dir, err = buildKubeBinaries(ctx, version); err != nil {
			return b, err
		}
	}
	b.apiserver = filepath.Join(dir, "kube-apiserver")
	b.controllerManager = filepath.Join(dir, "kube-controller-manager")
	need := []string{b.apiserver}
	if needKCM {
		need = append(need, b.controllerManager)
	}
	for _, p := range need {
		if err := checkExecutable(p); err != nil {
			if fromEnv {
				return b, fmt.Errorf("KUBE_BIN_DIR=%s: %w", dir, err)
			}
			return b, err
		}
	}
	if fromEnv {
		// The script's cache is keyed by version; a hand-picked directory is not, and a
		// silent version mismatch would make every test result misleading.
		if err := checkVersion(ctx, b.apiserver, version); err != nil {
			return b, fmt.Errorf("KUBE_BIN_DIR=%s: %w", dir, err)
		}
	}
	return b, nil
}

func findEtcd() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return filepath.Abs(p)
	}
	// /usr/bin is usually on PATH, but go test may run with a trimmed environment.
	if err := checkExecutable("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("etcd not found on PATH or at /usr/bin/etcd; install it with `apt-get install -y etcd-server`")
}

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func checkVersion(ctx context.Context, bin, want string) error {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	// Output is "Kubernetes v1.36.3".
	got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes"))
	if got != want {
		return fmt.Errorf("%s is %s, want %s (set Options.Version or KUBE_BIN_DIR accordingly)", bin, got, want)
	}
	return nil
}

// buildKubeBinaries runs hack/k8s-binaries.sh and returns the directory it prints.
func buildKubeBinaries(ctx context.Context, version string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("locating kube-apiserver (set KUBE_BIN_DIR to skip this): %w", err)
	}
	script := filepath.Join(root, "hack", "k8s-binaries.sh")

	// go test runs packages in parallel; two cold builds writing the same cache files
	// would race, so serialize callers on this machine. A warm call holds it for ~10 ms.
	unlock, err := lockFile(ctx, filepath.Join(os.TempDir(), "storage-auditor-k8s-binaries.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "K8S_VERSION="+version)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	// Progress of a cold build goes to our stderr so a developer sees why Start is slow;
	// the copy is kept for the error message.
	cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
	// Cancellation and signals must end the whole build, not just bash: an orphaned
	// `go build` would run on for minutes and could race the next build's output file.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	killGroup := func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Cancel = killGroup
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("running %s: %w", script, err)
	}
	track(cmd, func() { _ = killGroup() })
	err = cmd.Wait()
	untrack(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s interrupted: %w", script, ctx.Err())
		}
		return "", fmt.Errorf("%s failed: %w\n%s", script, err, lastLines(stderr.Bytes(), 20))
	}
	var dir string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			dir = l
		}
	}
	if dir == "" {
		return "", fmt.Errorf("%s printed no directory", script)
	}
	return dir, nil
}

// repoRoot walks up from the working directory to this module's go.mod.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above %s", modulePath, wd)
		}
	}
}

func declaresModule(gomod []byte, path string) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == path
		}
	}
	return false
}

// lockFile takes an exclusive flock on path, polling so that ctx can interrupt the wait.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			f.Close()
			return nil, fmt.Errorf("waiting for another k8s-binaries.sh run (lock %s): %w", path, err)
		}
	}
}
