package state

import (
	"context"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// Store is where the state lives between runs.
type Store interface {
	// Load returns the stored state; a fresh one when nothing is stored yet.
	Load(ctx context.Context) (*State, error)
	// Update replaces the stored state with fn's result. fn receives the state as
	// currently stored (fresh when none) and may be called again with a newer one when
	// another writer got there first, so it must not keep anything from a former call.
	Update(ctx context.Context, fn func(prev *State) (*State, error)) error
	// Limits are the bounds the store needs its state to fit.
	Limits() Limits
}

// Record applies rep to the state in store (see Apply) and saves the result, trimmed
// to the store's limits; dropped counts the entries trimming removed, for the caller to
// warn about. ran lists the rules that ran to completion. When the state cannot be
// kept, rep's state fields are cleared, so the report never claims a comparison whose
// state was lost.
func Record(ctx context.Context, store Store, rep *audit.Report, ran []string, now time.Time) (dropped int, err error) {
	err = store.Update(ctx, func(prev *State) (*State, error) {
		next := Apply(prev, rep, ran, now)
		dropped = Trim(next, store.Limits())
		return next, nil
	})
	if err != nil {
		clearReport(rep)
		return 0, err
	}
	return dropped, nil
}
