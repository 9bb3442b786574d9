// Package cli holds the auditor's commands and flags. It parses options, wires packages
// together and maps outcomes to exit codes; the logic lives in pkg/.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes are a documented contract (README, `auditor --help`).
const (
	ExitOK       = 0 // the audit completed; nothing at or above --fail-on
	ExitFindings = 1 // findings at or above --fail-on
	ExitError    = 2 // usage, config, file or connection error
	ExitPartial  = 3 // the audit completed only in part (a kind unreadable, a rule failed)
	ExitNotify   = 4 // the report was written but the Slack digest could not be posted
)

// exitError carries an exit code with an optional message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, a ...any) error {
	return &exitError{code: ExitError, err: fmt.Errorf(format, a...)}
}

const exitCodesHelp = `Exit codes:
  0  the audit completed and nothing is at or above --fail-on
  1  findings at or above --fail-on (takes precedence over 3)
  2  usage, config, file or connection error
  3  the audit completed only in part: a kind could not be read or a rule failed
     (the report lists what was skipped)
  4  the report was written but the Slack digest could not be posted (takes
     precedence over 1 and 3: a silent on-call channel is the first thing to fix)`

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "error: "+oneLine(ee.err.Error()))
		}
		return ee.code
	}
	// cobra's own errors (unknown flag or command, bad flag value) are usage errors.
	fmt.Fprintln(stderr, "error: "+oneLine(err.Error()))
	if errors.Is(err, context.Canceled) {
		return ExitError
	}
	fmt.Fprintln(stderr, "Run 'auditor --help' for usage.")
	return ExitError
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "auditor",
		Short: "Audit the storage of a Kubernetes cluster",
		Long: `storage-auditor finds storage states that Kubernetes accepts silently and that cost
data or money: Released and Available Retain PersistentVolumes, PVC expansions nobody
performs, StorageClasses that promise expansion their provisioner cannot deliver,
StatefulSet volume templates drifting from their PVCs, retained ordinals, attach limits,
pods stuck on deleted nodes.

It reads a live cluster through your kubeconfig (get/list only; the one write is its
state ConfigMap, when --state-configmap asks for it) or a dump of objects made with
kubectl get -o yaml. It reports as a table, JSON, YAML or Markdown, tells what changed
since the previous run (--state-file, --state-configmap), posts Slack digests, and puts a
monthly price on the storage and its waste. auditor run audits once; auditor serve audits
on a schedule and serves Prometheus metrics.

` + exitCodesHelp + "\n" + fixExitHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newRunCmd(), newServeCmd(), newCostCmd(), newRulesCmd(), newVersionCmd(), newResizeCmd(), newPreflightCmd(), newFixCmd())
	return root
}
