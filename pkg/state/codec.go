package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrCorrupt marks a stored state that is not a state document. The stores name where
// it is and how to start afresh.
var ErrCorrupt = errors.New("not a valid state document")

// Encode renders s as compact JSON; its length is what Limits.MaxBytes bounds.
func Encode(s *State) ([]byte, error) {
	if s.Findings == nil {
		// An empty state encodes "findings":{} rather than null, like every later one.
		c := *s
		c.Findings = map[string]Entry{}
		s = &c
	}
	return json.Marshal(s)
}

// Decode reads a state document. Empty input (an empty file someone created to hold
// the state) is a fresh state. A document of a later version is refused rather than
// half-read, so a newer auditor's state is never overwritten by an older one.
func Decode(data []byte) (*State, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return New(), nil
	}
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	switch {
	case head.Version < 1:
		return nil, fmt.Errorf("%w: it has no version", ErrCorrupt)
	case head.Version > Version:
		return nil, fmt.Errorf("it was written by a newer auditor (state version %d, this one reads %d): upgrade the auditor", head.Version, Version)
	}
	s := New()
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.Findings == nil {
		s.Findings = map[string]Entry{}
	}
	return s, nil
}
