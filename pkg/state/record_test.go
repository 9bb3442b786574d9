package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func report(at time.Time, fs ...audit.Finding) *audit.Report {
	rep := audit.NewReport("test", at)
	rep.Findings = append(rep.Findings, fs...)
	return rep
}

func TestRecordTwoRuns(t *testing.T) {
	ctx := context.Background()
	store := NewFileStore(filepath.Join(t.TempDir(), "state.json"))
	lost := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	unbound := finding("pvc-unbound", "data-0", "", audit.Warning, "claim data-0 is unbound")
	ran := []string{"pvc-lost", "pvc-unbound"}

	first := report(prevRun, lost, unbound)
	if dropped, err := Record(ctx, store, first, ran, prevRun); err != nil || dropped != 0 {
		t.Fatalf("first run: dropped %d, %v", dropped, err)
	}
	if *first.Changes != (audit.Changes{New: 2}) || !first.Findings[0].New {
		t.Errorf("first run changes %+v findings %+v", first.Changes, first.Findings)
	}

	second := report(now, unbound)
	if _, err := Record(ctx, store, second, ran, now); err != nil {
		t.Fatal(err)
	}
	if *second.Changes != (audit.Changes{Since: prevRun, New: 0, Resolved: 1}) {
		t.Errorf("second run changes %+v", second.Changes)
	}
	if len(second.Resolved) != 1 || second.Resolved[0].Object.Name != "logs" || !second.Resolved[0].FirstSeen.Equal(prevRun) {
		t.Errorf("second run resolved %+v", second.Resolved)
	}
	if f := second.Findings[0]; f.New || !f.FirstSeen.Equal(prevRun) {
		t.Errorf("second run finding %+v, want firstSeen %v and not new", f, prevRun)
	}
}

func TestRecordTrimsToStoreLimits(t *testing.T) {
	store := &FileStore{Path: filepath.Join(t.TempDir(), "state.json"), Bounds: Limits{MaxEntries: 2}}
	rep := report(now,
		finding("pvc-lost", "a", "", audit.Critical, "a is Lost"),
		finding("pvc-lost", "b", "", audit.Critical, "b is Lost"),
		finding("pvc-unbound", "c", "", audit.Info, "c is unbound"))
	dropped, err := Record(context.Background(), store, rep, []string{"pvc-lost", "pvc-unbound"}, now)
	if err != nil || dropped != 1 {
		t.Fatalf("dropped %d, %v; want 1", dropped, err)
	}
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(st); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("kept %v, want the critical a and b", got)
	}
	// The report still tells the truth about this run: all three are new.
	if rep.Changes.New != 3 {
		t.Errorf("changes %+v", rep.Changes)
	}
}

// racingStore plays a store whose first write loses a race: fn runs on a stale state,
// then again on the state the other writer stored, and only the second result is kept.
type racingStore struct {
	stale, fresh *State
	stored       *State
	failAfter    error
}

func (s *racingStore) Load(context.Context) (*State, error) { return s.fresh, nil }
func (s *racingStore) Limits() Limits                       { return DefaultLimits }
func (s *racingStore) Update(_ context.Context, fn func(*State) (*State, error)) error {
	if _, err := fn(s.stale); err != nil {
		return err
	}
	next, err := fn(s.fresh)
	if err != nil {
		return err
	}
	if s.failAfter != nil {
		return s.failAfter
	}
	s.stored = next
	return nil
}

func TestRecordReappliesAfterConflict(t *testing.T) {
	lost := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	gone := finding("pvc-lost", "gone", "", audit.Critical, "claim gone is Lost")
	store := &racingStore{
		stale: stateOf(t0, stored(gone, t0, t0)),
		fresh: stateOf(prevRun, stored(lost, t0, prevRun)),
	}
	rep := report(now, lost)
	if _, err := Record(context.Background(), store, rep, []string{"pvc-lost"}, now); err != nil {
		t.Fatal(err)
	}
	want := audit.Changes{Since: prevRun, New: 0, Resolved: 0}
	if *rep.Changes != want || rep.Resolved != nil || rep.Findings[0].New || !rep.Findings[0].FirstSeen.Equal(t0) {
		t.Errorf("report kept the stale attempt: changes %+v resolved %+v finding %+v", rep.Changes, rep.Resolved, rep.Findings[0])
	}
	if got := names(store.stored); len(got) != 1 || got[0] != "logs" {
		t.Errorf("stored %v", got)
	}
}

func TestRecordFailureClearsReport(t *testing.T) {
	lost := finding("pvc-lost", "logs", "", audit.Critical, "claim logs is Lost")
	gone := finding("pvc-lost", "gone", "", audit.Critical, "claim gone is Lost")

	// The write fails after Apply marked the report.
	boom := errors.New("the API server went away")
	store := &racingStore{stale: New(), fresh: stateOf(prevRun, stored(gone, t0, prevRun)), failAfter: boom}
	rep := report(now, lost)
	if _, err := Record(context.Background(), store, rep, []string{"pvc-lost"}, now); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if rep.Changes != nil || rep.Resolved != nil || rep.Findings[0].FirstSeen != nil || rep.Findings[0].New {
		t.Errorf("a report whose state was not kept claims one: %+v", rep)
	}

	// The state cannot even be read.
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep = report(now, lost)
	if _, err := Record(context.Background(), NewFileStore(path), rep, []string{"pvc-lost"}, now); err == nil {
		t.Fatal("Record over a corrupt state file succeeded")
	}
	if rep.Changes != nil || rep.Findings[0].FirstSeen != nil {
		t.Errorf("report claims state: %+v", rep)
	}
}
