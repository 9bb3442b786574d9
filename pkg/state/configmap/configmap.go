// Package configmap keeps the auditor's run-to-run state in a ConfigMap, for an auditor
// running in the cluster. Updates are conflict-safe: each write carries the
// resourceVersion it read, and a write that lost a race is redone on the fresh state.
package configmap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/storage-auditor/auditor/pkg/state"
)

// DataKey is the ConfigMap data key that holds the state document.
const DataKey = "state.json"

// MaxDataBytes is the API server's limit on a ConfigMap's data.
const MaxDataBytes = 1 << 20

// DefaultLimits keep the document well under MaxDataBytes, leaving room for the rest
// of the object.
var DefaultLimits = state.Limits{MaxEntries: 10000, MaxBytes: 900 << 10}

// Labels mark the ConfigMaps the auditor owns.
var Labels = map[string]string{
	"app.kubernetes.io/managed-by": "storage-auditor",
	"app.kubernetes.io/name":       "storage-auditor",
}

// backoff spaces the retries of a write that lost a race with another writer: a few
// auditors writing at once settle within these steps.
var backoff = wait.Backoff{Steps: 8, Duration: 20 * time.Millisecond, Factor: 2, Jitter: 0.5}

// Store keeps the state in ConfigMap Namespace/Name.
type Store struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	// Bounds override DefaultLimits when non-zero.
	Bounds state.Limits
}

// NewStore returns a store for ConfigMap namespace/name; it is created on first update.
func NewStore(client kubernetes.Interface, namespace, name string) *Store {
	return &Store{Client: client, Namespace: namespace, Name: name}
}

// Limits returns the store's bounds.
func (s *Store) Limits() state.Limits {
	if s.Bounds == (state.Limits{}) {
		return DefaultLimits
	}
	return s.Bounds
}

func (s *Store) String() string { return "ConfigMap " + s.Namespace + "/" + s.Name }

// Load reads the state; a missing ConfigMap is a fresh state.
func (s *Store) Load(ctx context.Context) (*state.State, error) {
	_, st, err := s.get(ctx)
	return st, err
}

// Update reads the ConfigMap, applies fn and writes the result with the read
// resourceVersion (or creates the ConfigMap), starting again from a fresh read when
// another writer changed or created it in between.
func (s *Store) Update(ctx context.Context, fn func(prev *state.State) (*state.State, error)) error {
	attempts := 0
	err := retry.OnError(backoff, raced, func() error {
		attempts++
		if err := ctx.Err(); err != nil {
			return err
		}
		cm, prev, err := s.get(ctx)
		if err != nil {
			return err
		}
		next, err := fn(prev)
		if err != nil {
			return err
		}
		data, err := state.Encode(next)
		if err != nil {
			return fmt.Errorf("encoding the state for %s: %w", s, err)
		}
		if len(data) > MaxDataBytes {
			return fmt.Errorf("the state for %s is %d bytes, over the %d a ConfigMap may hold; lower its limits", s, len(data), MaxDataBytes)
		}
		if cm == nil {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}}
			cm.Labels = maps.Clone(Labels)
			cm.Data = map[string]string{DataKey: string(data)}
			_, err = s.Client.CoreV1().ConfigMaps(s.Namespace).Create(ctx, cm, metav1.CreateOptions{})
			return s.explain("creating", err)
		}
		cm = cm.DeepCopy()
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		maps.Copy(cm.Labels, Labels)
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[DataKey] = string(data)
		_, err = s.Client.CoreV1().ConfigMaps(s.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			// Deleted since we read it: the next attempt creates it.
			return fmt.Errorf("%s was deleted while this run updated it: %w", s, errDeleted)
		}
		return s.explain("updating", err)
	})
	if raced(err) {
		return fmt.Errorf("%s kept changing under this run (%d attempts; other auditors writing it?): %w", s, attempts, err)
	}
	return err
}

// errDeleted marks an update that found the ConfigMap gone.
var errDeleted = errors.New("deleted concurrently")

// raced reports whether err means another writer got in between our read and write.
func raced(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || errors.Is(err, errDeleted)
}

// get returns the ConfigMap (nil when missing) and the state it holds.
func (s *Store) get(ctx context.Context) (*corev1.ConfigMap, *state.State, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, state.New(), nil
	}
	if err != nil {
		return nil, nil, s.explain("reading", err)
	}
	data, ok := cm.Data[DataKey]
	if !ok {
		// Someone else's ConfigMap under the name we were given: adopting it would mix
		// our state into their data. An empty one (made to hold the state) is fine.
		if len(cm.Data) > 0 || len(cm.BinaryData) > 0 {
			return nil, nil, fmt.Errorf("%s exists, has data and no %s key: it is not the auditor's state; choose another name for the state ConfigMap", s, DataKey)
		}
		return cm, state.New(), nil
	}
	st, err := state.Decode([]byte(data))
	if errors.Is(err, state.ErrCorrupt) {
		return nil, nil, fmt.Errorf("%s key %s is %v; delete the ConfigMap (kubectl -n %s delete configmap %s) and the next run starts a fresh state (every finding reported new)", s, DataKey, err, s.Namespace, s.Name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", s, err)
	}
	return cm, st, nil
}

// explain names the ConfigMap and, for a permission error, the RBAC rule that fixes
// it. Conflict and AlreadyExists stay recognisable for the retry.
func (s *Store) explain(verb string, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s is forbidden: the auditor's ServiceAccount needs get, create, update on configmaps in %s: %w", verb, s, s.Namespace, err)
	case apierrors.IsNotFound(err) && verb == "creating":
		return fmt.Errorf("creating %s: namespace %s not found; create it or choose the auditor's namespace: %w", s, s.Namespace, err)
	}
	return fmt.Errorf("%s %s: %w", verb, s, err)
}
