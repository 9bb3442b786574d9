package snapshot

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeSelectorMatches(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
		"zone": "a", "gen": "5", "spot": "true"}}}
	req := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	term := func(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: exprs}
	}
	for _, tt := range []struct {
		name  string
		terms []corev1.NodeSelectorTerm
		want  bool
	}{
		{"In", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "b", "a"))}, true},
		{"In missing label", []corev1.NodeSelectorTerm{term(req("rack", corev1.NodeSelectorOpIn, "a"))}, false},
		{"NotIn", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpNotIn, "a"))}, false},
		{"NotIn missing label", []corev1.NodeSelectorTerm{term(req("rack", corev1.NodeSelectorOpNotIn, "a"))}, true},
		{"Exists", []corev1.NodeSelectorTerm{term(req("spot", corev1.NodeSelectorOpExists))}, true},
		{"DoesNotExist", []corev1.NodeSelectorTerm{term(req("spot", corev1.NodeSelectorOpDoesNotExist))}, false},
		{"Gt", []corev1.NodeSelectorTerm{term(req("gen", corev1.NodeSelectorOpGt, "4"))}, true},
		{"Gt equal", []corev1.NodeSelectorTerm{term(req("gen", corev1.NodeSelectorOpGt, "5"))}, false},
		{"Lt", []corev1.NodeSelectorTerm{term(req("gen", corev1.NodeSelectorOpLt, "6"))}, true},
		{"Gt not a number", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpGt, "1"))}, false},
		{"AND within a term", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "a"), req("spot", corev1.NodeSelectorOpDoesNotExist))}, false},
		{"OR across terms", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "b")), term(req("gen", corev1.NodeSelectorOpIn, "5"))}, true},
		{"empty term matches nothing", []corev1.NodeSelectorTerm{{}}, false},
		{"matchFields name", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "n1")}}}, true},
		{"matchFields NotIn", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpNotIn, "n1")}}}, false},
		{"matchFields other field", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.uid", corev1.NodeSelectorOpIn, "n1")}}}, false},
		{"unknown operator", []corev1.NodeSelectorTerm{term(req("zone", "Like", "a"))}, false},
	} {
		sel := &corev1.NodeSelector{NodeSelectorTerms: tt.terms}
		if got := NodeSelectorMatches(sel, node); got != tt.want {
			t.Errorf("%s: NodeSelectorMatches = %v, want %v", tt.name, got, tt.want)
		}
		// The finder must agree with the plain evaluation over every node, whatever it
		// narrows the candidates by.
		n0 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n0", Labels: map[string]string{"zone": "c"}}}
		want := tt.want || NodeSelectorMatches(sel, n0)
		if got := NewNodeFinder([]*corev1.Node{n0, node}).AnyMatches(sel); got != want {
			t.Errorf("%s: NodeFinder.AnyMatches = %v, want %v", tt.name, got, want)
		}
		if got := NewNodeFinder([]*corev1.Node{node}).AnyMatches(sel); got != tt.want {
			t.Errorf("%s: NodeFinder.AnyMatches over n1 alone = %v, want %v", tt.name, got, tt.want)
		}
	}
	if NewNodeFinder(nil).AnyMatches(&corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}}}) {
		t.Error("no node can satisfy anything")
	}
}

// TestNewClaimVolume: a name reservation wins; otherwise the smallest unreserved Available
// PV that matches, by name among equals, skipping taken and deleting PVs.
func TestNewClaimVolume(t *testing.T) {
	s := New("test")
	pv := func(name, size string, mutate func(*corev1.PersistentVolume)) {
		p := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			StorageClassName: "fast", Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
		if mutate != nil {
			mutate(p)
		}
		s.Add(p)
	}
	pv("big", "100Gi", nil)
	pv("b-small", "10Gi", nil)
	pv("a-small", "10Gi", nil)
	pv("tiny", "1Gi", nil) // too small
	pv("deleting", "5Gi", func(p *corev1.PersistentVolume) { now := metav1.Now(); p.DeletionTimestamp = &now })
	pv("released", "5Gi", func(p *corev1.PersistentVolume) { p.Status.Phase = corev1.VolumeReleased })
	pv("reserved", "500Gi", func(p *corev1.PersistentVolume) {
		p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data-db-9"}
	})
	s.Index()
	claim := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
		StorageClassName: ptr("fast"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}}}
	m, ok := NewClaimMatch(claim, "", true)
	if !ok {
		t.Fatal("claim with a class must match")
	}
	taken := map[string]bool{}
	var got []string
	for i := 0; i < 4; i++ {
		v, reserved := s.NewClaimVolume("ns", fmt.Sprintf("data-db-%d", i), &m, taken)
		if v == nil {
			got = append(got, "fresh")
			continue
		}
		if reserved {
			t.Errorf("%s is not reserved for data-db-%d", v.Name, i)
		}
		taken[v.Name] = true
		got = append(got, v.Name)
	}
	if fmt.Sprint(got) != "[a-small b-small big fresh]" {
		t.Errorf("bound in order %v, want [a-small b-small big fresh]", got)
	}
	if v, reserved := s.NewClaimVolume("ns", "data-db-9", &m, taken); v == nil || v.Name != "reserved" || !reserved {
		t.Errorf("data-db-9 should get the PV reserved for it, got %v", v)
	}
	if _, ok := NewClaimMatch(&corev1.PersistentVolumeClaim{}, "", false); ok {
		t.Error("a claim without class cannot be matched while the default class is unknown")
	}
}

func TestStorageQuotaUses(t *testing.T) {
	q := &corev1.ResourceQuota{
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.storage": resource.MustParse("1Ti")}},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"requests.storage": resource.MustParse("100Gi"), "requests.cpu": resource.MustParse("4"),
				"gp3.storageclass.storage.k8s.io/persistentvolumeclaims": resource.MustParse("5")},
			Used: corev1.ResourceList{"requests.storage": resource.MustParse("40Gi")},
		},
	}
	uses := StorageQuotaUses(q)
	if len(uses) != 2 {
		t.Fatalf("uses %+v: want the two storage resources of status.hard", uses)
	}
	c, r := uses[0], uses[1]
	if c.Resource != "gp3.storageclass.storage.k8s.io/persistentvolumeclaims" || c.Class != "gp3" || !c.Claims || c.HasUsed ||
		!c.Applies("gp3") || c.Applies("other") {
		t.Errorf("per-class claim count: %+v", c)
	}
	if r.Resource != "requests.storage" || r.Class != "" || r.Claims || !r.HasUsed || r.Hard.String() != "100Gi" || r.Used.String() != "40Gi" || !r.Applies("any") {
		t.Errorf("requests.storage: %+v", r)
	}
}

func ptr[T any](v T) *T { return &v }
