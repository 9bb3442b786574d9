package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/state"
	"github.com/storage-auditor/auditor/pkg/state/configmap"
	"github.com/storage-auditor/auditor/test/controlplane"
)

const stateNS = "auditor-state"

// stateFinding builds a finding as the engine would, fingerprint included.
func stateFinding(rule, name, msg string) audit.Finding {
	f := audit.Finding{RuleID: rule, Severity: audit.Warning, Message: msg,
		Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: name, UID: "uid-" + name}}
	f.Fingerprint = audit.MakeFingerprint(f)
	return f
}

func stateReport(at time.Time, fs ...audit.Finding) *audit.Report {
	rep := audit.NewReport("integration", at)
	rep.Findings = append(rep.Findings, fs...)
	return rep
}

// stateSetup makes sure the namespace exists and ConfigMap name does not, so the test
// starts from no state even when run again (-count).
func stateSetup(t *testing.T, name string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if err := controlplane.EnsureNamespace(ctx, cp.Clientset(), stateNS); err != nil {
		t.Fatal(err)
	}
	err := cp.Clientset().CoreV1().ConfigMaps(stateNS).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return ctx
}

// storedNames lists the object names in the stored state, with the ConfigMap's labels
// checked on the way.
func storedNames(t *testing.T, ctx context.Context, name string) map[string]state.Entry {
	t.Helper()
	cm, err := cp.Clientset().CoreV1().ConfigMaps(stateNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range configmap.Labels {
		if cm.Labels[k] != v {
			t.Errorf("ConfigMap label %s = %q, want %q", k, cm.Labels[k], v)
		}
	}
	st, err := state.Decode([]byte(cm.Data[configmap.DataKey]))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]state.Entry{}
	for _, e := range st.Findings {
		out[e.Object.Name] = e
	}
	return out
}

func TestStateConfigMapRoundTrip(t *testing.T) {
	ctx := stateSetup(t, "round-trip")
	store := configmap.NewStore(cp.Clientset(), stateNS, "round-trip")
	ran := []string{"pvc-lost"}
	day1 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)

	first := stateReport(day1, stateFinding("pvc-lost", "a", "a is Lost"), stateFinding("pvc-lost", "b", "b is Lost"))
	if _, err := state.Record(ctx, store, first, ran, day1); err != nil {
		t.Fatal(err)
	}
	if first.Changes.New != 2 || !first.Changes.Since.IsZero() {
		t.Errorf("first run changes %+v, want 2 new since the beginning", first.Changes)
	}
	if got := storedNames(t, ctx, "round-trip"); len(got) != 2 {
		t.Errorf("stored %v after the first run", got)
	}

	second := stateReport(day2, stateFinding("pvc-lost", "b", "b is Lost"), stateFinding("pvc-lost", "c", "c is Lost"))
	if _, err := state.Record(ctx, store, second, ran, day2); err != nil {
		t.Fatal(err)
	}
	want := audit.Changes{Since: day1, New: 1, Resolved: 1}
	if *second.Changes != want {
		t.Errorf("second run changes %+v, want %+v", *second.Changes, want)
	}
	if len(second.Resolved) != 1 || second.Resolved[0].Object.Name != "a" {
		t.Errorf("resolved %+v, want a", second.Resolved)
	}
	got := storedNames(t, ctx, "round-trip")
	if len(got) != 2 || !got["b"].FirstSeen.Equal(day1) || !got["c"].FirstSeen.Equal(day2) {
		t.Errorf("stored %+v, want b first seen %v and c %v", got, day1, day2)
	}
}

// barrier lets two writers go on once both have arrived (or the test timed out).
type barrier struct {
	arrived sync.WaitGroup
	all     chan struct{}
}

func newBarrier(n int) *barrier {
	b := &barrier{all: make(chan struct{})}
	b.arrived.Add(n)
	go func() { b.arrived.Wait(); close(b.all) }()
	return b
}

func (b *barrier) wait(ctx context.Context) error {
	b.arrived.Done()
	select {
	case <-b.all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// barrierStore makes the first read of each of two writers wait for the other's, so
// both start from the same resourceVersion and one write must lose the race.
type barrierStore struct {
	*configmap.Store
	barrier *barrier
	calls   atomic.Int32
}

func (s *barrierStore) Update(ctx context.Context, fn func(*state.State) (*state.State, error)) error {
	first := true
	return s.Store.Update(ctx, func(prev *state.State) (*state.State, error) {
		s.calls.Add(1)
		if first {
			first = false
			if err := s.barrier.wait(ctx); err != nil {
				return nil, err
			}
		}
		return fn(prev)
	})
}

// TestStateConcurrentRecords runs two auditors recording different rules' findings at
// the same time, into a ConfigMap both create and into one both update: neither
// update may be lost.
func TestStateConcurrentRecords(t *testing.T) {
	for _, exists := range []bool{false, true} {
		name := map[bool]string{false: "concurrent-create", true: "concurrent-update"}[exists]
		t.Run(name, func(t *testing.T) {
			ctx := stateSetup(t, name)
			start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
			if exists {
				seed := configmap.NewStore(cp.Clientset(), stateNS, name)
				if _, err := state.Record(ctx, seed, stateReport(start, stateFinding("pvc-unbound", "seed", "seed is unbound")), []string{"pvc-unbound"}, start); err != nil {
					t.Fatal(err)
				}
			}
			b := newBarrier(2)
			writers := []struct {
				store *barrierStore
				rule  string
			}{
				{&barrierStore{Store: configmap.NewStore(cp.Clientset(), stateNS, name), barrier: b}, "pvc-lost"},
				{&barrierStore{Store: configmap.NewStore(cp.Clientset(), stateNS, name), barrier: b}, "va-orphaned"},
			}
			errs := make([]error, len(writers))
			var done sync.WaitGroup
			for i, w := range writers {
				done.Add(1)
				go func() {
					defer done.Done()
					rep := stateReport(start.Add(time.Hour), stateFinding(w.rule, w.rule+"-obj", "found by "+w.rule))
					_, errs[i] = state.Record(ctx, w.store, rep, []string{w.rule}, start.Add(time.Hour))
				}()
			}
			done.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("writer %d: %v", i, err)
				}
			}
			if c0, c1 := writers[0].store.calls.Load(), writers[1].store.calls.Load(); c0+c1 < 3 {
				t.Errorf("fn ran %d and %d times: no writer had to retry, the race was not exercised", c0, c1)
			}
			got := storedNames(t, ctx, name)
			want := []string{"pvc-lost-obj", "va-orphaned-obj"}
			if exists {
				want = append(want, "seed")
			}
			for _, n := range want {
				if _, ok := got[n]; !ok {
					t.Errorf("state lost %s: has %v", n, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("state has %d entries, want %d: %v", len(got), len(want), got)
			}
		})
	}
}

// TestStateConfigMapSizeBound records far more findings than fit: the state is trimmed
// under the bound, the API server accepts it and the CLI gets the count to warn with.
func TestStateConfigMapSizeBound(t *testing.T) {
	ctx := stateSetup(t, "size-bound")
	store := configmap.NewStore(cp.Clientset(), stateNS, "size-bound")
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	const n = 6000
	rep := stateReport(now)
	for i := range n {
		name := fmt.Sprintf("data-%05d", i)
		rep.Findings = append(rep.Findings, stateFinding("pvc-unbound", name, "claim "+name+" is unbound: "+strings.Repeat("no PV matches its class, size or access modes; ", 3)))
	}
	dropped, err := state.Record(ctx, store, rep, []string{"pvc-unbound"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cp.Clientset().CoreV1().ConfigMaps(stateNS).Get(ctx, "size-bound", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := len(cm.Data[configmap.DataKey])
	if size > configmap.DefaultLimits.MaxBytes {
		t.Errorf("state is %d bytes, over the %d bound", size, configmap.DefaultLimits.MaxBytes)
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 || len(st.Findings)+dropped != n {
		t.Errorf("dropped %d, kept %d of %d", dropped, len(st.Findings), n)
	}
	t.Logf("kept %d of %d findings in %d bytes", len(st.Findings), n, size)
}

// TestStateConfigMapForbidden reads and writes the state as a user without any rights
// on ConfigMaps: the error must say which RBAC rule is missing.
func TestStateConfigMapForbidden(t *testing.T) {
	ctx := stateSetup(t, "forbidden")
	cfg := cp.RESTConfig()
	cfg.Impersonate.UserName = "no-configmap-rights"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := configmap.NewStore(cs, stateNS, "forbidden")
	_, err = state.Record(ctx, store, stateReport(time.Now(), stateFinding("pvc-lost", "a", "a is Lost")), []string{"pvc-lost"}, time.Now())
	if err == nil {
		t.Fatal("a user without rights recorded the state")
	}
	t.Log(err)
	for _, w := range []string{"ConfigMap auditor-state/forbidden is forbidden", "needs get, create, update on configmaps in auditor-state"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
