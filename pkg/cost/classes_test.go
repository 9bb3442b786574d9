package cost

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// TestUnreadClassesLeaveVolumesUnpriced: a PV of class "fast" (EBS io2) is 125 USD with
// its class read, unpriced when StorageClasses were not read (the driver's default, gp3,
// would be a wrong 80 USD), and priced by the driver's default when the classes were read
// and "fast" is gone.
func TestUnreadClassesLeaveVolumesUnpriced(t *testing.T) {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-io2", UID: "u1"},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: "fast",
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1000Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"},
			},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "ebs.csi.aws.com", Parameters: map[string]string{"type": "io2"}}
	build := func(classesRead bool, classes ...*storagev1.StorageClass) *snapshot.Snapshot {
		s := snapshot.New("t")
		s.MarkPresent(snapshot.PersistentVolumes)
		s.MarkPresent(snapshot.PersistentVolumeClaims)
		if classesRead {
			s.MarkPresent(snapshot.StorageClasses)
		}
		s.Add(pv.DeepCopy())
		for _, c := range classes {
			s.Add(c.DeepCopy())
		}
		s.Index()
		return s
	}
	cases := []struct {
		name     string
		snap     *snapshot.Snapshot
		usd      float64
		unpriced int
	}{
		{"class read", build(true, class), 125, 0},
		{"classes not read", build(false), 0, 1},
		{"class deleted", build(true), 80, 0},
	}
	for _, c := range cases {
		got := Compute(c.snap, DefaultModel(), nil).Cost
		if got.Monthly["USD"] != c.usd || got.Unpriced != c.unpriced {
			t.Errorf("%s: monthly %v, unpriced %d; want %v USD, %d unpriced", c.name, got.Monthly, got.Unpriced, c.usd, c.unpriced)
		}
	}
}
