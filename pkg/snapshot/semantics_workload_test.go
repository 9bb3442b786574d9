package snapshot

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statefulSetClaimScan is the definition StatefulSetClaim implements with an index: the
// first StatefulSet, in snapshot order, with a template whose claim pattern matches.
func statefulSetClaimScan(s *Snapshot, pvc *corev1.PersistentVolumeClaim) (*appsv1.StatefulSet, string, int, bool) {
	for _, set := range s.StatefulSets {
		if set.Namespace != pvc.Namespace || !strings.Contains(pvc.Name, "-"+set.Name+"-") {
			continue
		}
		for i := range set.Spec.VolumeClaimTemplates {
			tpl := set.Spec.VolumeClaimTemplates[i].Name
			if n, ok := StatefulSetOrdinal(pvc.Name, tpl, set.Name); ok {
				return set, tpl, n, true
			}
		}
	}
	return nil, "", 0, false
}

// TestStatefulSetClaimMatchesScan compares StatefulSetClaim with the scan over every
// StatefulSet on names built to be ambiguous: dashes and digits in template and
// StatefulSet names, several StatefulSets a claim name can be split into, leading zeros.
func TestStatefulSetClaimMatchesScan(t *testing.T) {
	wide := []string{"a", "b", "a-b", "data", "web", "web-0", "1", "x-1", "db-data", ""}
	// Few parts made of one word: claim x-x-x-1 is template x of StatefulSet x-x and
	// template x-x of StatefulSet x, and often both exist.
	narrow := []string{"x", "x-x", "x-x-x", "1", "x-1"}
	ords := []string{"0", "1", "7", "12", "01", "", "x", "3-4"}
	r := rand.New(rand.NewPCG(1, 2))
	var parts []string
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	matches, ambiguous := 0, 0
	defer func() {
		if matches < 1000 || ambiguous < 100 {
			t.Errorf("the test exercises too little: %d matches, %d claims matching several StatefulSets", matches, ambiguous)
		}
	}()
	for round := 0; round < 400; round++ {
		parts = wide
		if round%2 == 1 {
			parts = narrow
		}
		s := New("test")
		for i := 0; i < 12; i++ {
			st := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: pick([]string{"ns1", "ns2"}), Name: pick(parts)}}
			for j := r.IntN(3); j > 0; j-- {
				st.Spec.VolumeClaimTemplates = append(st.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: pick(parts)}})
			}
			s.Add(st)
		}
		s.Index()
		for i := 0; i < 100; i++ {
			name := pick(parts) + "-" + pick(parts) + "-" + pick(ords)
			if r.IntN(4) == 0 {
				name = pick(parts) + "-" + name
			}
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: pick([]string{"ns1", "ns2"}), Name: name}}
			wantSt, wantTpl, wantOrd, wantOK := statefulSetClaimScan(s, pvc)
			if wantOK {
				matches++
				if candidates(s, pvc) > 1 {
					ambiguous++
				}
			}
			gotSt, gotTpl, gotOrd, gotOK := s.StatefulSetClaim(pvc)
			if gotSt != wantSt || gotTpl != wantTpl || gotOrd != wantOrd || gotOK != wantOK {
				t.Fatalf("claim %s/%s: got %s, want %s", pvc.Namespace, pvc.Name,
					describeMatch(gotSt, gotTpl, gotOrd, gotOK), describeMatch(wantSt, wantTpl, wantOrd, wantOK))
			}
		}
	}
}

// candidates counts the StatefulSets a claim's name matches.
func candidates(s *Snapshot, pvc *corev1.PersistentVolumeClaim) int {
	n := 0
	for _, set := range s.StatefulSets {
		for i := range set.Spec.VolumeClaimTemplates {
			if _, ok := StatefulSetOrdinal(pvc.Name, set.Spec.VolumeClaimTemplates[i].Name, set.Name); ok && set.Namespace == pvc.Namespace {
				n++
				break
			}
		}
	}
	return n
}

func describeMatch(st *appsv1.StatefulSet, tpl string, ord int, ok bool) string {
	if !ok {
		return "no match"
	}
	return fmt.Sprintf("%s/%s template %q ordinal %d (%p)", st.Namespace, st.Name, tpl, ord, st)
}
