package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProcess is `auditor serve` running as a process: its log (stderr) collected as it
// comes, the address it listens on (it is started with --listen 127.0.0.1:0 and says
// which port it got, so no port is picked in advance and raced for), and its exit.
type serveProcess struct {
	cmd  *exec.Cmd
	addr string

	mu   sync.Mutex
	logs strings.Builder

	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's answer, set before done is closed
}

var servingRE = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startServe starts `bin serve args... --listen 127.0.0.1:0` with env as its whole
// environment and waits until it listens. The process is killed when the test ends if
// it is still running.
func startServe(t *testing.T, bin string, env []string, args ...string) *serveProcess {
	t.Helper()
	s := &serveProcess{done: make(chan struct{})}
	s.cmd = exec.Command(bin, append(append([]string{"serve"}, args...), "--listen", "127.0.0.1:0")...)
	s.cmd.Env = env
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.addr = <-addr:
	case <-s.done:
		t.Fatalf("auditor serve exited before listening (%v):\n%s", s.waitErr, s.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("auditor serve did not start listening within 30s:\n%s", s.log())
	}
	return s
}

// log is what serve has written to stderr so far.
func (s *serveProcess) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// runsDone counts the scheduled runs serve has finished so far.
func (s *serveProcess) runsDone() int { return strings.Count(s.log(), `msg="run done"`) }

// waitRuns waits until the log shows at least n finished runs in all. A failed run
// fails the test at once: every test here expects its runs to succeed.
func (s *serveProcess) waitRuns(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.runsDone() < n {
		if strings.Contains(s.log(), `msg="run failed"`) {
			t.Fatalf("an auditor serve run failed:\n%s", s.log())
		}
		select {
		case <-s.done:
			t.Fatalf("auditor serve exited (%v) after %d of %d runs:\n%s", s.waitErr, s.runsDone(), n, s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditor serve finished %d of %d runs within %s:\n%s", s.runsDone(), n, timeout, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get fetches path from serve's HTTP server and returns the body of a 200 answer.
func (s *serveProcess) get(path string) (string, error) {
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// stop sends SIGTERM and returns how serve exited (nil: exit 0), failing the test if it
// has not stopped 30 s later.
func (s *serveProcess) stop(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(30 * time.Second):
		t.Fatalf("auditor serve did not stop within 30s of SIGTERM:\n%s", s.log())
		return nil
	}
}
