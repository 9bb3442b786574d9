package state

import (
	"cmp"
	"encoding/json"
	"slices"
)

// Limits bound a stored state. Zero fields mean no bound.
type Limits struct {
	// MaxEntries caps the number of fingerprints kept.
	MaxEntries int
	// MaxBytes caps the length of Encode's output.
	MaxBytes int
}

// DefaultLimits bound a state file: a file has no size limit of its own, the cap keeps
// a cluster with runaway findings from growing the file and each run's work without end.
var DefaultLimits = Limits{MaxEntries: 10000}

// Trim drops entries from s until it fits lim and returns how many it dropped. Entries
// the last run did not see (their rule did not run) go first, least recently seen first;
// then, only if still needed, current findings: lowest severity first and, within a
// severity, the most recently first seen, whose history is the shortest to lose. A
// dropped current finding reads as new again on the next run.
func Trim(s *State, lim Limits) (dropped int) {
	over := func(n, size int) bool {
		return (lim.MaxEntries > 0 && n > lim.MaxEntries) || (lim.MaxBytes > 0 && size > lim.MaxBytes)
	}
	size := encodedSize(s)
	if !over(len(s.Findings), size.total) {
		return 0
	}
	order := make([]string, 0, len(s.Findings))
	for fp := range s.Findings {
		order = append(order, fp)
	}
	slices.SortFunc(order, func(a, b string) int {
		ea, eb := s.Findings[a], s.Findings[b]
		staleA, staleB := ea.LastSeen.Before(s.LastRun), eb.LastSeen.Before(s.LastRun)
		switch {
		case staleA && !staleB:
			return -1
		case staleB && !staleA:
			return 1
		case staleA:
			return cmp.Or(ea.LastSeen.Compare(eb.LastSeen), cmp.Compare(a, b))
		}
		return cmp.Or(cmp.Compare(ea.Severity, eb.Severity), eb.FirstSeen.Compare(ea.FirstSeen), cmp.Compare(a, b))
	})
	n, total := len(s.Findings), size.total
	for _, fp := range order {
		if !over(n, total) {
			break
		}
		total -= size.entry[fp]
		if n > 1 {
			total-- // the comma before or after it
		}
		n--
		delete(s.Findings, fp)
		dropped++
	}
	return dropped
}

type sizes struct {
	total int
	entry map[string]int // `"fp":{...}` per fingerprint
}

// encodedSize computes len(Encode(s)) and each entry's share of it without encoding the
// whole state once per dropped entry: json.Marshal writes a map as {k:v,k:v}, so the
// total is the empty state's length plus every entry plus the commas between them.
func encodedSize(s *State) sizes {
	// Encoding errors (an invalid severity) are left for the store's Encode to report.
	empty := State{Version: s.Version, LastRun: s.LastRun}
	base, _ := Encode(&empty)
	sz := sizes{total: len(base), entry: make(map[string]int, len(s.Findings))}
	for fp, e := range s.Findings {
		k, _ := json.Marshal(fp)
		v, _ := json.Marshal(e)
		sz.entry[fp] = len(k) + 1 + len(v)
		sz.total += sz.entry[fp]
	}
	if len(s.Findings) > 1 {
		sz.total += len(s.Findings) - 1
	}
	return sz
}
