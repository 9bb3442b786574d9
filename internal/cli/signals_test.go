package cli

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is written by holdSignals' goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHoldSignalsKeepsTheProcessAlive: while held, SIGINT and SIGTERM do not end the
// process (if they did, this test binary would die) and each says why it goes on.
func TestHoldSignalsKeepsTheProcessAlive(t *testing.T) {
	var out lockedBuffer
	release := holdSignals(&out, "finishing the current action")
	defer release()
	// One at a time: the kernel merges a signal sent while the same one is pending.
	// Each waits for its line (a generous bound, not a timing assertion: the line comes,
	// or the test fails showing what came).
	var want string
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGTERM} {
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		want += signalName(sig) + " received: finishing the current action\n"
		deadline := time.Now().Add(30 * time.Second)
		for out.String() != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := out.String(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
