// Command local-cluster starts and stops a long-lived local control plane (etcd,
// kube-apiserver, kube-controller-manager) for trying the auditor by hand. Use it through
// hack/local-cluster.sh:
//
//	eval "$(hack/local-cluster.sh up)"   # prints progress on stderr, the export line last on stdout
//	kubectl get ns
//	hack/local-cluster.sh down
//
// The processes outlive this command; their state (etcd data, logs, kubeconfig) lives in
// ${XDG_CACHE_HOME:-$HOME/.cache}/storage-auditor/local-cluster, a fixed path so that
// `down` and a repeated `up` find them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

const usage = "usage: local-cluster up|down"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := stateDir()
	if err == nil {
		switch os.Args[1] {
		case "up":
			err = up(ctx, dir)
		case "down":
			err = down(dir)
		default:
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "local-cluster:", err)
		os.Exit(1)
	}
}

func stateDir() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "storage-auditor", "local-cluster"), nil
}

func up(ctx context.Context, dir string) error {
	if cp, err := controlplane.Attach(dir); err == nil {
		if cp.Running() && ready(ctx, cp) {
			fmt.Fprintf(os.Stderr, "local-cluster: already up (state in %s)\n", dir)
			fmt.Println("export KUBECONFIG=" + cp.Kubeconfig)
			return nil
		}
		// A crash or reboot left part of it: clear it away and start afresh.
		fmt.Fprintf(os.Stderr, "local-cluster: removing a stale control plane in %s\n", dir)
		if err := cp.Stop(); err != nil {
			return err
		}
	} else if _, statErr := os.Stat(dir); statErr == nil {
		// No pids file: an interrupted start. Nothing can be running from it.
		fmt.Fprintf(os.Stderr, "local-cluster: removing incomplete state in %s\n", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}

	fmt.Fprintf(os.Stderr, "local-cluster: starting etcd, kube-apiserver and kube-controller-manager in %s\n", dir)
	t0 := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{ControllerManager: true, Detach: true, Dir: dir})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "local-cluster: up in %s at %s\n", time.Since(t0).Round(100*time.Millisecond), cp.URL)

	if err := loadScenario(ctx, cp.Clientset()); err != nil {
		// Leave nothing half-loaded behind: the next `up` would report it as up.
		_ = cp.Stop()
		return fmt.Errorf("loading the scenario: %w", err)
	}
	fmt.Fprintf(os.Stderr, "local-cluster: logs in %s/*.log; stop with hack/local-cluster.sh down\n", dir)
	fmt.Println("export KUBECONFIG=" + cp.Kubeconfig)
	return nil
}

// ready reports whether the attached control plane's apiserver answers /readyz.
func ready(ctx context.Context, cp *controlplane.ControlPlane) bool {
	c := cp.Clientset()
	if c == nil {
		return false // no kubeconfig: the start that wrote the pids did not finish
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() == nil
}

// loadScenario creates the incidents (test/scenario) through the API and lets the real
// controllers act on them, so `auditor run` against this cluster shows each of them.
func loadScenario(ctx context.Context, c kubernetes.Interface) error {
	env := &scenario.Env{CS: c, Log: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "local-cluster: "+format+"\n", args...)
	}}
	return scenario.Load(ctx, env)
}

func down(dir string) error {
	cp, err := controlplane.Attach(dir)
	if err != nil {
		if _, statErr := os.Stat(dir); errors.Is(statErr, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "local-cluster: not running")
			return nil
		}
		// Without a pids file nothing was started from it.
		fmt.Fprintf(os.Stderr, "local-cluster: removing incomplete state in %s\n", dir)
		return os.RemoveAll(dir)
	}
	if err := cp.Stop(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "local-cluster: stopped")
	return nil
}
