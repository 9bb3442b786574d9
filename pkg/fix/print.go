package fix

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintPlan writes the plan for a person to review before anything changes: per action
// its decision, safety class, action, object, what it does, and the exact requests —
// the patch body byte for byte as it will be sent, the preconditions of each delete.
func PrintPlan(w io.Writer, p *Plan) error {
	ew := &errWriter{w: w}
	if len(p.Actions) == 0 {
		ew.printf("Fix plan for %s: no finding proposes a fix.\n", p.Cluster)
		return ew.err
	}
	allowed, notAllowed := p.Counts()
	apply := "nothing to apply"
	if n := p.Allowed(); n > 0 {
		apply = fmt.Sprintf("%d to apply (%s)", n, describeSafeties(allowed))
	}
	ew.printf("Fix plan for %s (%s): %d %s, %s, %d not allowed.\n", p.Cluster, p.At.Format(time.RFC3339),
		len(p.Actions), plural(len(p.Actions), "action", "actions"), apply, notAllowed)
	for _, a := range p.Actions {
		decision := "apply"
		if !a.Allowed {
			decision = "NOT ALLOWED"
		}
		ew.printf("\n#%d %s  %s  %s  %s", a.N, decision, a.Fix.Safety, a.Fix.Action, a.Target().ObjectRef)
		if a.Finding != a.Target().ObjectRef {
			ew.printf(" for %s", a.Finding)
		}
		ew.printf(" (rule %s)\n", a.RuleID)
		if !a.Allowed {
			ew.printf("   why: %s\n", a.Why)
		}
		ew.printf("   %s\n", a.Fix.Description)
		for i, r := range a.Requests {
			ew.printf("   %s\n", describeRequest(r, i))
			if r.Body != nil {
				ew.printf("     %s\n", r.Body)
			}
		}
		for _, u := range a.Fix.Unchanged {
			ew.printf("   only while unchanged since the audit: %s (uid %s, resourceVersion %s)\n", u.ObjectRef, u.UID, u.ResourceVersion)
		}
		ew.printf("   by hand: %s\n", a.Fix.Kubectl)
	}
	return ew.err
}

// describeRequest renders a request's verb, object and preconditions.
func describeRequest(r Request, i int) string {
	t := r.Step.Target
	then := ""
	if i > 0 {
		then = "then "
	}
	if r.Body != nil {
		return fmt.Sprintf("%sPATCH %s (merge patch, field manager %s; applied only while uid is %s and resourceVersion %s):",
			then, t.ObjectRef, FieldManager, t.UID, t.ResourceVersion)
	}
	rv := "resourceVersion " + t.ResourceVersion
	if r.Step.ChangedByPrevious {
		rv = "resourceVersion read again after the step before, which changes it"
	}
	grace := ""
	if g := r.Step.Delete.GracePeriodSeconds; g != nil {
		grace = fmt.Sprintf(", gracePeriodSeconds %d", *g)
	}
	return fmt.Sprintf("%sDELETE %s (preconditions: uid %s, %s%s)", then, t.ObjectRef, t.UID, rv, grace)
}

// Outcome is what applying an action did.
type Outcome string

const (
	Applied  Outcome = "applied"
	DryRunOK Outcome = "dry-run ok" // the API server accepted every request with dryRun=All
	Skipped  Outcome = "skipped"    // something changed since the audit, or the finding no longer holds
	Failed   Outcome = "failed"     // a request failed (permissions, validation, admission)
	// Partial: the first steps were applied, then a re-check stopped the rest (the claim
	// was deleted, but its PV is claimed again and was kept). Not a failure — the check
	// did its job — but not what the plan said either, so it is counted on its own.
	Partial    Outcome = "partly applied"
	NotAllowed Outcome = "not allowed"
)

// Result is the outcome of one action, with why it was skipped, what failed, or notes.
type Result struct {
	Action  *Action
	Outcome Outcome
	Detail  string
}

// PrintResults writes one line per action: outcome, number, action, object, detail; then
// the totals.
func PrintResults(w io.Writer, rs []Result) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\t#\tACTION\tOBJECT\tDETAIL")
	counts := map[Outcome]int{}
	for _, r := range rs {
		counts[r.Outcome]++
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Outcome, r.Action.N, r.Action.Fix.Action, r.Action.Target().ObjectRef, oneLine(r.Detail))
	}
	_ = tw.Flush()
	var parts []string
	for _, o := range []Outcome{Applied, Partial, DryRunOK, Skipped, Failed, NotAllowed} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no actions"}
	}
	ew.printf("Fix results: %s.\n", strings.Join(parts, ", "))
	return ew.err
}

// AnyFailed reports whether an action failed.
func AnyFailed(rs []Result) bool {
	for _, r := range rs {
		if r.Outcome == Failed {
			return true
		}
	}
	return false
}

// NotAllowedResults lists a plan's not-allowed actions as results, for runs that apply
// nothing (declined, no terminal, --dry-run=client) but still account for every action.
func NotAllowedResults(p *Plan) []Result {
	var out []Result
	for _, a := range p.Actions {
		if !a.Allowed {
			out = append(out, Result{Action: a, Outcome: NotAllowed, Detail: a.Why})
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// errWriter keeps the first write error so printers can write freely and report once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }
