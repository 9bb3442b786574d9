package cost

// Compute over a large synthetic cluster:
//
//	go test ./pkg/cost -run '^$' -bench Compute -benchmem
//
// Nothing asserts a duration (benchmarks run on shared machines); the benchmark fails only
// when the synthetic cluster prices nothing, so a broken builder cannot measure nothing.

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// synthetic builds n bound PVs and claims over n/100 namespaces: each namespace has a
// StatefulSet of 50 claims and 50 standalone claims; classes rotate between gp3, io2
// (priced by the config), Azure Premium (tiers), an Alibaba class priced by name in CNY,
// and local-path (unpriced). Every twentieth PV is Released.
func synthetic(n int) *snapshot.Snapshot {
	s := snapshot.New("bench")
	for _, k := range snapshot.AllKinds {
		s.MarkPresent(k)
	}
	classes := []struct{ name, prov, param, value string }{
		{"gp3", "ebs.csi.aws.com", "type", "gp3"},
		{"io2", "ebs.csi.aws.com", "type", "io2"},
		{"premium", "disk.csi.azure.com", "skuName", "Premium_LRS"},
		{"idc-receiver-web-20220328", "diskplugin.csi.alibabacloud.com", "type", "cloud_efficiency"},
		{"local-path", "rancher.io/local-path", "", ""},
	}
	for _, c := range classes {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: c.name}, Provisioner: c.prov}
		if c.param != "" {
			sc.Parameters = map[string]string{c.param: c.value}
		}
		s.Add(sc)
	}
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("team-%04d", i/100)
		j := i % 100
		claim := fmt.Sprintf("vol-%03d", j)
		if j < 50 {
			claim = snapshot.StatefulSetClaimName("data", "db", j)
		}
		if j == 0 {
			s.Add(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: appsv1.StatefulSetSpec{
				Replicas:             ptr(int32(50)),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}})
		}
		c := classes[i%len(classes)]
		size := resource.MustParse(fmt.Sprintf("%dGi", 10+i%500))
		pvName := fmt.Sprintf("pvc-%08d", i)
		claimUID := types.UID(fmt.Sprintf("c-%08d", i))
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: size},
			StorageClassName: c.name,
			ClaimRef:         &corev1.ObjectReference{Namespace: ns, Name: claim, UID: claimUID},
		}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}}
		if i%20 == 7 {
			pv.Spec.ClaimRef.Name = "deleted-" + claim
			pv.Status.Phase = corev1.VolumeReleased
		}
		s.Add(pv)
		s.Add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: claim, UID: claimUID},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr(c.name), VolumeName: pvName,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}})
	}
	s.Index()
	return s
}

func ptr[T any](v T) *T { return &v }

func BenchmarkCompute(b *testing.B) {
	m := seedModel(b)
	for _, n := range []int{20000} {
		b.Run(fmt.Sprintf("PVs=%d", n), func(b *testing.B) {
			snap := synthetic(n)
			b.ReportAllocs()
			b.ResetTimer()
			var c *audit.Cost
			for i := 0; i < b.N; i++ {
				c = Compute(snap, m, nil).Cost
			}
			b.StopTimer()
			if len(c.Monthly) < 2 || c.Unpriced == 0 || c.Volumes < n {
				b.Fatalf("synthetic cluster exercises too little: %+v", c.Monthly)
			}
		})
	}
}
