package snapshot

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testClaim(i int, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("data-db-%d", i), Namespace: string([]byte("prod")),
			Annotations: map[string]string{
				"volume.kubernetes.io/selected-node": "node-1",
				"checksum/config":                    "abc", // trimmed: not read
			},
			Labels: map[string]string{"app": "db"}, // trimmed: not read on claims
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr(string([]byte("gp3"))),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:    corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		},
	}
}

func mapPtr[M ~map[K]V, K comparable, V any](m M) uintptr {
	return reflect.ValueOf(m).Pointer()
}

// TestCompactShares: equal values of different objects end up as one copy, and sharing
// changes no value a rule could read.
func TestCompactShares(t *testing.T) {
	s := New("test")
	a, b, c := testClaim(0, "10Gi"), testClaim(1, "10Gi"), testClaim(2, "20Gi")
	wantA := a.DeepCopy()
	Trim(wantA)
	for _, o := range []*corev1.PersistentVolumeClaim{a, b, c} {
		s.Compact(o)
	}
	if !equality.Semantic.DeepEqual(a, wantA) {
		t.Errorf("Compact changed more than Trim:\n got %+v\nwant %+v", a, wantA)
	}
	if a.Labels != nil || a.Annotations["checksum/config"] != "" || a.Annotations[SelectedNodeAnnotation] != "node-1" {
		t.Errorf("claim metadata after Compact: labels %v, annotations %v", a.Labels, a.Annotations)
	}
	if mapPtr(a.Status.Capacity) != mapPtr(b.Status.Capacity) {
		t.Error("two claims of 10Gi do not share their capacity")
	}
	if mapPtr(a.Status.Capacity) == mapPtr(c.Status.Capacity) {
		t.Error("claims of 10Gi and 20Gi share a capacity")
	}
	if mapPtr(a.Annotations) != mapPtr(b.Annotations) {
		t.Error("equal annotations are not shared")
	}
	if unsafe.StringData(a.Namespace) != unsafe.StringData(b.Namespace) || unsafe.StringData(*a.Spec.StorageClassName) != unsafe.StringData(*c.Spec.StorageClassName) {
		t.Error("equal namespaces or class names are separate copies")
	}
	if got := c.Status.Capacity[corev1.ResourceStorage]; got.String() != "20Gi" {
		t.Errorf("capacity of c = %s, want 20Gi", got.String())
	}
}

// TestCompactDistinguishesFormats: 1Gi and 1073741824 are the same number of bytes but
// print differently; a shared list must not make one claim print as the other.
func TestCompactDistinguishesFormats(t *testing.T) {
	s := New("test")
	a, b := testClaim(0, "1Gi"), testClaim(1, "1073741824")
	s.Compact(a)
	s.Compact(b)
	ga, gb := a.Status.Capacity[corev1.ResourceStorage], b.Status.Capacity[corev1.ResourceStorage]
	if ga.String() != "1Gi" || gb.String() != "1073741824" {
		t.Errorf("capacities after Compact: %s and %s, want 1Gi and 1073741824", ga.String(), gb.String())
	}
}

// TestCompactConcurrent: the live loader compacts from several goroutines (run with -race).
func TestCompactConcurrent(t *testing.T) {
	s := New("test")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s.Compact(testClaim(g*1000+i, fmt.Sprintf("%dGi", i%3+1)))
			}
		}()
	}
	wg.Wait()
	if n := len(s.sh.lists); n != 3 {
		t.Errorf("%d distinct capacity lists kept, want 3", n)
	}
}
