package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a process gets between SIGTERM and SIGKILL.
	stopGrace    = 10 * time.Second
	pollInterval = 50 * time.Millisecond
	tailLines    = 20
)

// process is one etcd / kube-apiserver / kube-controller-manager.
//
// A process is either owned (started by this Go process: exited is closed by the goroutine
// that reaps it) or attached (started by another Go process, found through the pids file:
// liveness is polled through /proc because only the parent can wait for a child).
type process struct {
	name    string
	pid     int
	start   uint64 // start time in clock ticks since boot (/proc/PID/stat field 22); guards against pid reuse
	logPath string

	exited  chan struct{} // owned only; closed once reaped
	waitErr error         // owned only; valid after exited is closed
}

type startSpec struct {
	name    string
	path    string
	args    []string
	dir     string // working directory and where the log file goes
	detach  bool
	log     io.Writer // optional copy of the output; not for detached processes
	logLock *sync.Mutex
}

// startProcess starts spec in its own process group and returns once it is running.
func startProcess(spec startSpec) (*process, error) {
	logPath := filepath.Join(spec.dir, spec.name+".log")
	// O_APPEND rather than truncation: a retried start (port clash) keeps the history of
	// the failed attempt above the new one, which is what one wants when debugging.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "==> %s %s %s\n", time.Now().Format(time.RFC3339), spec.path, strings.Join(spec.args, " "))

	cmd := exec.Command(spec.path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = os.Environ()
	// A *os.File is handed to the child as its fd 1/2 directly: no copying goroutine, and
	// output keeps flowing to the file even if this Go process dies. Only an extra Log
	// writer needs a pipe.
	var out io.Writer = logFile
	if spec.log != nil && !spec.detach {
		out = io.MultiWriter(logFile, &prefixWriter{prefix: "[" + spec.name + "] ", w: spec.log, mu: spec.logLock})
		// Bound how long Wait keeps copying after the process exited.
		cmd.WaitDelay = 2 * time.Second
	}
	cmd.Stdout, cmd.Stderr = out, out

	if spec.detach {
		// A new session: no controlling terminal, so neither Ctrl-C nor closing the
		// terminal that ran hack/local-cluster.sh reaches the control plane.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// Setpgid: the terminal's Ctrl-C goes to the foreground group only, so the test
		// binary gets to stop the control plane in order rather than having every
		// process killed at once. Pdeathsig: if the test binary dies anyway (panic,
		// timeout, SIGKILL), the kernel kills the children.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}

	p := &process{name: spec.name, logPath: logPath, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child exits, not the
		// process (golang/go#27505). The Go runtime ends a thread when a goroutine
		// locked to it returns while still locked, which other code in the test binary
		// may do. Forking from a thread that stays locked to this goroutine until the
		// child has been reaped makes sure the signal only fires when the whole
		// process dies.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		// Reap the child as soon as it exits, detached or not, as long as this Go
		// process lives; a detached child outliving us is re-parented and reaped by
		// init.
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.name, err)
	}
	p.pid = cmd.Process.Pid
	st, err := procStartTime(p.pid)
	if err != nil {
		select {
		case <-p.exited:
			// Already exited and reaped; waitReady reports that, with the log.
		default:
			// Cannot happen short of /proc being unavailable; without the start time
			// neither alive nor a later Attach could tell our process from a reused pid.
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			return nil, fmt.Errorf("reading /proc/%d/stat of %s: %w", p.pid, spec.name, err)
		}
	}
	p.start = st
	return p, nil
}

// alive reports whether the process is still running. A zombie counts as gone: it has
// exited and merely awaits reaping (by our goroutine, or by init after re-parenting).
func (p *process) alive() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			// Not reaped yet, so the pid cannot have been reused.
		}
	}
	st, state, err := procStat(p.pid)
	return err == nil && st == p.start && state != 'Z'
}

// kill signals the process group, which the process leads (Setpgid/Setsid).
func (p *process) kill(sig syscall.Signal) {
	// Check first: once the leader is gone its pgid may be reused by an unrelated group.
	if !p.alive() {
		return
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		_ = syscall.Kill(p.pid, sig)
	}
}

// signal sends sig to the process group, which the process leads (Setpgid/Setsid),
// and fails if the process is not running.
func (p *process) signal(sig syscall.Signal) error {
	if !p.alive() {
		return fmt.Errorf("%s (pid %d) is not running", p.name, p.pid)
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		if err := syscall.Kill(p.pid, sig); err != nil {
			return fmt.Errorf("signalling %s (pid %d): %w", p.name, p.pid, err)
		}
	}
	return nil
}

// waitState waits up to d for the process's /proc state to satisfy want.
func (p *process) waitState(d time.Duration, want func(state byte) bool) bool {
	deadline := time.Now().Add(d)
	for {
		st, state, err := procStat(p.pid)
		if err == nil && st == p.start && want(state) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval / 5)
	}
}

// stopped reports whether a /proc state is a stopped process ('T'; 't' when traced).
func stopped(state byte) bool { return state == 'T' || state == 't' }

// wait waits up to d for the process to exit and reports whether it did.
func (p *process) wait(d time.Duration) bool {
	if p.exited != nil {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.exited:
			return true
		case <-t.C:
			return false
		}
	}
	deadline := time.Now().Add(d)
	for p.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs. It returns an error only if
// the process survived SIGKILL too (e.g. stuck in uninterruptible I/O).
func (p *process) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	p.kill(syscall.SIGTERM)
	// A process frozen with SIGSTOP (ControlPlane.PauseAPIServer) acts on SIGTERM only
	// once continued; otherwise it would sit out the whole grace period.
	p.kill(syscall.SIGCONT)
	if p.wait(grace) {
		return nil
	}
	p.kill(syscall.SIGKILL)
	if p.wait(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.pid)
}

// exitDescription describes how an owned process ended, e.g. "exit status 1".
func (p *process) exitDescription() string {
	if p.exited == nil {
		return "exited"
	}
	<-p.exited
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

// tail returns the last n lines of the process's log file.
func (p *process) tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxTail = 64 << 10 // apiserver lines can be long, but 20 of them fit easily
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	off := max(0, st.Size()-maxTail)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return lastLines(buf, n)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procStat returns the start time (field 22) and state (field 3) of a process.
func procStat(pid int) (start uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces or ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0][0], err
}

func procStartTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

func procCmdline(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00"), nil
}

// prefixWriter writes whole lines, each prefixed, to a writer shared by all processes.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.buf = append(pw.buf, b...)
	pw.mu.Lock()
	defer pw.mu.Unlock()
	for {
		i := bytes.IndexByte(pw.buf, '\n')
		if i < 0 {
			break
		}
		// A failing Log writer must not stop the process output to its log file, so
		// errors are dropped here (io.MultiWriter would otherwise stop at the first).
		_, _ = io.WriteString(pw.w, pw.prefix+string(pw.buf[:i+1]))
		pw.buf = pw.buf[i+1:]
	}
	return len(b), nil
}
