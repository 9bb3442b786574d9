// Package controlplane runs a real Kubernetes control plane for tests: etcd,
// kube-apiserver and (optionally) kube-controller-manager as local processes on
// loopback ports, without Docker, a scheduler or kubelets.
//
// Every process runs in its own process group and, unless Options.Detach is set, is
// killed by the kernel if the test binary dies (Pdeathsig). Stop tears everything down
// and is safe to call more than once; SIGINT/SIGTERM/SIGHUP received while a control
// plane is running stop it before the signal takes its usual effect. Leftovers lets a
// test assert that nothing survived.
//
// Binaries: etcd from PATH or /usr/bin/etcd (Debian package etcd-server);
// kube-apiserver and kube-controller-manager from $KUBE_BIN_DIR, else built or reused
// by hack/k8s-binaries.sh.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// DefaultVersion is the Kubernetes version hack/k8s-binaries.sh builds.
	DefaultVersion = "v1.36.3"
	// DefaultTimeout bounds starting the processes (not building the binaries).
	DefaultTimeout = 90 * time.Second
	// ContextName is the current context of the kubeconfig Start writes.
	ContextName = "storage-auditor-test"
	// DirPrefix starts the name of every default state directory; Leftovers relies on it.
	DirPrefix = "storage-auditor-cp-"

	// KeepDirEnv, when set to anything non-empty, makes Stop keep the state directory
	// (logs, etcd data) for inspection.
	KeepDirEnv = "KEEP_CONTROLPLANE_DIR"

	// Files in the state directory.
	pidsFile    = "pids"    // "name pid starttime" per line, for Attach
	ownerFile   = "owner"   // "pid starttime" of the Go process that owns a non-detached control plane
	stoppedFile = "stopped" // written by Stop when the directory is kept

	// How many times a process is started with fresh ports when the ones picked were
	// taken in the meantime (e.g. by an outgoing connection's ephemeral port).
	portAttempts = 3
)

// Options configures Start. The zero value is usable.
type Options struct {
	// Version of kube-apiserver and kube-controller-manager; default DefaultVersion.
	Version string
	// ControllerManager starts kube-controller-manager too (needed for ServiceAccounts,
	// garbage collection, the PV binder, ...). Benchmarks that only need the API leave it off.
	ControllerManager bool
	// Detach lets the processes outlive this Go process (hack/local-cluster.sh). Stop
	// them later with Attach(dir).Stop(). Detach cannot be combined with Log.
	Detach bool
	// Dir is the state directory: etcd data, certificates, keys, logs, kubeconfig. It
	// must be empty or absent. Default: a new temporary directory named DirPrefix*.
	// Stop removes it (unless $KEEP_CONTROLPLANE_DIR is set).
	Dir string
	// Log receives a copy of every process's output, each line prefixed with the
	// process name, until Stop returns. The output always goes to Dir/<process>.log as
	// well. (A writer wrapping testing.T must not outlive the test: Stop in t.Cleanup.)
	Log io.Writer
	// ExtraAPIServerArgs are appended to kube-apiserver's command line. A repeated
	// single-valued flag overrides the earlier one; a list flag such as
	// --authorization-mode appends to it instead.
	ExtraAPIServerArgs []string
	// Timeout bounds the start of the processes; default DefaultTimeout. Building the
	// binaries (cold: ~10 min) is bounded by ctx only.
	Timeout time.Duration
}

// ControlPlane is a running control plane. Its methods are safe for concurrent use.
type ControlPlane struct {
	// Dir is the state directory.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig (Dir/kubeconfig, context ContextName).
	Kubeconfig string
	// Token is the admin bearer token (user "admin", group system:masters).
	Token string
	// URL is the API server's address, https://127.0.0.1:PORT.
	URL string

	restConfig *rest.Config
	clientset  kubernetes.Interface

	mu        sync.Mutex
	stopping  bool
	procs     []*process // in start order
	etcd      *process
	apiserver *process
	kcm       *process

	stopOnce sync.Once
	stopErr  error
}

// Start starts a control plane and waits until it serves requests. On error nothing it
// started is left running; the error names the failing process, its log file and the
// log's last lines. The state directory is removed on error if ctx was canceled, and kept
// for inspection otherwise (the error says where).
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Detach && opts.Log != nil {
		return nil, errors.New("controlplane: Options.Log cannot be used with Detach: detached processes must not write to a pipe that dies with this process; read the log files in Dir instead")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("controlplane: not started: %w", err)
	}
	bins, err := findBinaries(ctx, opts.Version, opts.ControllerManager)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}

	dir, err := makeDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	cp := &ControlPlane{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if !opts.Detach {
		// Before any process exists, so that a Ctrl-C during startup cleans up too.
		track(cp, func() { _ = cp.Stop() })
	}
	if err := cp.start(ctx, opts, bins); err != nil {
		// Through stopOnce: a signal handler may be stopping cp concurrently.
		cp.stopOnce.Do(func() { cp.stopErr = cp.stop(errors.Is(err, context.Canceled)) })
		stopErr := cp.stopErr
		msg := "controlplane: " + err.Error()
		if _, statErr := os.Stat(dir); statErr == nil {
			msg += "\n(state and logs kept in " + dir + "; remove it when done)"
		}
		if stopErr != nil {
			msg += "\nalso, stopping what was started failed: " + stopErr.Error()
		}
		// Keep err in the chain so errors.Is(err, context.Canceled) etc. work.
		return nil, &startError{msg: msg, err: err}
	}
	return cp, nil
}

type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }

func makeDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", DirPrefix)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) > 0 {
		// Reusing an old etcd data dir with new keys and ports half-works in confusing
		// ways; a running control plane in it would be clobbered.
		return "", fmt.Errorf("state directory %s is not empty (a running or stale control plane? Attach(dir).Stop() removes it)", dir)
	}
	return dir, nil
}

func (cp *ControlPlane) start(ctx context.Context, opts Options, bins binaries) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	w := &waiter{ctx: ctx, start: time.Now()}

	if !opts.Detach {
		// Lets Leftovers recognise processes whose test binary died without stopping them.
		if err := writeOwner(cp.Dir); err != nil {
			return err
		}
	}
	saKey, saPub, err := writeServiceAccountKeys(cp.Dir)
	if err != nil {
		return err
	}
	cp.Token, err = randomToken()
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(cp.Dir, "tokens.csv")
	// Format: token,user,uid,"group1,group2".
	if err := os.WriteFile(tokenFile, []byte(cp.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	certDir := filepath.Join(cp.Dir, "certs")
	spec := func(name, path string, args []string) startSpec {
		return startSpec{name: name, path: path, args: args, dir: cp.Dir, detach: opts.Detach, log: opts.Log, logLock: &logMu}
	}

	// etcd. Its data dir is wiped before a retry: a member initialised with other peer
	// URLs would not start cleanly.
	etcdDataDir := filepath.Join(cp.Dir, "etcd")
	var etcdURL string
	cp.etcd, err = cp.startWithRetry(w, func() (startSpec, readyCheck, error) {
		ports, err := freePorts(2)
		if err != nil {
			return startSpec{}, nil, err
		}
		if err := os.RemoveAll(etcdDataDir); err != nil {
			return startSpec{}, nil, err
		}
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		etcdURL = client
		args := []string{
			"--name=default",
			"--data-dir=" + etcdDataDir,
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=default=" + peer,
			"--logger=zap",
			"--log-outputs=stderr",
		}
		return spec("etcd", bins.etcd, args), etcdHealthy(client), nil
	})
	if err != nil {
		return err
	}

	cp.apiserver, err = cp.startWithRetry(w, func() (startSpec, readyCheck, error) {
		ports, err := freePorts(1)
		if err != nil {
			return startSpec{}, nil, err
		}
		cp.URL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		args := []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + certDir,
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + saPub,
			"--service-account-signing-key-file=" + saKey,
			"--token-auth-file=" + tokenFile,
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=10.96.0.0/16",
			// The "kubernetes" Service's Endpoints would point at 127.0.0.1, which
			// Endpoints validation rejects (loopback): the reconciler would log an
			// error every 10 s for nothing, since no pod can reach it anyway.
			"--endpoint-reconciler-type=none",
			"--profiling=false",
		}
		args = append(args, opts.ExtraAPIServerArgs...)
		return spec("kube-apiserver", bins.apiserver, args), httpOK(cp.URL+"/readyz", cp.Token), nil
	})
	if err != nil {
		return err
	}

	// The apiserver generated its serving certificate followed by the CA that signed it.
	caData, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("reading kube-apiserver's generated certificate: %w", err)
	}
	if err := writeKubeconfig(cp.Kubeconfig, cp.URL, cp.Token, caData); err != nil {
		return err
	}
	cp.restConfig = &rest.Config{
		Host:            cp.URL,
		BearerToken:     cp.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
		// The defaults (5 QPS, burst 10) throttle tests that create many objects; this
		// apiserver serves nobody else.
		QPS:   200,
		Burst: 400,
	}
	if cp.clientset, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
		return err
	}

	if opts.ControllerManager {
		cp.kcm, err = cp.startWithRetry(w, func() (startSpec, readyCheck, error) {
			ports, err := freePorts(1)
			if err != nil {
				return startSpec{}, nil, err
			}
			// No --authentication-kubeconfig/--authorization-kubeconfig: they make it
			// look for the kube-system/extension-apiserver-authentication ConfigMap,
			// which this apiserver (no client CA) never creates, and log an error about
			// it every few seconds. Without them only /healthz, /readyz and /livez are
			// served, which is all that is needed.
			args := []string{
				"--kubeconfig=" + cp.Kubeconfig,
				"--leader-elect=false",
				"--controllers=*",
				"--service-account-private-key-file=" + saKey,
				"--root-ca-file=" + filepath.Join(certDir, "apiserver.crt"),
				"--bind-address=127.0.0.1",
				"--secure-port=" + strconv.Itoa(ports[0]),
				"--profiling=false",
			}
			url := "https://127.0.0.1:" + strconv.Itoa(ports[0]) + "/healthz"
			return spec("kube-controller-manager", bins.controllerManager, args), httpOK(url, ""), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// logMu serializes writes of all processes to Options.Log, which need not be safe for
// concurrent use.
var logMu sync.Mutex

// startWithRetry starts the process that build describes and waits for it to pass its
// readiness check, retrying with fresh ports if the process died because a port it was
// given had been taken in the meantime.
func (cp *ControlPlane) startWithRetry(w *waiter, build func() (startSpec, readyCheck, error)) (*process, error) {
	for attempt := 1; ; attempt++ {
		spec, ready, err := build()
		if err != nil {
			return nil, err
		}
		p, err := startProcess(spec)
		if err != nil {
			return nil, err
		}
		if err := cp.add(p); err != nil {
			return nil, err
		}
		err = w.waitReady(p, ready)
		var exited *exitedError
		if errors.As(err, &exited) && exited.portClash && attempt < portAttempts {
			if err := cp.remove(p); err != nil {
				return nil, err
			}
			continue
		}
		return p, err
	}
}

// add registers a started process so that Stop stops it. If Stop already ran (a signal
// arrived during Start), the process is stopped at once.
func (cp *ControlPlane) add(p *process) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopping {
		_ = p.stop(stopGrace)
		return fmt.Errorf("stopped while starting %s", p.name)
	}
	cp.procs = append(cp.procs, p)
	return writePids(cp.Dir, cp.procs)
}

// remove forgets a process that exited during startup.
func (cp *ControlPlane) remove(p *process) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.procs = slices.DeleteFunc(cp.procs, func(q *process) bool { return q == p })
	return writePids(cp.Dir, cp.procs)
}

// RESTConfig returns a new copy of an admin client configuration.
func (cp *ControlPlane) RESTConfig() *rest.Config {
	if cp.restConfig == nil {
		return nil
	}
	return rest.CopyConfig(cp.restConfig)
}

// Clientset returns a clientset with admin rights (shared; create your own from
// RESTConfig to change QPS, user agent, ...).
func (cp *ControlPlane) Clientset() kubernetes.Interface { return cp.clientset }

// ControllerManagerRunning reports whether kube-controller-manager was started and is
// still running.
func (cp *ControlPlane) ControllerManagerRunning() bool {
	return cp.kcm != nil && cp.kcm.alive()
}

// APIServerRunning reports whether kube-apiserver is still running.
func (cp *ControlPlane) APIServerRunning() bool {
	return cp.apiserver != nil && cp.apiserver.alive()
}

// StopAPIServer stops only kube-apiserver (SIGTERM, then SIGKILL after 10 s), leaving
// etcd and kube-controller-manager running: for tests of how clients cope with an
// unavailable API. Stop still cleans up everything afterwards.
func (cp *ControlPlane) StopAPIServer() error {
	if cp.apiserver == nil {
		return errors.New("controlplane: kube-apiserver was not started")
	}
	return cp.apiserver.stop(stopGrace)
}

// PauseAPIServer freezes kube-apiserver with SIGSTOP and returns once the kernel reports
// it stopped. Its port still accepts TCP connections (the kernel completes handshakes
// into the listen backlog) but nothing is ever answered, as with a hung server: only a
// client's own timeouts get it out. ResumeAPIServer continues it; Stop and
// StopAPIServer work on a paused server too.
func (cp *ControlPlane) PauseAPIServer() error {
	return cp.signalAPIServer(syscall.SIGSTOP, stopped, "stop")
}

// ResumeAPIServer continues a kube-apiserver frozen by PauseAPIServer (SIGCONT) and
// returns once it runs again. Requests that clients gave up on meanwhile stay failed;
// the server itself carries on where it was.
func (cp *ControlPlane) ResumeAPIServer() error {
	return cp.signalAPIServer(syscall.SIGCONT, func(state byte) bool { return !stopped(state) }, "continue")
}

func (cp *ControlPlane) signalAPIServer(sig syscall.Signal, want func(state byte) bool, verb string) error {
	if cp.apiserver == nil {
		return errors.New("controlplane: kube-apiserver was not started")
	}
	if err := cp.apiserver.signal(sig); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	// Signal delivery is asynchronous; a caller that goes on to test the frozen (or
	// running) server must not race it.
	if !cp.apiserver.waitState(5*time.Second, want) {
		return fmt.Errorf("controlplane: kube-apiserver (pid %d) did not %s within 5s of %s", cp.apiserver.pid, verb, sig)
	}
	return nil
}

// Stop stops all processes (kube-controller-manager, kube-apiserver, then etcd; each
// SIGTERM, then SIGKILL after 10 s) and removes Dir unless $KEEP_CONTROLPLANE_DIR is set.
// It is idempotent: later and concurrent calls wait for the first and return its result.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() { cp.stopErr = cp.stop(true) })
	return cp.stopErr
}

func (cp *ControlPlane) stop(removeDir bool) error {
	cp.mu.Lock()
	cp.stopping = true
	procs := append([]*process(nil), cp.procs...)
	cp.mu.Unlock()
	defer untrack(cp)

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the directory: it is how Leftovers and a later Attach find survivors.
		_ = os.WriteFile(filepath.Join(cp.Dir, stoppedFile), nil, 0o644)
		return fmt.Errorf("controlplane: stop: %w (state kept in %s)", errors.Join(errs...), cp.Dir)
	}
	if !removeDir || os.Getenv(KeepDirEnv) != "" {
		// Tells Leftovers that any process still using this directory is one.
		if err := os.WriteFile(filepath.Join(cp.Dir, stoppedFile), nil, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("controlplane: stop: %w", err)
		}
		return nil
	}
	if err := os.RemoveAll(cp.Dir); err != nil {
		return fmt.Errorf("controlplane: stop: removing state directory: %w", err)
	}
	return nil
}

// Attach returns a handle to a control plane started by another process with
// Options.Detach, found through the state directory, so that it can be stopped. If the
// kubeconfig exists, the handle's clients work too.
func Attach(dir string) (*ControlPlane, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, pidsFile))
	if err != nil {
		return nil, fmt.Errorf("controlplane: no control plane state in %s: %w", dir, err)
	}
	cp := &ControlPlane{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("controlplane: malformed line %q in %s", line, filepath.Join(dir, pidsFile))
		}
		pid, err1 := strconv.Atoi(f[1])
		start, err2 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("controlplane: malformed line %q in %s: %w", line, filepath.Join(dir, pidsFile), err)
		}
		p := &process{name: f[0], pid: pid, start: start, logPath: filepath.Join(dir, f[0]+".log")}
		cp.procs = append(cp.procs, p)
		switch p.name {
		case "etcd":
			cp.etcd = p
		case "kube-apiserver":
			cp.apiserver = p
		case "kube-controller-manager":
			cp.kcm = p
		}
	}
	if _, err := os.Stat(cp.Kubeconfig); err == nil {
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
		cfg.QPS, cfg.Burst = 200, 400
		cp.restConfig, cp.URL, cp.Token = cfg, cfg.Host, cfg.BearerToken
		if cp.clientset, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	return cp, nil
}

// Running reports whether every process of the control plane is running.
func (cp *ControlPlane) Running() bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopping || len(cp.procs) == 0 {
		return false
	}
	for _, p := range cp.procs {
		if !p.alive() {
			return false
		}
	}
	return true
}
