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
	ExitError    = 2 // usage, config, file or connection error; timed out; interrupted
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
  2  usage, config, file or connection error, --timeout ran out, or interrupted
     (SIGINT/Ctrl-C or SIGTERM; a second signal ends the process at once, except
     while fixes are applied or a resize re-creates its StatefulSet)
  3  the audit completed only in part: a kind could not be read or a rule failed
     (the report lists what was skipped)
  4  the report was written but the Slack digest could not be posted (takes
     precedence over 1 and 3: a silent on-call channel is the first thing to fix)`

// manyClustersExitHelp documents the exit code of run and cost with many clusters.
const manyClustersExitHelp = `With --contexts or --all-contexts: 2 when no cluster could be audited, otherwise the
first of 4, 1 and 3 that any cluster has (0 when every cluster has 0); a cluster that
could not be read counts as 3.`

// Main runs the CLI as auditor and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainAs(programName, args, stdin, stdout, stderr)
}

// MainAs runs the CLI invoked as prog (the base name of os.Args[0]) and returns the
// process exit code. As kubectl-storage_audit, a kubectl plugin, help and messages name
// it kubectl storage-audit; kubectl passes the plugin's arguments unchanged.
func MainAs(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := interruptible()
	defer stop()
	tuneGC()
	quietClientLog()
	root := newRoot(stdin, stdout, stderr)
	names := rename(root, displayName(prog))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "error: "+names.rewrite(oneLine(interruptedMessage(ctx, ee.err))))
		}
		return ee.code
	}
	// cobra's own errors (unknown flag or command, bad flag value) are usage errors.
	fmt.Fprintln(stderr, "error: "+names.rewrite(oneLine(interruptedMessage(ctx, err))))
	if errors.Is(err, context.Canceled) {
		return ExitError
	}
	fmt.Fprintln(stderr, names.rewrite("Run '"+programName+" --help' for usage."))
	return ExitError
}

// interruption is the cause of the context of a run stopped by SIGINT or SIGTERM:
// messages say "interrupted by SIGINT" where the context alone says "context canceled".
type interruption struct{ sig os.Signal }

func (i *interruption) Error() string {
	if i.sig == os.Interrupt {
		return "interrupted by SIGINT (Ctrl-C)"
	}
	return "interrupted by " + signalName(i.sig)
}

// Is makes an interruption a context.Canceled, as the context's own error is.
func (i *interruption) Is(target error) bool { return target == context.Canceled }

// interruptible returns a context canceled, with an *interruption as its cause, by the
// first SIGINT or SIGTERM. Only the first is caught: a second one has its default effect
// and ends the process at once, for a run that does not stop quickly enough.
func interruptible() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			cancel(&interruption{sig: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// holdSignals keeps SIGINT and SIGTERM from ending the process while work that must not
// be cut in the middle runs (applying fixes, a StatefulSet resize after its deletion):
// the first signal still cancels ctx — that work stops at its next safe point, or, past
// the point of no return, ignores it — but later ones only print why the auditor goes on,
// instead of killing it halfway. SIGKILL remains for those who really mean it.
func holdSignals(w io.Writer, why string) (release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				fmt.Fprintf(w, "%s received: %s\n", signalName(sig), why)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

func signalName(sig os.Signal) string {
	if sig == os.Interrupt {
		return "SIGINT"
	}
	if s, ok := sig.(syscall.Signal); ok && s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return sig.String()
}

// interruptedMessage is err's message, prefixed with the interruption when a signal
// stopped the command and err does not already say so: whatever failed then failed
// because of it (a canceled request, a cut-short write).
func interruptedMessage(ctx context.Context, err error) string {
	msg := err.Error()
	var intr *interruption
	if errors.As(context.Cause(ctx), &intr) && !strings.Contains(msg, "interrupted") {
		msg = intr.Error() + ": " + msg
	}
	return msg
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

On a laptop it connects like kubectl: --kubeconfig, else $KUBECONFIG (a colon-separated
list of files is merged as kubectl merges it), else ~/.kube/config; --context picks a
context. Exec credential plugins (users[].exec: aws eks get-token, gke-gcloud-auth-plugin,
kubelogin) and the oidc auth provider work as in kubectl. auditor run --contexts a,b or
--all-contexts audits several clusters at once (--max-concurrency at a time, 4 by
default), each through its own connection: one table with a CLUSTER column, or one
document listing a report per cluster; a cluster that cannot be read is reported and the
others are audited all the same.

Installed on PATH as kubectl-storage_audit, the same binary is the kubectl plugin
kubectl storage-audit, with the same commands and flags.

` + exitCodesHelp + "\n" + fixExitHelp + "\n" + manyClustersExitHelp,
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
