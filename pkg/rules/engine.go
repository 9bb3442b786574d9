package rules

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// IgnoreAnnotation suppresses findings on the annotated object. Its value is "*" or a
// comma list of rule IDs, optionally followed by ": reason".
const IgnoreAnnotation = "storage-auditor.dev/ignore"

// RuleSettings are the config file's per-rule settings.
type RuleSettings struct {
	Enabled  *bool
	Severity audit.Severity // 0: keep the rule's own severities
	Params   map[string]string
}

// Settings select and tune rules for one run.
type Settings struct {
	Rules map[string]RuleSettings
	// Only, if set, runs just these rule IDs (the --rules flag), enabled or not.
	Only []string
	// IncludeNamespaces/ExcludeNamespaces filter findings on namespaced objects (and on
	// PVs by their claim's namespace). Cluster-scoped objects are always kept.
	IncludeNamespaces []string
	ExcludeNamespaces []string
	MinSeverity       audit.Severity
	// Cost prices the volumes for the report's cost section and carries the budgets
	// cost-budget judges; nil prices with the shipped list prices and sets no budget.
	Cost *cost.Model
}

// Timing is how long one rule took; the CLI prints them with --debug-timings.
type Timing struct {
	Rule     string
	Duration time.Duration
	Findings int
}

// Result is the outcome of a run: the report plus what the CLI needs for exit codes.
type Result struct {
	Report *audit.Report
	// Partial is true when a kind was unreadable or a rule was skipped for an error.
	Partial bool
	Timings []Timing
	// Ran lists the rules that ran to completion with all their inputs, Optional kinds
	// included, in registry order: run-to-run state may only call a finding resolved when
	// its rule ran (a skipped rule fixed nothing). A rule whose optional evidence was not
	// read still reports what it can see, but the problems it could not see are not
	// gone: a forbidden Pod list is not a fix.
	Ran []string
}

// Engine runs a fixed list of rules.
type Engine struct {
	rules []*Rule
	byID  map[string]*Rule
}

// NewEngine validates the rules and their IDs' uniqueness.
func NewEngine(rules []*Rule) (*Engine, error) {
	e := &Engine{rules: rules, byID: map[string]*Rule{}}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if _, dup := e.byID[r.ID]; dup {
			return nil, fmt.Errorf("rule ID %s registered twice", r.ID)
		}
		e.byID[r.ID] = r
	}
	return e, nil
}

// Rules returns the engine's rules in registry order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Rule returns the rule with id, or nil.
func (e *Engine) Rule(id string) *Rule { return e.byID[id] }

// CheckSettings reports unknown rule IDs and bad params (the config decoder reports them
// with file positions first; this guards flags and programmatic use).
func (e *Engine) CheckSettings(s Settings) error {
	for _, id := range s.Only {
		if e.byID[id] == nil {
			return fmt.Errorf("unknown rule %q in --rules; `auditor rules list` shows the IDs", id)
		}
	}
	for id, rs := range s.Rules {
		r := e.byID[id]
		if r == nil {
			return fmt.Errorf("unknown rule %q in config", id)
		}
		for name, v := range rs.Params {
			p := r.Param(name)
			if p == nil {
				return fmt.Errorf("rule %s has no param %q", id, name)
			}
			if err := CheckParam(*p, v); err != nil {
				return fmt.Errorf("rule %s param %s: %v", id, name, err)
			}
		}
	}
	return nil
}

// Run evaluates the selected rules over snap. A rule that errors or panics is reported in
// the skipped list and the others still run.
func (e *Engine) Run(ctx context.Context, snap *snapshot.Snapshot, s Settings, now time.Time) (*Result, error) {
	if err := e.CheckSettings(s); err != nil {
		return nil, err
	}
	rep := audit.NewReport(snap.Source, now)
	res := &Result{Report: rep}
	for _, k := range snap.UnreadableKinds() {
		rep.Unreadable = append(rep.Unreadable, audit.Unreadable{Kind: string(k), Reason: snap.Unreadable(k)})
		res.Partial = true
	}
	f := newFilter(snap, s)
	// The cost section is computed once, before the rules (cost-budget reads it), over the
	// namespaces the run covers (PVs by their claim's namespace, as findings are); it needs
	// the PVs. Waste is added after the rules from the findings of the waste rules that are
	// in scope and not suppressed by annotation: a volume annotated to be ignored is kept on
	// purpose, so it is not waste. Findings hidden by --min-severity still count (hidden
	// below): waste must not depend on what a run chooses to display.
	var costs *cost.Breakdown
	if snap.Loaded(snapshot.PersistentVolumes) {
		costs = cost.Compute(snap, s.Cost, f.namespaceKept)
	}
	var hidden []audit.Finding
	for _, r := range e.rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !selected(r, s) {
			continue
		}
		if why := missingInput(r, snap); why != "" {
			rep.Skipped = append(rep.Skipped, audit.Skipped{Rule: r.ID, Reason: why})
			continue
		}
		rs := s.Rules[r.ID]
		var found []audit.Finding
		start := time.Now()
		err := runIsolated(r, &Pass{
			Snapshot: snap, Now: now, Rule: r, params: rs.Params, costs: costs, model: s.Cost,
			report: func(fd audit.Finding) { found = append(found, fd) },
		})
		res.Timings = append(res.Timings, Timing{Rule: r.ID, Duration: time.Since(start), Findings: len(found)})
		if err != nil {
			// Findings of a failed rule are dropped: a half-run check may be wrong.
			rep.Skipped = append(rep.Skipped, audit.Skipped{Rule: r.ID, Reason: err.Error()})
			res.Partial = true
			continue
		}
		valid := true
		for _, fd := range found {
			if err := validFinding(fd); err != nil {
				rep.Skipped = append(rep.Skipped, audit.Skipped{Rule: r.ID, Reason: "reported an invalid finding: " + err.Error()})
				res.Partial = true
				valid = false
				break
			}
			if rs.Severity != 0 {
				fd.Severity = rs.Severity
			}
			fd.Fingerprint = audit.MakeFingerprint(fd)
			switch f.verdict(fd) {
			case keep:
				rep.Findings = append(rep.Findings, fd)
				rep.Summary.Count(fd.Severity)
			case suppressed:
				rep.Summary.Suppressed++
			case belowMin:
				if _, waste := cost.WasteBucket(fd.RuleID); waste && costs != nil && f.scope(fd) == keep {
					hidden = append(hidden, fd)
				}
			}
		}
		if valid && allRead(r.Optional, snap) {
			res.Ran = append(res.Ran, r.ID)
		}
	}
	if costs != nil {
		cost.ApplyWaste(costs, rep.Findings, hidden)
		rep.Cost = costs.Cost
	}
	Sort(rep.Findings)
	return res, nil
}

func selected(r *Rule, s Settings) bool {
	if len(s.Only) > 0 {
		return slices.Contains(s.Only, r.ID)
	}
	if rs, ok := s.Rules[r.ID]; ok && rs.Enabled != nil {
		return *rs.Enabled
	}
	return true
}

// missingInput says why a rule cannot run on this snapshot, or "".
func missingInput(r *Rule, snap *snapshot.Snapshot) string {
	for _, k := range r.Reads {
		if why := snap.Unreadable(k); why != "" {
			return fmt.Sprintf("needs %s, which could not be read: %s", k, why)
		}
		if !snap.Loaded(k) {
			return fmt.Sprintf("needs %s objects and the input has none; include them in the dump (kubectl get %s)", k, k.Resource())
		}
	}
	return ""
}

// allRead reports whether every kind in ks was read completely.
func allRead(ks []snapshot.Kind, snap *snapshot.Snapshot) bool {
	for _, k := range ks {
		if !snap.Loaded(k) {
			return false
		}
	}
	return true
}

func runIsolated(r *Rule, p *Pass) (err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := strings.Split(string(debug.Stack()), "\n")
			where := ""
			// The frame after the panic call is the rule's line: keep it for the bug report.
			for i, l := range stack {
				if strings.Contains(l, "panic(") && i+3 < len(stack) {
					where = " at " + strings.TrimSpace(stack[i+3])
					break
				}
			}
			err = fmt.Errorf("rule panicked: %v%s (please report this bug)", v, where)
		}
	}()
	if err := r.Check(p); err != nil {
		return fmt.Errorf("rule failed: %w", err)
	}
	return nil
}

func validFinding(f audit.Finding) error {
	switch {
	case f.Severity < audit.Info || f.Severity > audit.Critical:
		return fmt.Errorf("severity %d", f.Severity)
	case f.Object.Kind == "" || f.Object.Name == "":
		return fmt.Errorf("no object")
	case f.Message == "":
		return fmt.Errorf("no message")
	}
	return nil
}

type verdict int

const (
	keep verdict = iota
	filtered
	suppressed
	belowMin // below the minimum severity; in scope or not
)

type filter struct {
	snap    *snapshot.Snapshot
	include map[string]bool
	exclude map[string]bool
	min     audit.Severity
}

func newFilter(snap *snapshot.Snapshot, s Settings) *filter {
	set := func(l []string) map[string]bool {
		if len(l) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, n := range l {
			m[n] = true
		}
		return m
	}
	return &filter{snap: snap, include: set(s.IncludeNamespaces), exclude: set(s.ExcludeNamespaces), min: s.MinSeverity}
}

func (f *filter) verdict(fd audit.Finding) verdict {
	if fd.Severity < f.min {
		return belowMin
	}
	return f.scope(fd)
}

// scope judges a finding by its namespace and ignore annotation only.
func (f *filter) scope(fd audit.Finding) verdict {
	ns := fd.Object.Namespace
	obj := f.snap.Object(snapshot.Kind(fd.Object.Kind), fd.Object.Namespace, fd.Object.Name)
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		ns = pv.Spec.ClaimRef.Namespace
	}
	if ns != "" && !f.namespaceKept(ns) {
		return filtered
	}
	if obj != nil && Ignores(obj.GetAnnotations()[IgnoreAnnotation], fd.RuleID) {
		return suppressed
	}
	return keep
}

// namespaceKept reports whether the run covers namespace ns.
func (f *filter) namespaceKept(ns string) bool {
	return (f.include == nil || f.include[ns]) && !f.exclude[ns]
}

// Ignores reports whether an ignore annotation value covers rule id.
func Ignores(value, id string) bool {
	ids, _, _ := strings.Cut(value, ":")
	for _, v := range strings.Split(ids, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || v == id {
			return true
		}
	}
	return false
}

// Sort orders findings deterministically: severity (highest first), rule, object.
func Sort(fs []audit.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		if a.Object.Kind != b.Object.Kind {
			return a.Object.Kind < b.Object.Kind
		}
		if a.Object.Namespace != b.Object.Namespace {
			return a.Object.Namespace < b.Object.Namespace
		}
		if a.Object.Name != b.Object.Name {
			return a.Object.Name < b.Object.Name
		}
		return a.Message < b.Message
	})
}
