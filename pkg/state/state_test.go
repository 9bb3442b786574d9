package state

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

var (
	t0      = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	prevRun = t0.Add(24 * time.Hour)
	now     = t0.Add(48 * time.Hour)
)

// finding builds a finding the way the engine does, fingerprint included.
func finding(rule, name, fact string, sev audit.Severity, msg string) audit.Finding {
	f := audit.Finding{
		RuleID: rule, Severity: sev, Message: msg, Fact: fact,
		Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: name, UID: "uid-" + name},
	}
	f.Fingerprint = audit.MakeFingerprint(f)
	return f
}

type keyed struct {
	fp string
	e  Entry
}

// stored is the state entry for f as a run at first/last would have written it.
func stored(f audit.Finding, first, last time.Time) keyed {
	return keyed{f.Fingerprint, Entry{RuleID: f.RuleID, Severity: f.Severity, Object: f.Object, Message: f.Message, FirstSeen: first, LastSeen: last}}
}

func stateOf(lastRun time.Time, entries ...keyed) *State {
	s := New()
	s.LastRun = lastRun
	for _, k := range entries {
		s.Findings[k.fp] = k.e
	}
	return s
}

// describe renders a state's entries by rule/object so failures read as a diff of facts.
func describe(s *State) []string {
	var out []string
	for _, e := range s.Findings {
		out = append(out, fmt.Sprintf("%s %s %s first=%s last=%s", e.RuleID, e.Object.Name, e.Severity, e.FirstSeen.Format(time.RFC3339), e.LastSeen.Format(time.RFC3339)))
	}
	sort.Strings(out)
	return out
}

func TestApply(t *testing.T) {
	unbound := finding("pvc-unbound", "data-0", "", audit.Warning, "claim data-0 is unbound")
	unboundCritical := finding("pvc-unbound", "data-0", "", audit.Critical, "claim data-0 is unbound for 9 days")
	lost := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	attach := finding("va-orphaned", "cache", "node-a", audit.Warning, "attached to node-a")
	attachMoved := finding("va-orphaned", "cache", "node-b", audit.Warning, "attached to node-b")
	resize := finding("pvc-resize-stuck", "db", "10Gi", audit.Info, "resize to 10Gi stuck")
	day := func(t time.Time) string { return t.Format(time.RFC3339) }

	tests := []struct {
		name     string
		prev     *State
		findings []audit.Finding
		ran      []string
		skipped  []string
		// wantNew names the findings (by object) marked New; wantFirst their FirstSeen.
		wantNew      []string
		wantFirst    map[string]time.Time
		wantResolved []string // rule/object, in report order
		wantSince    time.Time
		wantState    []string
	}{
		{
			name:         "first run without state: everything is new, since is zero",
			prev:         nil,
			findings:     []audit.Finding{lost, unbound},
			ran:          []string{"pvc-lost", "pvc-unbound"},
			wantNew:      []string{"logs", "data-0"},
			wantFirst:    map[string]time.Time{"logs": now, "data-0": now},
			wantResolved: nil,
			wantSince:    time.Time{},
			wantState: []string{
				"pvc-lost logs critical first=" + day(now) + " last=" + day(now),
				"pvc-unbound data-0 warning first=" + day(now) + " last=" + day(now),
			},
		},
		{
			name:      "same findings again keep their firstSeen and are not new",
			prev:      stateOf(prevRun, stored(lost, t0, prevRun), stored(unbound, prevRun, prevRun)),
			findings:  []audit.Finding{lost, unbound},
			ran:       []string{"pvc-lost", "pvc-unbound"},
			wantFirst: map[string]time.Time{"logs": t0, "data-0": prevRun},
			wantSince: prevRun,
			wantState: []string{
				"pvc-lost logs critical first=" + day(t0) + " last=" + day(now),
				"pvc-unbound data-0 warning first=" + day(prevRun) + " last=" + day(now),
			},
		},
		{
			name:         "a finding gone while its rule ran is resolved and leaves the state",
			prev:         stateOf(prevRun, stored(lost, t0, prevRun), stored(unbound, t0, prevRun)),
			findings:     []audit.Finding{unbound},
			ran:          []string{"pvc-lost", "pvc-unbound"},
			wantFirst:    map[string]time.Time{"data-0": t0},
			wantResolved: []string{"pvc-lost/logs"},
			wantSince:    prevRun,
			wantState:    []string{"pvc-unbound data-0 warning first=" + day(t0) + " last=" + day(now)},
		},
		{
			name:      "a finding whose rule did not run is carried over untouched",
			prev:      stateOf(prevRun, stored(attach, t0, prevRun), stored(unbound, t0, prevRun)),
			findings:  []audit.Finding{unbound},
			ran:       []string{"pvc-unbound"},
			wantFirst: map[string]time.Time{"data-0": t0},
			wantSince: prevRun,
			wantState: []string{
				"pvc-unbound data-0 warning first=" + day(t0) + " last=" + day(now),
				"va-orphaned cache warning first=" + day(t0) + " last=" + day(prevRun),
			},
		},
		{
			name:      "a rule named in ran but skipped in the report did not run",
			prev:      stateOf(prevRun, stored(attach, t0, prevRun)),
			findings:  nil,
			ran:       []string{"va-orphaned"},
			skipped:   []string{"va-orphaned"},
			wantSince: prevRun,
			wantState: []string{"va-orphaned cache warning first=" + day(t0) + " last=" + day(prevRun)},
		},
		{
			name:      "a severity and message change is the same problem: firstSeen kept",
			prev:      stateOf(prevRun, stored(unbound, t0, prevRun)),
			findings:  []audit.Finding{unboundCritical},
			ran:       []string{"pvc-unbound"},
			wantFirst: map[string]time.Time{"data-0": t0},
			wantSince: prevRun,
			wantState: []string{"pvc-unbound data-0 critical first=" + day(t0) + " last=" + day(now)},
		},
		{
			name:         "a change of the fact that matters is a new finding and the old one resolved",
			prev:         stateOf(prevRun, stored(attach, t0, prevRun)),
			findings:     []audit.Finding{attachMoved},
			ran:          []string{"va-orphaned"},
			wantNew:      []string{"cache"},
			wantFirst:    map[string]time.Time{"cache": now},
			wantResolved: []string{"va-orphaned/cache"},
			wantSince:    prevRun,
			wantState:    []string{"va-orphaned cache warning first=" + day(now) + " last=" + day(now)},
		},
		{
			name: "resolved findings are sorted by severity, then rule and object",
			prev: stateOf(prevRun, stored(resize, t0, prevRun), stored(unbound, t0, prevRun),
				stored(lost, t0, prevRun), stored(attach, t0, prevRun)),
			findings:     nil,
			ran:          []string{"pvc-lost", "pvc-unbound", "pvc-resize-stuck", "va-orphaned"},
			wantResolved: []string{"pvc-lost/logs", "pvc-unbound/data-0", "va-orphaned/cache", "pvc-resize-stuck/db"},
			wantSince:    prevRun,
			wantState:    nil,
		},
		{
			name:      "one problem reported twice is one entry, both findings new",
			prev:      New(),
			findings:  []audit.Finding{resize, resize},
			ran:       []string{"pvc-resize-stuck"},
			wantNew:   []string{"db", "db"},
			wantFirst: map[string]time.Time{"db": now},
			wantState: []string{"pvc-resize-stuck db info first=" + day(now) + " last=" + day(now)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := audit.NewReport("test", now)
			rep.Findings = slices.Clone(tc.findings)
			for _, id := range tc.skipped {
				rep.Skipped = append(rep.Skipped, audit.Skipped{Rule: id, Reason: "needs VolumeAttachment, which could not be read"})
			}
			var before []string
			if tc.prev != nil {
				before = describe(tc.prev)
			}
			next := Apply(tc.prev, rep, tc.ran, now)

			var gotNew []string
			for _, f := range rep.Findings {
				if f.New {
					gotNew = append(gotNew, f.Object.Name)
				}
				if f.FirstSeen == nil || !f.FirstSeen.Equal(tc.wantFirst[f.Object.Name]) {
					t.Errorf("%s firstSeen = %v, want %v", f.Object.Name, f.FirstSeen, tc.wantFirst[f.Object.Name])
				}
			}
			if !slices.Equal(gotNew, tc.wantNew) {
				t.Errorf("new = %v, want %v", gotNew, tc.wantNew)
			}
			var gotResolved []string
			for _, f := range rep.Resolved {
				gotResolved = append(gotResolved, f.RuleID+"/"+f.Object.Name)
				if f.FirstSeen == nil || f.Fingerprint == "" || f.Message == "" {
					t.Errorf("resolved %s lacks firstSeen, fingerprint or message: %+v", f.RuleID, f)
				}
			}
			if !slices.Equal(gotResolved, tc.wantResolved) {
				t.Errorf("resolved = %v, want %v", gotResolved, tc.wantResolved)
			}
			wantChanges := audit.Changes{Since: tc.wantSince, New: len(tc.wantNew), Resolved: len(tc.wantResolved)}
			if rep.Changes == nil || *rep.Changes != wantChanges {
				t.Errorf("changes = %+v, want %+v", rep.Changes, wantChanges)
			}
			if got := describe(next); !slices.Equal(got, tc.wantState) {
				t.Errorf("state:\n got %q\nwant %q", got, tc.wantState)
			}
			if !next.LastRun.Equal(now) || next.Version != Version {
				t.Errorf("state lastRun %v version %d, want %v %d", next.LastRun, next.Version, now, Version)
			}
			if tc.prev != nil && !slices.Equal(describe(tc.prev), before) {
				t.Errorf("Apply modified prev: %q, was %q", describe(tc.prev), before)
			}
		})
	}
}

// TestApplyIsRepeatable re-applies a report, as Record does after a write conflict: the
// second result must not depend on the first attempt's marks on the report.
func TestApplyIsRepeatable(t *testing.T) {
	lost := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	unbound := finding("pvc-unbound", "data-0", "", audit.Warning, "claim data-0 is unbound")
	old := finding("pvc-unbound", "gone", "", audit.Warning, "claim gone is unbound")
	rep := audit.NewReport("test", now)
	rep.Findings = []audit.Finding{lost, unbound}
	ran := []string{"pvc-lost", "pvc-unbound"}

	// First attempt on a stale state where everything is new and "gone" resolves.
	stale := stateOf(prevRun, stored(old, t0, prevRun))
	Apply(stale, rep, ran, now)
	if rep.Changes.Resolved != 1 || rep.Changes.New != 2 {
		t.Fatalf("first attempt changes = %+v", rep.Changes)
	}
	// The retry sees a fresher state another run wrote: lost is known from t0.
	fresh := stateOf(prevRun.Add(time.Hour), stored(lost, t0, prevRun))
	first := Apply(fresh, rep, ran, now)
	again := Apply(fresh, rep, ran, now)
	if !reflect.DeepEqual(first, again) {
		t.Errorf("Apply is not repeatable:\n%+v\n%+v", first, again)
	}
	want := audit.Changes{Since: prevRun.Add(time.Hour), New: 1, Resolved: 0}
	if *rep.Changes != want || rep.Resolved != nil {
		t.Errorf("after retry changes = %+v resolved %v, want %+v and none", rep.Changes, rep.Resolved, want)
	}
	if rep.Findings[0].New || !rep.Findings[0].FirstSeen.Equal(t0) || !rep.Findings[1].New {
		t.Errorf("after retry findings = %+v", rep.Findings)
	}
}

// TestApplyFillsMissingFingerprint covers reports not built by the engine (read back
// from JSON written before fingerprints existed).
func TestApplyFillsMissingFingerprint(t *testing.T) {
	f := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	want := f.Fingerprint
	f.Fingerprint = ""
	rep := audit.NewReport("test", now)
	rep.Findings = []audit.Finding{f}
	next := Apply(nil, rep, []string{"pvc-lost"}, now)
	if rep.Findings[0].Fingerprint != want {
		t.Errorf("fingerprint = %q, want %q", rep.Findings[0].Fingerprint, want)
	}
	if _, ok := next.Findings[want]; !ok {
		t.Errorf("state lacks %s: %v", want, describe(next))
	}
}
