package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/fix"
	"github.com/storage-auditor/auditor/pkg/report"
)

// ExitFixFailed is `auditor run --fix`'s exit code when an action failed (and `auditor
// fix release-pv`'s when the PV could not be released).
const ExitFixFailed = 5

const fixExitHelp = `  5  --fix: at least one action failed (the result table says which and why;
     skipped, partly applied — a re-check stopped a later step — and not-allowed
     actions are not failures). Takes precedence over 1, 3 and 4.`

// fixFlags are run's --fix flags.
type fixFlags struct {
	enabled    bool
	allow      []string
	yes        bool
	dryRun     string
	maxActions int
	fs         *pflag.FlagSet
}

func (f *fixFlags) addFlags(fs *pflag.FlagSet) {
	f.fs = fs
	fs.BoolVar(&f.enabled, "fix", false, "after the report, print the plan of the fixes the findings propose and apply the allowed ones (live clusters only; safe fixes unless --allow says more)")
	fs.StringSliceVar(&f.allow, "allow", nil, "with --fix, also apply these classes: disruptive (restarts pods), destructive (deletes objects; the rule must also be in the config's fix.allow)")
	fs.BoolVar(&f.yes, "yes", false, "with --fix, apply without asking for confirmation (needed when stdin is not a terminal)")
	fs.StringVar(&f.dryRun, "dry-run", "", "with --fix: server (send every change with dryRun=All: validation and admission run, nothing changes) or client (print the plan only)")
	fs.IntVar(&f.maxActions, "max-actions", fix.DefaultMaxActions, "with --fix, apply at most this many actions (overrides the config's fix.maxActions)")
}

// fixStage is a validated --fix set-up.
type fixStage struct {
	policy fix.Policy
	dryRun string // "", "server" or "client"
	yes    bool
	client kubernetes.Interface
}

// prepare checks the --fix flags before anything is read; nil when --fix is off.
func (f *fixFlags) prepare(a *auditor) (*fixStage, error) {
	if !f.enabled {
		for _, name := range []string{"allow", "yes", "dry-run", "max-actions"} {
			if f.fs.Changed(name) {
				return nil, usageError("--%s applies to --fix: add --fix, or leave it out", name)
			}
		}
		return nil, nil
	}
	if a.cs == nil {
		return nil, usageError("--fix changes a live cluster and cannot be used with --from-file: audit the cluster itself (--kubeconfig, --context)")
	}
	s := &fixStage{dryRun: f.dryRun, yes: f.yes, client: a.cs}
	switch f.dryRun {
	case "", "server", "client":
	default:
		return nil, usageError("--dry-run %q: want server (the API server checks every change, nothing changes) or client (print the plan only)", f.dryRun)
	}
	for _, v := range f.allow {
		switch v {
		case "safe":
		case "disruptive":
			s.policy.AllowDisruptive = true
		case "destructive":
			s.policy.AllowDestructive = true
		default:
			return nil, usageError("--allow %q: want disruptive or destructive (safe fixes are always applied)", v)
		}
	}
	s.policy.MaxActions = config.DefaultFixMaxActions
	s.policy.PodNodeMissingGrace = config.DefaultFixPodNodeMissingGrace
	if a.cfg != nil {
		s.policy.DestructiveRules = a.cfg.FixAllow()
		s.policy.MaxActions = a.cfg.FixMaxActions()
		s.policy.PodNodeMissingGrace = a.cfg.FixPodNodeMissingGrace()
	}
	if f.fs.Changed("max-actions") {
		if f.maxActions < 1 {
			return nil, usageError("--max-actions %d: want 1 or more", f.maxActions)
		}
		s.policy.MaxActions = f.maxActions
	}
	return s, nil
}

// fixOutput is where the plan and the results go: stdout under a table (or when the
// report goes to a file), stderr when stdout carries a JSON, YAML or Markdown document.
func fixOutput(stdout, stderr io.Writer, format report.Format, outputFile string) io.Writer {
	if format == report.Table || outputFile != "" {
		return stdout
	}
	return stderr
}

// run plans the report's fixes, prints the plan, asks, applies and prints the results. It
// returns whether an action failed.
func (s *fixStage) run(ctx context.Context, rep *audit.Report, stdin io.Reader, w io.Writer) (failed bool, err error) {
	plan := fix.NewPlan(rep, s.policy, rep.GeneratedAt)
	fmt.Fprintln(w)
	if err := fix.PrintPlan(w, plan); err != nil {
		return false, err
	}
	n := plan.Allowed()
	switch {
	case len(plan.Actions) == 0:
		return false, nil
	case n == 0:
		fmt.Fprintln(w, "\nNothing to apply: every action above needs what its \"why\" says.")
		return false, nil
	case s.dryRun == "client":
		fmt.Fprintf(w, "\nDry run (client): nothing was sent to the API server; --dry-run=server lets it check the %d %s.\n", n, actions(n))
		return false, nil
	case s.dryRun == "" && !s.yes:
		if !isTerminal(stdin) {
			fmt.Fprintf(w, "\nNothing applied: stdin is not a terminal and --yes was not given; run again with --yes to apply the %d allowed %s above.\n", n, actions(n))
			return false, nil
		}
		if !askToApply(stdin, w, fmt.Sprintf("\nApply %d %s to cluster %s? [y/N] ", n, actions(n), rep.Cluster)) {
			fmt.Fprintln(w, "Nothing applied.")
			return false, nil
		}
	}
	fmt.Fprintln(w)
	// Killed mid-plan, the run would print no result: the user would not know which
	// actions went through. The first signal stops the plan after the current action.
	release := holdSignals(w, "stopping after the current action; the actions after it are reported as not attempted")
	defer release()
	results := (&fix.Applier{Client: s.client, DryRun: s.dryRun == "server"}).Apply(ctx, plan)
	if err := fix.PrintResults(w, results); err != nil {
		return false, err
	}
	return fix.AnyFailed(results), nil
}

// isTerminal reports whether v (stdin, stdout or stderr) is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// askToApply asks question on w and reads the answer from r: only y or yes agree.
func askToApply(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprint(w, question)
	line, _ := bufio.NewReader(r).ReadString('\n')
	return slices.Contains([]string{"y", "yes"}, strings.ToLower(strings.TrimSpace(line)))
}

// actions is "action" or "actions", for n.
func actions(n int) string {
	if n == 1 {
		return "action"
	}
	return "actions"
}

// newFixCmd is `auditor fix`: commands that undo what --fix did.
func newFixCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fix",
		Short: "Undo what auditor run --fix did",
		Long: `Undo what auditor run --fix did.

release-pv removes the reservation the pv-available-unreserved fix put on a PersistentVolume
(a claimRef naming the placeholder claim storage-auditor-reserved/<pv>), so the PV is
Available to any matching claim again — with its old data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var kube kubeOptions
	var dryRun bool
	release := &cobra.Command{
		Use:   "release-pv NAME",
		Short: "Remove the auditor's placeholder reservation from a PersistentVolume",
		Long: `Remove the placeholder claimRef that auditor run --fix set on a PersistentVolume (the
pv-available-unreserved fix) and its storage-auditor.dev/reserved-for annotation. The PV
becomes Available to any matching claim again: the next one binds it, old data included.

Only a reservation the auditor made is removed: a PV whose claimRef someone changed since
is left alone. The patch carries the PV's resourceVersion, so a concurrent change makes it
fail instead of being overwritten. An Event (StorageAuditorReleased) is recorded.

Exit codes: 0 released, 2 usage or connection error, 5 the PV was not released (the
message says why).`,
		Example: `  auditor fix release-pv pvc-f8ff39c0-1d4a-de41-080c-b9eb344b3b6d
  auditor fix release-pv pvc-f8ff39c0 --context prod --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, _, _, err := kube.clientset()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			msg, err := fix.ReleasePV(ctx, cs, args[0], dryRun, time.Now())
			if err != nil {
				return &exitError{code: ExitFixFailed, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	f := release.Flags()
	kube.addConnectionFlags(f)
	f.BoolVar(&dryRun, "dry-run", false, "send the change with dryRun=All: the API server checks it and nothing changes")
	cmd.AddCommand(release)
	return cmd
}
