package state

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	store := NewFileStore(path)

	got, err := store.Load(ctx)
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if !reflect.DeepEqual(got, New()) {
		t.Errorf("missing file loads %+v, want a fresh state", got)
	}

	want := mixedState()
	if err := store.Update(ctx, func(prev *State) (*State, error) { return want, nil }); err != nil {
		t.Fatal(err)
	}
	got, err = store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new state file mode %v, want 0600", fi.Mode().Perm())
	}

	// Update hands fn what is stored.
	var seen *State
	if err := store.Update(ctx, func(prev *State) (*State, error) { seen = prev; return prev, nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("Update passed %+v, want the stored state", seen)
	}
}

// TestFileStoreReplacesAtomically checks the file is replaced by a rename, not rewritten
// in place: a reader that opened the old file still reads it whole, the new name holds
// the new state, the file keeps its mode and no temporary file is left behind.
func TestFileStoreReplacesAtomically(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	store := NewFileStore(path)
	if err := store.Update(ctx, func(*State) (*State, error) { return bigState(50), nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	if err := store.Update(ctx, func(*State) (*State, error) { return mixedState(), nil }); err != nil {
		t.Fatal(err)
	}
	stillOld, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(stillOld) != string(old) {
		t.Errorf("a reader of the old file saw it change: the file was rewritten in place")
	}
	got, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, mixedState()) {
		t.Errorf("new state not stored: %v", names(got))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640 kept", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the state file", len(entries))
	}
}

func TestFileStoreErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error; "" content with want nil loads fine
	}{
		{"empty file is a fresh state", "", nil},
		{"truncated JSON", `{"version":1,"findings":{`, []string{"is not a valid state document", "delete it", "fresh state"}},
		{"not JSON at all", "hello\n", []string{"is not a valid state document", "delete it"}},
		{"JSON without a version", `{"findings":{}}`, []string{"no version", "delete it"}},
		{"a wrong field type", `{"version":1,"findings":{"ab":{"severity":"urgent"}}}`, []string{"is not a valid state document", "urgent"}},
		{"a newer version", `{"version":2,"findings":{}}`, []string{"newer auditor", "state version 2", "upgrade"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			store := NewFileStore(path)
			st, err := store.Load(ctx)
			if tc.want == nil {
				if err != nil || !reflect.DeepEqual(st, New()) {
					t.Fatalf("Load = %+v, %v; want a fresh state", st, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %q", tc.content)
			}
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			// An unreadable state is never overwritten: its dates would be lost.
			called := false
			err = store.Update(ctx, func(p *State) (*State, error) { called = true; return p, nil })
			if err == nil || called {
				t.Errorf("Update over an unreadable state: err %v, fn called %v", err, called)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tc.content {
				t.Errorf("the unreadable file was changed to %q", after)
			}
		})
	}
}

func TestFileStoreMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "state.json")
	err := NewFileStore(path).Update(context.Background(), func(p *State) (*State, error) { return p, nil })
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "directory exist") {
		t.Errorf("err = %v, want one naming %s and the directory", err, path)
	}
}

func TestFileStoreLimits(t *testing.T) {
	if got := NewFileStore("x").Limits(); got != DefaultLimits {
		t.Errorf("default limits %+v, want %+v", got, DefaultLimits)
	}
	own := Limits{MaxEntries: 3}
	if got := (&FileStore{Path: "x", Bounds: own}).Limits(); got != own {
		t.Errorf("limits %+v, want %+v", got, own)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, s := range []*State{New(), {Version: Version}, mixedState()} {
		b, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"findings":{`) {
			t.Errorf("findings not encoded as an object: %s", b)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		want := s
		if s.Findings == nil {
			want = New()
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decode(encode) = %+v, want %+v", got, want)
		}
	}
	// The severity of an entry reads back as the report's name for it.
	b, _ := Encode(mixedState())
	if !strings.Contains(string(b), `"severity":"critical"`) {
		t.Errorf("severity not encoded by name: %s", b)
	}
	if _, err := Decode([]byte(`{"version":1,"findings":{"x":{"severity":"warning","firstSeen":"2025-03-01T08:00:00Z"}}}`)); err != nil {
		t.Errorf("a minimal entry: %v", err)
	}
}
