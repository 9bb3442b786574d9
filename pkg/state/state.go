// Package state keeps what the auditor remembers from one run to the next: when each
// finding was first seen. Apply compares a report with the previous state, marks the
// report's new findings, lists the resolved ones and returns the state to store; Store
// is where that state lives (a file here, a ConfigMap in pkg/state/configmap).
//
// The state holds exactly what the report it was applied to held: findings hidden by
// --min-severity, namespace filters or ignore annotations are not in it, and a finding
// that becomes hidden reads as resolved. Keep one state per audit scope (one file or
// ConfigMap per cluster and filter set) so that runs compare like with like.
package state

import (
	"cmp"
	"slices"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// Version is the state document version this package writes and reads.
const Version = 1

// State is the document the stores persist: every finding the last runs reported, by
// fingerprint.
type State struct {
	Version int `json:"version"`
	// LastRun is when the state was last applied; zero for a fresh state.
	LastRun  time.Time        `json:"lastRun,omitzero"`
	Findings map[string]Entry `json:"findings"`
}

// Entry is what the state keeps about one finding: enough to list it as resolved.
type Entry struct {
	RuleID   string          `json:"ruleID"`
	Severity audit.Severity  `json:"severity"`
	Object   audit.ObjectRef `json:"object"`
	Message  string          `json:"message"`
	// FirstSeen is when a run first reported the fingerprint; LastSeen when one last did
	// (older than the state's LastRun when the rule did not run last time).
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// New returns an empty state, the one a first run starts from.
func New() *State {
	return &State{Version: Version, Findings: map[string]Entry{}}
}

// Apply compares rep with prev (nil: a first run) and returns the state to store after
// this run. It sets every finding's FirstSeen and New, and rep.Resolved and rep.Changes;
// prev is not modified, and rep's state fields are overwritten, so Apply can be re-run
// on a fresher prev when a store update conflicts.
//
// ran lists the rules that ran to completion. A previous finding is resolved only when
// its rule ran and no longer reports it; the entries of a rule that did not run (not
// selected, skipped because a kind was unreadable, failed) are carried over as they
// were: a permission error is not a fix. Rules listed in rep.Skipped count as not run
// even when ran names them.
//
// On a first run every finding is New and Changes.Since is zero. Times are stored in UTC
// to the second, like the report's generatedAt.
func Apply(prev *State, rep *audit.Report, ran []string, now time.Time) *State {
	now = now.UTC().Truncate(time.Second)
	if prev == nil {
		prev = New()
	}
	completed := make(map[string]bool, len(ran))
	for _, id := range ran {
		completed[id] = true
	}
	for _, s := range rep.Skipped {
		delete(completed, s.Rule)
	}

	next := &State{Version: Version, LastRun: now, Findings: make(map[string]Entry, len(rep.Findings))}
	changes := &audit.Changes{Since: prev.LastRun}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if f.Fingerprint == "" {
			f.Fingerprint = audit.MakeFingerprint(*f)
		}
		first, seen := now, false
		if e, ok := prev.Findings[f.Fingerprint]; ok {
			first, seen = e.FirstSeen, true
		}
		f.FirstSeen, f.New = &first, !seen
		if !seen {
			changes.New++
		}
		// Two findings with one fingerprint are one problem: the first one is kept.
		if _, dup := next.Findings[f.Fingerprint]; !dup {
			next.Findings[f.Fingerprint] = Entry{
				RuleID: f.RuleID, Severity: f.Severity, Object: f.Object, Message: f.Message,
				FirstSeen: first, LastSeen: now,
			}
		}
	}

	var resolved []audit.Finding
	for fp, e := range prev.Findings {
		if _, open := next.Findings[fp]; open {
			continue
		}
		if !completed[e.RuleID] {
			next.Findings[fp] = e
			continue
		}
		first := e.FirstSeen
		resolved = append(resolved, audit.Finding{
			RuleID: e.RuleID, Severity: e.Severity, Object: e.Object, Message: e.Message,
			Fingerprint: fp, FirstSeen: &first,
		})
	}
	sortFindings(resolved)
	rep.Resolved = resolved
	changes.Resolved = len(resolved)
	rep.Changes = changes
	return next
}

// clearReport removes what Apply set on rep, for a run whose state could not be kept.
func clearReport(rep *audit.Report) {
	for i := range rep.Findings {
		rep.Findings[i].FirstSeen = nil
		rep.Findings[i].New = false
	}
	rep.Resolved = nil
	rep.Changes = nil
}

// sortFindings orders resolved findings like the engine orders findings (severity
// highest first, rule, object), then by fingerprint, so the order never depends on map
// iteration.
func sortFindings(fs []audit.Finding) {
	slices.SortFunc(fs, func(a, b audit.Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Object.Kind, b.Object.Kind),
			cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Name, b.Object.Name),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
}
