// Package fix turns the fixes rules propose (audit.Fix) into changes to a cluster: a plan
// (pure: which actions run, which do not and why), its printed form, and an Applier that
// re-reads every object, re-checks each finding and sends exactly the planned requests
// with the audit's UIDs and resourceVersions as preconditions. It is the only package of
// the auditor that changes a cluster's objects.
package fix

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// FieldManager names the auditor in managedFields and is the source of its Events.
const FieldManager = "storage-auditor"

// DefaultMaxActions caps the actions of one run when the policy sets no limit.
const DefaultMaxActions = 10

// Policy says which fixes a run may apply.
type Policy struct {
	// AllowDisruptive and AllowDestructive are --allow disruptive / destructive. Safe
	// fixes are always allowed.
	AllowDisruptive  bool
	AllowDestructive bool
	// DestructiveRules are the config's fix.allow: a destructive fix also needs its rule
	// listed there.
	DestructiveRules []string
	// MaxActions caps the actions applied (0: DefaultMaxActions).
	MaxActions int
	// PodNodeMissingGrace is how long a StatefulSet pod's node must have been gone
	// before the pod is force-deleted (fixes of action force-delete-pod that Wait).
	PodNodeMissingGrace time.Duration
}

// Plan is the ordered list of actions a run proposes: safe first, then disruptive, then
// destructive, each in the report's order.
type Plan struct {
	Cluster string
	// At is when the plan was made: the fixed-by annotations carry it and held-back
	// fixes are judged against it.
	At      time.Time
	Actions []*Action
}

// Action is one fix of one finding, with the requests that apply it and whether this run
// may.
type Action struct {
	N       int // position in the plan, from 1
	RuleID  string
	Finding audit.ObjectRef // the object the finding is about
	Fix     audit.Fix
	// Requests are the API requests, in the order of Fix.Steps.
	Requests []Request
	Allowed  bool
	// Why says what keeps a not-allowed action from running (and what would allow it).
	Why string
	// firstSeen is the finding's firstSeen (run-to-run state), which dates held-back fixes.
	firstSeen *time.Time
}

// Request is one step as it is sent: Body is the exact patch (the fix's patch plus the
// target's resourceVersion and the fixed-by annotation); deletes carry preconditions.
type Request struct {
	Step audit.FixStep
	// Body is the merge patch sent; nil for a delete.
	Body []byte
}

// Target is the object the action changes first (the one its Event is recorded on).
func (a *Action) Target() audit.FixTarget { return a.Fix.Steps[0].Target }

// NewPlan plans the fixes of rep's findings under pol at time at.
func NewPlan(rep *audit.Report, pol Policy, at time.Time) *Plan {
	p := &Plan{Cluster: rep.Cluster, At: at.UTC().Truncate(time.Second)}
	for _, f := range rep.Findings {
		for _, fx := range f.Fixes {
			p.Actions = append(p.Actions, &Action{RuleID: f.RuleID, Finding: f.Object, Fix: fx, Allowed: true, firstSeen: f.FirstSeen})
		}
	}
	sort.SliceStable(p.Actions, func(i, j int) bool { return p.Actions[i].Fix.Safety < p.Actions[j].Fix.Safety })
	maxActions := pol.MaxActions
	if maxActions <= 0 {
		maxActions = DefaultMaxActions
	}
	seen := map[string]int{}
	allowed := 0
	for i, a := range p.Actions {
		a.N = i + 1
		var err error
		if a.Requests, err = requests(a, p.At); err != nil {
			a.Allowed, a.Why = false, err.Error()
			continue
		}
		key := a.Fix.Action + " " + a.Target().ObjectRef.String()
		if n, dup := seen[key]; dup {
			a.Allowed, a.Why = false, fmt.Sprintf("the same action on the same object as #%d", n)
			continue
		}
		seen[key] = a.N
		if why := pol.gate(a, p.At); why != "" {
			a.Allowed, a.Why = false, why
			continue
		}
		if allowed == maxActions {
			a.Allowed, a.Why = false, fmt.Sprintf("over the limit of %d actions a run (--max-actions, fix.maxActions)", maxActions)
			continue
		}
		allowed++
	}
	return p
}

// gate says why policy keeps a from running, or "".
func (pol Policy) gate(a *Action, at time.Time) string {
	switch a.Fix.Safety {
	case audit.Safe:
	case audit.Disruptive:
		if !pol.AllowDisruptive {
			return "disruptive (restarts pods): needs --allow disruptive"
		}
	case audit.Destructive:
		listed := slices.Contains(pol.DestructiveRules, a.RuleID)
		switch {
		case !pol.AllowDestructive && !listed:
			return fmt.Sprintf("destructive (deletes objects or data): needs --allow destructive and %s in fix.allow of the config file", a.RuleID)
		case !pol.AllowDestructive:
			return "destructive (deletes objects or data): needs --allow destructive"
		case !listed:
			return fmt.Sprintf("destructive (deletes objects or data): needs %s in fix.allow of the config file", a.RuleID)
		}
	default:
		return fmt.Sprintf("unknown safety class %d: not applied", int(a.Fix.Safety))
	}
	if w := a.Fix.Wait; w != nil {
		return pol.waitGate(a, w, a.firstSeen, at)
	}
	return ""
}

// waitGate holds a fix back until the evidence it waits on is older than its grace. The
// earliest evidence counts: the rule's (a deletionTimestamp…) or, with run-to-run state,
// when the auditor first saw the finding.
func (pol Policy) waitGate(a *Action, w *audit.FixWait, firstSeen *time.Time, at time.Time) string {
	if a.Fix.Action != "force-delete-pod" {
		return fmt.Sprintf("waits for %s, and this auditor knows no grace period for action %s", w.For, a.Fix.Action)
	}
	grace, param := pol.PodNodeMissingGrace, "fix.podNodeMissingGrace"
	since, source := w.Since, w.Source
	if firstSeen != nil && (since == nil || firstSeen.Before(*since)) {
		since, source = firstSeen, "when the auditor first saw the finding (run-to-run state)"
	}
	if since == nil {
		return fmt.Sprintf("waits for %s (%s %s), and nothing dates it: the pod has no deletionTimestamp or DisruptionTarget condition; keep run-to-run state (--state-file) so a later run knows since when the auditor has seen it",
			w.For, param, snapshot.HumanDuration(grace))
	}
	if age := at.Sub(*since); age < grace {
		return fmt.Sprintf("waits for %s (%s %s): known for only %s (since %s, %s)",
			w.For, param, snapshot.HumanDuration(grace), snapshot.HumanDuration(age), since.UTC().Format(time.RFC3339), source)
	}
	return ""
}

// requests builds the requests of a's steps: each patch gets the target's
// resourceVersion (a concurrent write then fails with 409 instead of being overwritten)
// and the fixed-by annotation. A fix from an audit that recorded no UID or
// resourceVersion (a dump) cannot be applied safely.
func requests(a *Action, at time.Time) ([]Request, error) {
	if len(a.Fix.Steps) == 0 {
		return nil, fmt.Errorf("the fix has no steps")
	}
	fixedBy := a.RuleID + "@" + at.Format(time.RFC3339)
	var out []Request
	for i, s := range a.Fix.Steps {
		t := s.Target
		if t.UID == "" || (t.ResourceVersion == "" && !s.ChangedByPrevious) {
			return nil, fmt.Errorf("the audit did not record %s's UID and resourceVersion (a dump?): fixes need an audit of the live cluster", t.ObjectRef)
		}
		if s.ChangedByPrevious && i == 0 {
			return nil, fmt.Errorf("the fix's first step depends on a step before it")
		}
		r := Request{Step: s}
		switch {
		case s.Patch != nil && s.Delete == nil && !s.ChangedByPrevious:
			if s.Patch.Type != audit.MergePatch {
				return nil, fmt.Errorf("patch type %q is not supported by this auditor", s.Patch.Type)
			}
			body, err := finalPatch(s.Patch.Data, t.ResourceVersion, fixedBy)
			if err != nil {
				return nil, fmt.Errorf("patch of %s: %v", t.ObjectRef, err)
			}
			r.Body = body
		case s.Delete != nil && s.Patch == nil:
		default:
			return nil, fmt.Errorf("step %d of the fix is neither one patch nor one delete", i+1)
		}
		out = append(out, r)
	}
	for _, u := range a.Fix.Unchanged {
		if u.UID == "" || u.ResourceVersion == "" {
			return nil, fmt.Errorf("the audit did not record %s's UID and resourceVersion (a dump?): fixes need an audit of the live cluster", u.ObjectRef)
		}
	}
	return out, nil
}

// finalPatch adds metadata.resourceVersion and the fixed-by annotation to a merge patch.
func finalPatch(data, resourceVersion, fixedBy string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	md, _ := doc["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann[audit.FixedByAnnotation] = fixedBy
	md["annotations"] = ann
	md["resourceVersion"] = resourceVersion
	doc["metadata"] = md
	return json.Marshal(doc)
}

// Counts tallies a plan: actions allowed per safety class, and not allowed.
func (p *Plan) Counts() (allowed map[audit.Safety]int, notAllowed int) {
	allowed = map[audit.Safety]int{}
	for _, a := range p.Actions {
		if a.Allowed {
			allowed[a.Fix.Safety]++
		} else {
			notAllowed++
		}
	}
	return allowed, notAllowed
}

// Allowed returns how many actions the plan would apply.
func (p *Plan) Allowed() int {
	n := 0
	for _, a := range p.Actions {
		if a.Allowed {
			n++
		}
	}
	return n
}

// describeSafeties renders per-class counts: "2 safe, 1 disruptive".
func describeSafeties(m map[audit.Safety]int) string {
	var parts []string
	for _, s := range audit.Safeties {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	return strings.Join(parts, ", ")
}
