package controlplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func requireIntegration(t *testing.T) {
	t.Helper()
	if os.Getenv("AUDITOR_INTEGRATION") != "1" {
		t.Skip("set AUDITOR_INTEGRATION=1 (hack/test.sh does) to run tests against a real control plane")
	}
}

// testDir returns a state directory that t.TempDir cleans up even when Start keeps it,
// named so that Leftovers recognises its processes.
func testDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), DirPrefix+"test")
}

func assertNoLeftovers(t *testing.T) {
	t.Helper()
	left, err := Leftovers()
	if err != nil {
		t.Fatalf("Leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(left, "\n"))
	}
}

// assertDirRemoved checks that Stop removed the state directory, unless told to keep it.
func assertDirRemoved(t *testing.T, dir string) {
	t.Helper()
	if os.Getenv(KeepDirEnv) != "" {
		t.Logf("%s is set: state kept in %s", KeepDirEnv, dir)
		return
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s still exists after Stop (err %v)", dir, err)
	}
}

func TestStartStop(t *testing.T) {
	requireIntegration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t0 := time.Now()
	cp, err := Start(ctx, Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	t.Logf("Start took %s (dir %s)", time.Since(t0).Round(time.Millisecond), cp.Dir)
	if !strings.HasPrefix(filepath.Base(cp.Dir), DirPrefix) {
		t.Errorf("Dir = %s, want a %s* directory", cp.Dir, DirPrefix)
	}

	c := cp.Clientset()
	v, err := c.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != DefaultVersion {
		t.Errorf("/version says %s, want %s", v.GitVersion, DefaultVersion)
	}

	// The kubeconfig file, as kubectl or the auditor would load it.
	raw, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != ContextName {
		t.Errorf("kubeconfig current-context = %q, want %q", raw.CurrentContext, ContextName)
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(fromFile).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("client from %s (verifying the server certificate): %v", cp.Kubeconfig, err)
	}

	// EnsureNamespace makes a namespace in which pods are admitted.
	if err := EnsureNamespace(ctx, c, "auditor-test"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureNamespace(ctx, c, "auditor-test"); err != nil {
		t.Fatalf("second EnsureNamespace: %v", err)
	}
	createPod(ctx, t, c, "auditor-test")

	// The controller-manager runs its controllers: it creates "default" ServiceAccounts.
	if !cp.ControllerManagerRunning() {
		t.Error("ControllerManagerRunning() = false")
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kcm-check"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	saCtx, saCancel := context.WithTimeout(ctx, 30*time.Second)
	defer saCancel()
	if err := WaitForServiceAccount(saCtx, c, "kcm-check", "default"); err != nil {
		t.Fatalf("kube-controller-manager did not create the default ServiceAccount: %v", err)
	}

	t0 = time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %s", time.Since(t0).Round(time.Millisecond))
	assertDirRemoved(t, cp.Dir)
	assertNoLeftovers(t)
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if cp.ControllerManagerRunning() || cp.APIServerRunning() || cp.Running() {
		t.Error("processes reported running after Stop")
	}
}

func createPod(ctx context.Context, t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a pod in %s: %v", ns, err)
	}
}

// A detached control plane without controller-manager, stopped through Attach as
// hack/local-cluster.sh does, after its apiserver was stopped on its own. Its apiserver
// is first given a port that is taken, which Start must survive.
func TestDetachAttachWithoutControllerManager(t *testing.T) {
	requireIntegration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	clashed := false
	freePorts = func(n int) ([]int, error) {
		if n == 1 && !clashed { // the apiserver's secure port
			clashed = true
			return []int{busy.Addr().(*net.TCPAddr).Port}, nil
		}
		return pickFreePorts(n)
	}
	defer func() { freePorts = pickFreePorts }()

	dir := testDir(t)
	t0 := time.Now()
	cp, err := Start(ctx, Options{Detach: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %s", time.Since(t0).Round(time.Millisecond))
	if log, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.log")); !clashed || !strings.Contains(string(log), "address already in use") {
		t.Error("kube-apiserver was not started on a taken port first")
	}
	t.Cleanup(func() { _ = cp.Stop() })
	if cp.ControllerManagerRunning() {
		t.Error("ControllerManagerRunning() = true without ControllerManager")
	}
	if err := EnsureNamespace(ctx, cp.Clientset(), "no-kcm"); err != nil {
		t.Fatal(err)
	}
	createPod(ctx, t, cp.Clientset(), "no-kcm")

	at, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Running() {
		t.Fatal("attached control plane not Running")
	}
	if _, err := at.Clientset().CoreV1().Namespaces().Get(ctx, "no-kcm", metav1.GetOptions{}); err != nil {
		t.Fatalf("client of attached control plane: %v", err)
	}
	t0 = time.Now()
	if err := at.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("StopAPIServer took %s", time.Since(t0).Round(time.Millisecond))
	if at.APIServerRunning() || cp.APIServerRunning() {
		t.Error("kube-apiserver still running after StopAPIServer")
	}
	if !at.etcd.alive() {
		t.Error("StopAPIServer stopped etcd too")
	}
	t0 = time.Now()
	if err := at.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %s", time.Since(t0).Round(time.Millisecond))
	assertDirRemoved(t, dir)
	assertNoLeftovers(t)
	// The original handle's Stop finds nothing left to do.
	if err := cp.Stop(); err != nil {
		t.Errorf("Stop of the original handle: %v", err)
	}
}

func TestStartCanceled(t *testing.T) {
	requireIntegration(t)

	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dir := testDir(t)
		_, err := Start(ctx, Options{Dir: dir})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Start with a canceled context: err = %v, want context.Canceled", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir %s was created (err %v)", dir, err)
		}
	})

	t.Run("during start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Long enough for etcd to be started, too short for the apiserver to be ready.
		time.AfterFunc(1500*time.Millisecond, cancel)
		dir := testDir(t)
		cp, err := Start(ctx, Options{Dir: dir, ControllerManager: true})
		if err == nil {
			_ = cp.Stop()
			t.Fatal("Start succeeded although its context was canceled")
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		t.Log(err)
		assertDirRemoved(t, dir)
		assertNoLeftovers(t)
	})

	t.Run("timeout", func(t *testing.T) {
		dir := testDir(t)
		_, err := Start(context.Background(), Options{Dir: dir, Timeout: 500 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not become ready") {
			t.Fatalf("err = %v, want a 'did not become ready' context.DeadlineExceeded", err)
		}
		t.Log(err)
		// The logs are kept for the post-mortem.
		if _, err := os.Stat(filepath.Join(dir, "etcd.log")); err != nil {
			t.Errorf("log not kept: %v", err)
		}
		assertNoLeftovers(t)
	})
}

func TestStartFailureShowsLog(t *testing.T) {
	requireIntegration(t)
	dir := testDir(t)
	_, err := Start(context.Background(), Options{Dir: dir, ExtraAPIServerArgs: []string{"--no-such-flag"}})
	if err == nil {
		t.Fatal("Start succeeded with a bogus apiserver flag")
	}
	t.Log(err)
	for _, want := range []string{"kube-apiserver exited during startup", filepath.Join(dir, "kube-apiserver.log"), "unknown flag: --no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	assertNoLeftovers(t)
}

func TestOptionsValidation(t *testing.T) {
	// No processes involved: runs without AUDITOR_INTEGRATION.
	if _, err := Start(context.Background(), Options{Detach: true, Log: os.Stderr}); err == nil {
		t.Error("Start accepted Detach with Log")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := makeDir(dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("makeDir of a non-empty dir: err = %v", err)
	}
}

func TestStateDirOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/etcd", "--name=default", "--data-dir=/tmp/storage-auditor-cp-123/etcd"}, "/tmp/storage-auditor-cp-123"},
		{[]string{"kube-apiserver", "--cert-dir", "/tmp/x/storage-auditor-cp-test/certs"}, "/tmp/x/storage-auditor-cp-test"},
		{[]string{"kube-apiserver", "--cert-dir=/home/u/.cache/storage-auditor/local-cluster/certs"}, ""},
		{[]string{"etcd"}, ""},
	} {
		if got := stateDirOf(tc.args); got != tc.want {
			t.Errorf("stateDirOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// The test binary re-executes itself as a helper that starts a control plane and then
// gets interrupted or killed.
const helperEnv = "CONTROLPLANE_TEST_HELPER"

func TestInterrupt(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		cp, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("DIR", cp.Dir)
		time.Sleep(time.Minute)
		os.Exit(3) // not reached unless the signal was lost
	}
	requireIntegration(t)

	// startHelper returns the helper and the state dir of its control plane.
	startHelper := func(t *testing.T) (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInterrupt$")
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if dir, ok := strings.CutPrefix(sc.Text(), "DIR "); ok {
				go func() { // keep draining so the helper never blocks on stdout
					for sc.Scan() {
					}
				}()
				return cmd, dir
			}
			t.Log("helper:", sc.Text())
		}
		t.Fatal("helper did not start a control plane")
		return nil, ""
	}

	t.Run("SIGINT", func(t *testing.T) {
		cmd, dir := startHelper(t)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		// The handler re-raises the signal after cleaning up, so the helper dies of it.
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
			t.Errorf("helper ended with %v, want death by SIGINT", err)
		}
		assertDirRemoved(t, dir)
		assertNoLeftovers(t)
	})

	t.Run("SIGKILL", func(t *testing.T) {
		cmd, dir := startHelper(t)
		t.Cleanup(func() { _ = os.RemoveAll(dir) }) // nobody else can remove it
		at, err := Attach(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		// Pdeathsig: the kernel kills the processes when the helper dies.
		deadline := time.Now().Add(5 * time.Second)
		for at.anyAlive() && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
		}
		if at.anyAlive() {
			left, _ := Leftovers()
			t.Errorf("processes survived their parent's SIGKILL; Leftovers:\n%s", strings.Join(left, "\n"))
			_ = at.Stop()
		}
	})
}

func (cp *ControlPlane) anyAlive() bool {
	for _, p := range cp.procs {
		if p.alive() {
			return true
		}
	}
	return false
}

// A paused kube-apiserver accepts connections but answers nothing, so only a client's
// own timeout ends a request; resumed, it serves again; Stop ends a paused one cleanly.
func TestPauseResumeAPIServer(t *testing.T) {
	requireIntegration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	c := cp.Clientset()
	get := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err
	}
	if err := get(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	if err := cp.PauseAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, state, err := procStat(cp.apiserver.pid); err != nil || !stopped(state) {
		t.Fatalf("kube-apiserver state %q (err %v) after PauseAPIServer, want stopped", state, err)
	}
	if !cp.APIServerRunning() {
		t.Error("APIServerRunning() = false for a paused (not exited) kube-apiserver")
	}
	// The kernel still completes TCP handshakes on the listening socket...
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(cp.URL, "https://"), 10*time.Second)
	if err != nil {
		t.Fatalf("dialling the paused kube-apiserver: %v", err)
	}
	conn.Close()
	// ...but no request is answered: the client's deadline is what ends it.
	if err := get(time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET from a paused kube-apiserver: err = %v, want context.DeadlineExceeded", err)
	}

	if err := cp.ResumeAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := get(30 * time.Second); err != nil {
		t.Fatalf("GET after ResumeAPIServer: %v", err)
	}
	if err := cp.ResumeAPIServer(); err != nil {
		t.Errorf("ResumeAPIServer of a running kube-apiserver: %v", err)
	}

	// Stop continues a paused process so that it can act on SIGTERM.
	if err := cp.PauseAPIServer(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop of a paused control plane took %s", time.Since(t0).Round(time.Millisecond))
	assertDirRemoved(t, cp.Dir)
	assertNoLeftovers(t)
	if err := cp.PauseAPIServer(); err == nil {
		t.Error("PauseAPIServer after Stop succeeded")
	}
}
