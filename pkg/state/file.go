package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileStore keeps the state in a file (--state-file), for runs from a laptop or CI.
// Writes are atomic: a reader or a crash sees the old state or the new one, never half
// of one. Two runs writing the same file at once are not coordinated: the last one wins.
type FileStore struct {
	Path string
	// Bounds override DefaultLimits when non-zero.
	Bounds Limits
}

// NewFileStore returns a store for the state file at path; the file need not exist.
func NewFileStore(path string) *FileStore { return &FileStore{Path: path} }

// Limits returns the store's bounds.
func (s *FileStore) Limits() Limits {
	if s.Bounds == (Limits{}) {
		return DefaultLimits
	}
	return s.Bounds
}

// Load reads the state file. A missing file is a fresh state; a file that is not a
// state document is an error rather than a silent reset, which would lose every
// firstSeen date in it.
func (s *FileStore) Load(ctx context.Context) (*State, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	st, err := Decode(data)
	if errors.Is(err, ErrCorrupt) {
		return nil, fmt.Errorf("state file %s is %v; move it away or delete it and the next run starts a fresh state (every finding reported new)", s.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %v", s.Path, err)
	}
	return st, nil
}

// Update loads the state, applies fn and writes the result atomically.
func (s *FileStore) Update(ctx context.Context, fn func(prev *State) (*State, error)) error {
	prev, err := s.Load(ctx)
	if err != nil {
		return err
	}
	next, err := fn(prev)
	if err != nil {
		return err
	}
	data, err := Encode(next)
	if err != nil {
		return fmt.Errorf("encoding the state for %s: %w", s.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return writeAtomic(s.Path, data)
}

// writeAtomic writes data to a temporary file in path's directory and renames it over
// path: rename within one file system replaces the file in one step. An existing file's
// permissions are kept; a new one is private to its owner, as it names cluster objects.
func writeAtomic(path string, data []byte) (err error) {
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state file %s: %w (does the directory exist and is it writable?)", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	// Sync before rename so that after a crash the new name never points at lost data.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing state file %s: %w", path, err)
	}
	return nil
}
