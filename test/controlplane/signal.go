package controlplane

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Cleanups to run if this process is interrupted: stopping each control plane started
// without Detach and not yet stopped, and killing a running hack/k8s-binaries.sh. While
// there is one, SIGINT, SIGTERM and SIGHUP are caught: every cleanup runs, then the signal
// is re-raised with its default action, so Ctrl-C during `go test` still ends the test
// binary as usual. (Pdeathsig alone would kill the processes but leave the state
// directories behind, and does not reach a build's grandchildren.)
//
// The handler is only installed while there is something to clean up, so programs that
// never start a control plane, or whose control planes are all stopped, keep their own
// signal behaviour.
var live struct {
	sync.Mutex
	cleanups map[any]func()
	ch       chan os.Signal
}

var catchSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// track registers cleanup under key until untrack(key).
func track(key any, cleanup func()) {
	live.Lock()
	defer live.Unlock()
	if live.cleanups == nil {
		live.cleanups = map[any]func(){}
		live.ch = make(chan os.Signal, 1)
		go handleSignals(live.ch)
	}
	if len(live.cleanups) == 0 {
		signal.Notify(live.ch, catchSignals...)
	}
	live.cleanups[key] = cleanup
}

func untrack(key any) {
	live.Lock()
	defer live.Unlock()
	if _, ok := live.cleanups[key]; !ok {
		return
	}
	delete(live.cleanups, key)
	if len(live.cleanups) == 0 {
		signal.Stop(live.ch)
	}
}

func handleSignals(ch chan os.Signal) {
	for sig := range ch {
		live.Lock()
		var wg sync.WaitGroup
		for key, cleanup := range live.cleanups {
			wg.Go(func() {
				cleanup()
				untrack(key) // a no-op if cleanup untracked it already
			})
		}
		live.Unlock()
		wg.Wait()

		// Untracking the last cleanup removed our registration (signal.Stop), which
		// restores the default action unless someone else handles the signal too.
		// Re-raising it now ends the process the way it would have ended without us.
		// (signal.Reset would also drop other packages' handlers.)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}
}
