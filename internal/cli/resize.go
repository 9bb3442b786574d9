package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/fix/stsresize"
	"github.com/storage-auditor/auditor/pkg/preflight"
)

// Exit codes of `auditor resize statefulset` (0 and 2 as for every command).
const (
	ExitResizeStopped  = 3 // stopped before deleting the StatefulSet; it is untouched
	ExitResizeRestored = 5 // re-creation failed; the original StatefulSet was re-created
	ExitResizeManual   = 6 // could not finish; the message says what to do by hand
)

const resizeExitCodesHelp = `Exit codes:
  0  resized, or nothing to do; with --dry-run, the plan was printed
  2  refused (the reason is printed) or declined at the prompt, or a usage or
     connection error: nothing was changed
  3  stopped before the StatefulSet was deleted (claims did not reach the size
     within --timeout, a claim patch failed, the StatefulSet changed since the
     plan): the StatefulSet is untouched; run the same command again to continue
  5  re-creating the StatefulSet with the new template failed and the original
     was re-created: nothing is lost and the claims are already expanded; fix the
     cause (printed) and run again
  6  manual action needed: the StatefulSet may be missing (its pods and claims
     are kept) or its adoption of the pods was not confirmed; the message says
     what to do and which saved manifest to apply`

type resizeOptions struct {
	kube      kubeOptions
	size      string
	template  string
	dryRun    bool
	yes       bool
	timeout   time.Duration
	backupDir string
}

func newResizeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resize",
		Short: "Grow volumes that Kubernetes cannot grow in place (StatefulSet volumeClaimTemplates)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newResizeStatefulSetCmd())
	return cmd
}

func newResizeStatefulSetCmd() *cobra.Command {
	o := &resizeOptions{}
	cmd := &cobra.Command{
		Use:     "statefulset NAMESPACE/NAME --size SIZE",
		Aliases: []string{"sts"},
		Short:   "Grow a StatefulSet's volumes and its volumeClaimTemplate, safely",
		Long: `Grow the volumes of a StatefulSet and its volumeClaimTemplate to --size.

The API server refuses any change to volumeClaimTemplates, and the StatefulSet
controller never resizes existing claims. This command performs the manual procedure,
with checks at every step:

  1. Refuse, saying why, when a claim cannot really be expanded: its class does not
     allow expansion, its provisioner never expands (local-path, nfs-subdir, hostPath
     provisioners), its volume is hostPath/local/nfs, or its CSI driver has no
     external-resizer (the verdict of the rule sc-expansion-unsupported). Never shrink.
  2. Patch every claim <template>-<name>-<ordinal> below the size — retained claims
     outside the live ordinals too, since a scale-up re-attaches them — and wait until
     each reports the size (status.capacity, or the control plane done and the file
     system resize left to the kubelet: FileSystemResizePending). Progress is printed.
     On --timeout it stops here, before the StatefulSet is touched.
  3. Re-read the StatefulSet (stop if its spec changed), save its manifest, original
     and resized, to --backup-dir, and delete it with propagationPolicy Orphan: pods
     and claims stay. Wait until the garbage collector has removed it.
  4. Create it again with the new template and everything else unchanged (selector,
     serviceName, podManagementPolicy, labels, annotations, ownerReferences). If the
     API server refuses it, re-create the original: you are never left without your
     StatefulSet. Once the deletion is sent, an interrupt no longer stops the run.
  5. Verify that the new StatefulSet adopted the pods and that the claims are the same.

Finally it prints what to change where the StatefulSet is defined (the Helm chart's
size value), or the next helm upgrade fails.

It reads the cluster like auditor run (get/list) and needs: get, list and patch on
persistentvolumeclaims; get, delete and create on statefulsets in the namespace.
On a terminal it asks before changing anything; --yes skips the question; without a
terminal and without --yes it refuses.

` + resizeExitCodesHelp,
		Example: `  auditor resize statefulset shop/web --size 20Gi --dry-run
  auditor resize statefulset shop/web --size 20Gi
  auditor resize sts db/postgres --size 200Gi --template pgdata --timeout 30m --yes`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("want one argument, NAMESPACE/NAME of the StatefulSet (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	o.kube.addConnectionFlags(f)
	f.StringVar(&o.size, "size", "", "the new size of every volume of the template, a quantity such as 20Gi (required; never smaller than now)")
	f.StringVar(&o.template, "template", "", "the volumeClaimTemplate to grow (required when the StatefulSet has several)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and the steps; change nothing")
	f.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (needed when stdin is not a terminal)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long each wait may take: reading the cluster, claims reaching the size, the garbage collector removing the StatefulSet, the adoption of the pods")
	f.StringVar(&o.backupDir, "backup-dir", "", "where the original and the resized manifest are saved before the deletion (default: a new directory under the system's temporary directory)")
	return cmd
}

func (o *resizeOptions) run(ctx context.Context, arg string, stdin io.Reader, stdout io.Writer) error {
	ns, name, ok := strings.Cut(arg, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return usageError("%q: want NAMESPACE/NAME of the StatefulSet, e.g. shop/web", arg)
	}
	if o.size == "" {
		return usageError("--size is required, e.g. --size 20Gi")
	}
	size, err := resource.ParseQuantity(o.size)
	if err != nil || size.Sign() <= 0 {
		return usageError("--size %q: want a positive quantity such as 20Gi", o.size)
	}
	if o.timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	cs, _, _, err := o.kube.clientset()
	if err != nil {
		return err
	}
	readCtx, cancel := context.WithTimeout(ctx, o.timeout)
	in, err := stsresize.Read(readCtx, cs, ns, name)
	cancel()
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	// Pre-flight first, on the same snapshot: a no-go (the class cannot really expand, no
	// resizer, no quota for the growth) refuses before anything changes.
	pf := &preflight.Checker{Snapshot: in.Evidence, Now: time.Now()}
	if check, err := pf.ResizeStatefulSet(ns, name, o.template, size); err == nil && check.Verdict == preflight.NoGo {
		var why []string
		for _, c := range check.Checks {
			if c.Severity == audit.Critical {
				why = append(why, c.Message)
			}
		}
		return &exitError{code: ExitError, err: fmt.Errorf("refused, nothing changed: auditor preflight resize statefulset %s/%s --size %s says no-go: %s", ns, name, size.String(), strings.Join(why, "; "))}
	}
	dir := o.backupDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("auditor-resize-%s-%s-%s", ns, name, time.Now().UTC().Format("20060102T150405Z")))
	}
	plan, err := stsresize.Decide(in, stsresize.Request{Namespace: ns, Name: name, Template: o.template, Size: size, Timeout: o.timeout, BackupDir: dir})
	var refusal *stsresize.Refusal
	if errors.As(err, &refusal) {
		return &exitError{code: ExitError, err: fmt.Errorf("refused, nothing changed: %s", refusal.Reason)}
	}
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	plan.Write(stdout)
	switch {
	case plan.NothingToDo():
		return nil
	case o.dryRun:
		fmt.Fprintln(stdout, "\nDry run: nothing was changed.")
		return nil
	}
	if !o.yes {
		if err := confirm(stdin, stdout, fmt.Sprintf("StatefulSet %s/%s", ns, name)); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	// Once the StatefulSet is deleted, stopping would leave it missing: Execute ignores
	// the cancel from then on, and later signals must not kill the process either.
	release := holdSignals(stdout, "the resize stops before the StatefulSet is deleted; once it is deleted, it goes on until the StatefulSet exists again (SIGKILL would leave it missing)")
	defer release()
	res, err := stsresize.Execute(ctx, plan, stsresize.Options{Client: cs, Progress: stdout})
	if err != nil {
		return resizeExit(err)
	}
	fmt.Fprintln(stdout)
	if plan.Recreate {
		fmt.Fprintf(stdout, "Done: StatefulSet %s/%s was re-created (uid %s) with volumeClaimTemplate %q at %s", ns, name, res.UID, plan.Template, size.String())
		if len(res.Adopted) > 0 {
			fmt.Fprintf(stdout, " and controls pods %s", strings.Join(res.Adopted, ", "))
		}
		fmt.Fprintf(stdout, ".\nSaved manifests: %s, %s\n", res.Backup.Original, res.Backup.Resized)
	} else {
		fmt.Fprintf(stdout, "Done: the claims of volumeClaimTemplate %q have %s.\n", plan.Template, size.String())
	}
	if len(res.FileSystemPending) > 0 {
		fmt.Fprintf(stdout, "The file systems of %s grow when the kubelet mounts them again: restart their pods one at a time (kubectl delete pod) when convenient.\n",
			strings.Join(res.FileSystemPending, ", "))
	}
	fmt.Fprintf(stdout, "Next: %s\n", plan.FollowUp())
	return nil
}

// resizeExit maps the workflow's outcome to the documented exit codes.
func resizeExit(err error) error {
	var stopped *stsresize.Stopped
	var restored *stsresize.Restored
	var manual *stsresize.NeedsAction
	switch {
	case errors.As(err, &restored):
		return &exitError{code: ExitResizeRestored, err: err}
	case errors.As(err, &manual):
		return &exitError{code: ExitResizeManual, err: err}
	case errors.As(err, &stopped):
		return &exitError{code: ExitResizeStopped, err: err}
	}
	return &exitError{code: ExitError, err: err}
}

// confirm asks on a terminal, as kubectl delete --interactive does; without a terminal
// it refuses, so a script never deletes a StatefulSet because nobody was asked.
func confirm(stdin io.Reader, stdout io.Writer, what string) error {
	if !isTerminal(stdin) {
		return usageError("stdin is not a terminal, so nobody can confirm: review the plan with --dry-run, then pass --yes")
	}
	if askToApply(stdin, stdout, fmt.Sprintf("\nResize %s as planned above? (y/N): ", what)) {
		return nil
	}
	return usageError("declined: nothing was changed")
}
