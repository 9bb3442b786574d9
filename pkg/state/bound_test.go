package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// mixedState has stale entries (rules that did not run last time) and current ones of
// every severity, first seen at different times.
func mixedState() *State {
	s := New()
	s.LastRun = now
	add := func(name string, sev audit.Severity, first, last time.Time) {
		f := finding("rule-"+sev.String(), name, "", sev, "message about "+name)
		s.Findings[f.Fingerprint] = Entry{RuleID: f.RuleID, Severity: sev, Object: f.Object, Message: f.Message, FirstSeen: first, LastSeen: last}
	}
	add("stale-old", audit.Critical, t0, t0)
	add("stale-recent", audit.Critical, t0, prevRun)
	add("info-new", audit.Info, now, now)
	add("info-old", audit.Info, t0, now)
	add("warning-new", audit.Warning, now, now)
	add("critical-old", audit.Critical, t0, now)
	return s
}

func names(s *State) []string {
	var out []string
	for _, e := range s.Findings {
		out = append(out, e.Object.Name)
	}
	sort.Strings(out)
	return out
}

func TestTrimOrder(t *testing.T) {
	tests := []struct {
		max         int
		wantDropped int
		wantKept    []string
	}{
		{max: 6, wantDropped: 0, wantKept: []string{"critical-old", "info-new", "info-old", "stale-old", "stale-recent", "warning-new"}},
		{max: 5, wantDropped: 1, wantKept: []string{"critical-old", "info-new", "info-old", "stale-recent", "warning-new"}},
		{max: 4, wantDropped: 2, wantKept: []string{"critical-old", "info-new", "info-old", "warning-new"}},
		{max: 3, wantDropped: 3, wantKept: []string{"critical-old", "info-old", "warning-new"}},
		{max: 2, wantDropped: 4, wantKept: []string{"critical-old", "warning-new"}},
		{max: 1, wantDropped: 5, wantKept: []string{"critical-old"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("max %d", tc.max), func(t *testing.T) {
			s := mixedState()
			if got := Trim(s, Limits{MaxEntries: tc.max}); got != tc.wantDropped {
				t.Errorf("dropped %d, want %d", got, tc.wantDropped)
			}
			if got := names(s); !slices.Equal(got, tc.wantKept) {
				t.Errorf("kept %v, want %v", got, tc.wantKept)
			}
		})
	}
}

// bigState has n current findings with realistic messages.
func bigState(n int) *State {
	s := New()
	s.LastRun = now
	for i := range n {
		name := fmt.Sprintf("data-%05d", i)
		f := finding("pvc-unbound", name, "", audit.Severities[i%3], "claim "+name+" is unbound: "+strings.Repeat("no PV matches its class, size and access modes; ", 4))
		s.Findings[f.Fingerprint] = Entry{RuleID: f.RuleID, Severity: f.Severity, Object: f.Object, Message: f.Message, FirstSeen: t0.Add(time.Duration(i) * time.Minute), LastSeen: now}
	}
	return s
}

func encodedLen(t *testing.T, s *State) int {
	t.Helper()
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestEncodedSize checks the arithmetic Trim relies on against the real encoding.
func TestEncodedSize(t *testing.T) {
	for _, n := range []int{0, 1, 2, 37} {
		s := bigState(n)
		if got, want := encodedSize(s).total, encodedLen(t, s); got != want {
			t.Errorf("%d entries: computed %d bytes, Encode wrote %d", n, got, want)
		}
	}
}

func TestTrimBytes(t *testing.T) {
	full := encodedLen(t, bigState(500))
	tests := []struct {
		name     string
		maxBytes int
		check    func(t *testing.T, dropped int, s *State)
	}{
		{"exactly fits: nothing dropped", full, func(t *testing.T, dropped int, s *State) {
			if dropped != 0 || len(s.Findings) != 500 {
				t.Errorf("dropped %d, kept %d", dropped, len(s.Findings))
			}
		}},
		{"one byte over: one entry dropped", full - 1, func(t *testing.T, dropped int, s *State) {
			if dropped != 1 || len(s.Findings) != 499 {
				t.Errorf("dropped %d, kept %d", dropped, len(s.Findings))
			}
		}},
		{"a third of the size: about two thirds dropped", full / 3, func(t *testing.T, dropped int, s *State) {
			if dropped < 300 || dropped > 340 || dropped+len(s.Findings) != 500 {
				t.Errorf("dropped %d, kept %d", dropped, len(s.Findings))
			}
		}},
		{"smaller than the empty document: everything dropped", 10, func(t *testing.T, dropped int, s *State) {
			if dropped != 500 || len(s.Findings) != 0 {
				t.Errorf("dropped %d, kept %d", dropped, len(s.Findings))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := bigState(500)
			dropped := Trim(s, Limits{MaxBytes: tc.maxBytes})
			tc.check(t, dropped, s)
			if n := encodedLen(t, s); n > tc.maxBytes && len(s.Findings) > 0 {
				t.Errorf("encoded %d bytes, limit %d", n, tc.maxBytes)
			}
			// Lower severities go first: a kept info finding means no warning or critical
			// one was dropped (bigState has 167 info, 167 warning, 166 critical).
			count := map[audit.Severity]int{}
			for _, e := range s.Findings {
				count[e.Severity]++
			}
			if (count[audit.Info] > 0 && count[audit.Warning] != 167) || (count[audit.Warning] > 0 && count[audit.Critical] != 166) {
				t.Errorf("kept by severity %v: a higher severity was dropped before a lower one", count)
			}
		})
	}
}
