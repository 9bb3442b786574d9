package configmap

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/state"
)

// These tests use client-go's fake clientset, which does not check resourceVersions:
// conflicts are injected with reactors here, and test/integration/state_test.go checks
// the same paths against a real API server.

var cmResource = schema.GroupResource{Resource: "configmaps"}

func sampleState(at time.Time, names ...string) *state.State {
	s := state.New()
	s.LastRun = at
	for _, n := range names {
		f := audit.Finding{RuleID: "pvc-lost", Severity: audit.Critical, Message: "claim " + n + " is Lost",
			Object: audit.ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: n, UID: "uid-" + n}}
		s.Findings[audit.MakeFingerprint(f)] = state.Entry{RuleID: f.RuleID, Severity: f.Severity, Object: f.Object, Message: f.Message, FirstSeen: at, LastSeen: at}
	}
	return s
}

var at = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestCreateThenUpdate(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	store := NewStore(cs, "auditor", "auditor-state")

	got, err := store.Load(ctx)
	if err != nil || !reflect.DeepEqual(got, state.New()) {
		t.Fatalf("missing ConfigMap loads %+v, %v; want a fresh state", got, err)
	}
	first := sampleState(at, "a")
	if err := store.Update(ctx, func(*state.State) (*state.State, error) { return first, nil }); err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("auditor").Get(ctx, "auditor-state", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range Labels {
		if cm.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cm.Labels[k], v)
		}
	}
	second := sampleState(at.Add(time.Hour), "a", "b")
	var passed *state.State
	if err := store.Update(ctx, func(prev *state.State) (*state.State, error) { passed = prev; return second, nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(passed, first) {
		t.Errorf("Update passed %+v, want the stored state", passed)
	}
	if got, err := store.Load(ctx); err != nil || !reflect.DeepEqual(got, second) {
		t.Errorf("Load = %+v, %v; want %+v", got, err, second)
	}
}

// TestRetriesLostRaces makes the first write lose to another writer and checks fn is
// re-run on what that writer stored.
func TestRetriesLostRaces(t *testing.T) {
	tests := []struct {
		name   string
		exists bool   // the ConfigMap exists before the update
		verb   string // the write that loses its first race
		err    error
	}{
		{"update conflicts", true, "update", apierrors.NewConflict(cmResource, "auditor-state", fmt.Errorf("the object has been modified"))},
		{"create finds it created", false, "create", apierrors.NewAlreadyExists(cmResource, "auditor-state")},
		{"update finds it deleted", true, "update", apierrors.NewNotFound(cmResource, "auditor-state")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewClientset()
			store := NewStore(cs, "auditor", "auditor-state")
			if tc.exists {
				if err := store.Update(ctx, func(*state.State) (*state.State, error) { return sampleState(at, "a"), nil }); err != nil {
					t.Fatal(err)
				}
			}
			// The other writer's state lands just as our first write is sent.
			theirs := sampleState(at.Add(time.Minute), "theirs")
			raced := false
			cs.PrependReactor(tc.verb, "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				if raced {
					return false, nil, nil
				}
				raced = true
				data, _ := state.Encode(theirs)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "auditor", Name: "auditor-state"}, Data: map[string]string{DataKey: string(data)}}
				tracker := cs.Tracker()
				gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
				var err error
				switch {
				case apierrors.IsNotFound(tc.err):
					err = tracker.Delete(gvr, "auditor", "auditor-state")
				case tc.exists:
					err = tracker.Update(gvr, cm, "auditor")
				default:
					err = tracker.Create(gvr, cm, "auditor")
				}
				if err != nil {
					t.Error(err)
				}
				return true, nil, tc.err
			})
			var calls []*state.State
			mine := sampleState(at.Add(time.Hour), "mine")
			err := store.Update(ctx, func(prev *state.State) (*state.State, error) {
				calls = append(calls, prev)
				return mine, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 2 {
				t.Fatalf("fn called %d times, want 2", len(calls))
			}
			wantSecond := theirs
			if apierrors.IsNotFound(tc.err) {
				wantSecond = state.New()
			}
			if !reflect.DeepEqual(calls[1], wantSecond) {
				t.Errorf("retry passed %+v, want %+v", calls[1], wantSecond)
			}
			if got, err := store.Load(ctx); err != nil || !reflect.DeepEqual(got, mine) {
				t.Errorf("stored %+v, %v; want %+v", got, err, mine)
			}
		})
	}
}

func TestGivesUpOnEndlessConflicts(t *testing.T) {
	saved := backoff
	backoff = wait.Backoff{Steps: 3, Duration: time.Millisecond}
	defer func() { backoff = saved }()

	cs := fake.NewClientset()
	cs.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewAlreadyExists(cmResource, "auditor-state")
	})
	store := NewStore(cs, "auditor", "auditor-state")
	err := store.Update(context.Background(), func(p *state.State) (*state.State, error) { return p, nil })
	if err == nil || !strings.Contains(err.Error(), "ConfigMap auditor/auditor-state kept changing") || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("err = %v", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		existing *corev1.ConfigMap
		reactor  func(k8stesting.Action) (bool, runtime.Object, error)
		next     *state.State
		want     []string
	}{
		{
			name: "forbidden names the RBAC the ServiceAccount needs",
			reactor: func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(cmResource, "auditor-state", fmt.Errorf(`User "system:serviceaccount:auditor:auditor" cannot get resource "configmaps"`))
			},
			want: []string{"reading ConfigMap auditor/auditor-state is forbidden", "needs get, create, update on configmaps in auditor"},
		},
		{
			name:     "corrupt data says how to start afresh",
			existing: &corev1.ConfigMap{Data: map[string]string{DataKey: `{"version":1,"findings":[`}},
			want:     []string{"ConfigMap auditor/auditor-state key state.json is not a valid state document", "kubectl -n auditor delete configmap auditor-state"},
		},
		{
			name:     "a newer version",
			existing: &corev1.ConfigMap{Data: map[string]string{DataKey: `{"version":7}`}},
			want:     []string{"ConfigMap auditor/auditor-state", "state version 7", "upgrade"},
		},
		{
			name:     "someone else's ConfigMap is not adopted",
			existing: &corev1.ConfigMap{Data: map[string]string{"app.properties": "x=1"}},
			want:     []string{"ConfigMap auditor/auditor-state exists, has data and no state.json key", "choose another name"},
		},
		{
			name: "a state over the ConfigMap limit is refused before the API refuses it",
			next: func() *state.State {
				names := make([]string, 4000)
				for i := range names {
					names[i] = fmt.Sprintf("claim-%s-%d", strings.Repeat("x", 200), i)
				}
				return sampleState(at, names...)
			}(),
			want: []string{"the state for ConfigMap auditor/auditor-state is", "over the 1048576 a ConfigMap may hold"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewClientset()
			if tc.existing != nil {
				tc.existing.Namespace, tc.existing.Name = "auditor", "auditor-state"
				if _, err := cs.CoreV1().ConfigMaps("auditor").Create(ctx, tc.existing, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.reactor != nil {
				cs.PrependReactor("*", "configmaps", tc.reactor)
			}
			store := NewStore(cs, "auditor", "auditor-state")
			err := store.Update(ctx, func(p *state.State) (*state.State, error) {
				if tc.next != nil {
					return tc.next, nil
				}
				return p, nil
			})
			if err == nil {
				t.Fatal("Update succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if tc.existing != nil {
				cm, err := cs.CoreV1().ConfigMaps("auditor").Get(ctx, "auditor-state", metav1.GetOptions{})
				if err != nil || !reflect.DeepEqual(cm.Data, tc.existing.Data) {
					t.Errorf("the ConfigMap was changed: %+v, %v", cm, err)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	if got := NewStore(nil, "a", "b").Limits(); got != DefaultLimits || got.MaxBytes >= MaxDataBytes {
		t.Errorf("default limits %+v, want %+v under %d bytes", got, DefaultLimits, MaxDataBytes)
	}
}
