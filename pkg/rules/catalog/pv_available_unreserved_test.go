package catalog

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// takersScan is the definition pvTakers implements with an index: every Pending claim,
// then every StatefulSet template, compared with the PV one by one. A claim without class
// has the default class's (none: ""), and is no taker when StorageClasses were not read.
func takersScan(snap *snapshot.Snapshot, pv *corev1.PersistentVolume) []string {
	matches := func(c *corev1.PersistentVolumeClaim, request resource.Quantity, spec *corev1.PersistentVolumeClaimSpec) bool {
		class, set := snapshot.ClaimClassSet(c)
		if !set {
			if !snap.Loaded(snapshot.StorageClasses) {
				return false
			}
			if d := snapshot.DefaultStorageClass(snap.StorageClasses); d != nil {
				class = d.Name
			}
		}
		if pv.Spec.StorageClassName != class {
			return false
		}
		capa, ok := snapshot.PVCapacity(pv)
		if !ok || capa.Cmp(request) < 0 || !hasAccessModes(pv, spec.AccessModes) ||
			volumeMode(pv.Spec.VolumeMode) != volumeMode(spec.VolumeMode) {
			return false
		}
		if spec.Selector != nil {
			s, err := metav1.LabelSelectorAsSelector(spec.Selector)
			if err != nil || !s.Matches(labels.Set(pv.Labels)) {
				return false
			}
		}
		return true
	}
	var out []string
	for _, pvc := range snap.PersistentVolumeClaims {
		req, _ := snapshot.ClaimRequest(pvc)
		if pvc.Status.Phase == corev1.ClaimPending && pvc.Spec.VolumeName == "" && pvc.DeletionTimestamp == nil &&
			matches(pvc, req, &pvc.Spec) {
			out = append(out, "pending claim "+pvc.Namespace+"/"+pvc.Name)
		}
	}
	for _, st := range snap.StatefulSets {
		for _, tpl := range st.Spec.VolumeClaimTemplates {
			req, _ := snapshot.ClaimRequest(&tpl)
			if matches(&tpl, req, &tpl.Spec) {
				next := snapshot.OrdinalStart(st) + snapshot.Replicas(st)
				for snap.PVC(st.Namespace, fmt.Sprintf("%s-%s-%d", tpl.Name, st.Name, next)) != nil {
					next++
				}
				out = append(out, fmt.Sprintf("StatefulSet %s/%s on scale-up (claim %s-%s-%d)", st.Namespace, st.Name, tpl.Name, st.Name, next))
			}
		}
	}
	return out
}

// TestPVTakersMatchScan compares pvTakers with the scan on random claims, templates and PVs
// that mix classes, sizes written in different units, access and volume modes, and valid,
// empty and invalid selectors.
func TestPVTakersMatchScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	classes := []string{"a", "b", ""}
	sizes := []string{"1Gi", "5Gi", "10Gi", "10G", "10240Mi", "100Gi", "0", "-"}
	allModes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany, corev1.ReadOnlyMany}
	modes := func() []corev1.PersistentVolumeAccessMode {
		var m []corev1.PersistentVolumeAccessMode
		for _, a := range allModes {
			if r.IntN(2) == 0 {
				m = append(m, a)
			}
		}
		return m
	}
	volMode := func() *corev1.PersistentVolumeMode {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return ptrTo(corev1.PersistentVolumeFilesystem)
		}
		return ptrTo(corev1.PersistentVolumeBlock)
	}
	selector := func() *metav1.LabelSelector {
		switch r.IntN(6) {
		case 0:
			return &metav1.LabelSelector{}
		case 1:
			return &metav1.LabelSelector{MatchLabels: map[string]string{"disk": pick([]string{"ssd", "hdd"})}}
		case 2:
			return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "disk", Operator: "Bogus"}}}
		}
		return nil
	}
	spec := func() corev1.PersistentVolumeClaimSpec {
		s := corev1.PersistentVolumeClaimSpec{AccessModes: modes(), VolumeMode: volMode(), Selector: selector()}
		if c := pick(classes); c != "" || r.IntN(2) == 0 {
			s.StorageClassName = ptrTo(c)
		}
		if q := pick(sizes); q != "-" {
			s.Resources.Requests = storage(q)
		}
		return s
	}
	compared, matched := 0, 0
	for round := 0; round < 100; round++ {
		snap := snapshot.New("test")
		// StorageClasses: not read, read without a default, or read with one or two
		// defaults (the newer wins) — claims without class follow them.
		if sc := r.IntN(4); sc > 0 {
			snap.MarkPresent(snapshot.StorageClasses)
			for i, name := range []string{"a", "b"} {
				c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name,
					CreationTimestamp: metav1.Unix(int64(1000+r.IntN(2)*i), 0)}}
				if sc == 2 && i == 0 || sc == 3 {
					c.Annotations = map[string]string{snapshot.DefaultClassAnnotation: "true"}
				}
				snap.Add(c)
			}
		}
		for i := 0; i < 30; i++ {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("claim-%d", i)}, Spec: spec()}
			pvc.Status.Phase = corev1.ClaimPending
			switch r.IntN(5) {
			case 0:
				pvc.Status.Phase = corev1.ClaimBound
			case 1:
				pvc.Spec.VolumeName = "pv-x"
			}
			snap.Add(pvc)
		}
		for i := 0; i < 6; i++ {
			st := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("st%d", i)},
				Spec: appsv1.StatefulSetSpec{Replicas: ptrTo(int32(r.IntN(3)))}}
			for j := r.IntN(3); j > 0; j-- {
				tpl := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", j)}, Spec: spec()}
				st.Spec.VolumeClaimTemplates = append(st.Spec.VolumeClaimTemplates, tpl)
				for o := 0; o < r.IntN(5); o++ { // existing claims push the next ordinal up
					snap.Add(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("t%d-st%d-%d", j, i, o)}})
				}
			}
			snap.Add(st)
		}
		for i := 0; i < 20; i++ {
			pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pv-%d", i), Labels: map[string]string{"disk": pick([]string{"ssd", "hdd"})}},
				Spec: corev1.PersistentVolumeSpec{StorageClassName: pick(classes), AccessModes: modes(), VolumeMode: volMode()}}
			if q := pick(sizes); q != "-" {
				pv.Spec.Capacity = storage(q)
			}
			snap.Add(pv)
		}
		snap.Index()
		takers := newPVTakers(snap)
		for _, pv := range snap.PersistentVolumes {
			got, want := takers.of(pv), takersScan(snap, pv)
			compared++
			matched += len(want)
			if !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("PV %s: got takers\n%q\nwant\n%q", pv.Name, got, want)
			}
		}
	}
	if matched < 500 {
		t.Errorf("the test exercises too little: %d takers over %d PVs", matched, compared)
	}
}
