package state

import (
	"context"
	"maps"
	"sync"
)

// MemoryStore keeps the state in the process, for `auditor serve` without a configured
// store: its runs still say what changed since the previous one; a restart starts
// afresh.
type MemoryStore struct {
	// Bounds override DefaultLimits when non-zero.
	Bounds Limits

	mu    sync.Mutex
	state *State
}

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Limits returns the store's bounds.
func (s *MemoryStore) Limits() Limits {
	if s.Bounds == (Limits{}) {
		return DefaultLimits
	}
	return s.Bounds
}

// Load returns a copy of the state, fresh before the first update.
func (s *MemoryStore) Load(ctx context.Context) (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current(), nil
}

// Update runs fn under the store's lock, so concurrent updates apply one after the
// other and none is lost.
func (s *MemoryStore) Update(ctx context.Context, fn func(prev *State) (*State, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := fn(s.current())
	if err != nil {
		return err
	}
	s.state = clone(next)
	return nil
}

// current returns a copy of the stored state, so nobody outside holds the store's maps.
func (s *MemoryStore) current() *State {
	if s.state == nil {
		return New()
	}
	return clone(s.state)
}

func clone(st *State) *State {
	c := *st
	c.Findings = maps.Clone(st.Findings)
	if c.Findings == nil {
		c.Findings = map[string]Entry{}
	}
	return &c
}
