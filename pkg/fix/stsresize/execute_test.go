package stsresize

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The real workflow is tested against a real control plane (test/integration); these
// tests drive the failure branches that need an API server to misbehave on cue.

// fakeCluster plans a resize of fixture StatefulSet name and returns the plan and a fake
// API server holding the StatefulSet and its namespace's claims.
func fakeCluster(t *testing.T, name, size string) (*Plan, *fake.Clientset) {
	t.Helper()
	snap := loadFixture(t)
	in := inputsFrom(t, snap, "shop", name)
	p, err := Decide(in, Request{Namespace: "shop", Name: name, Size: resource.MustParse(size),
		Timeout: 200 * time.Millisecond, BackupDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	objs := []runtime.Object{in.StatefulSet.DeepCopy()}
	for _, c := range in.Claims {
		objs = append(objs, c.DeepCopy())
	}
	return p, fake.NewClientset(objs...)
}

// refuseCreate makes the fake API server reject StatefulSet creations for which reject
// returns true, as an admission webhook or policy would.
func refuseCreate(cs *fake.Clientset, reject func(*appsv1.StatefulSet) bool) {
	cs.PrependReactor("create", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		st := a.(k8stesting.CreateAction).GetObject().(*appsv1.StatefulSet)
		if reject(st) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, st.Name, errors.New("denied by policy"))
		}
		return false, nil, nil
	})
}

func templateSize(st *appsv1.StatefulSet) string {
	q := st.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	return q.String()
}

func deletes(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" {
			n++
		}
	}
	return n
}

func TestCreateRefusedRestoresOriginal(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	refuseCreate(cs, func(st *appsv1.StatefulSet) bool { return templateSize(st) == "50Gi" })
	_, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
	var restored *Restored
	if !errors.As(err, &restored) {
		t.Fatalf("err = %v, want *Restored", err)
	}
	if !strings.Contains(err.Error(), "denied by policy") {
		t.Errorf("the message must carry the API server's refusal: %v", err)
	}
	got, gerr := cs.AppsV1().StatefulSets("shop").Get(context.Background(), "search", metav1.GetOptions{})
	if gerr != nil {
		t.Fatalf("the original was not re-created: %v", gerr)
	}
	if templateSize(got) != "10Gi" || len(got.OwnerReferences) != 1 || got.Annotations["argocd.argoproj.io/tracking-id"] == "" ||
		got.Spec.PersistentVolumeClaimRetentionPolicy == nil || got.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		t.Errorf("restored StatefulSet differs from the original: %+v", got)
	}
}

func TestBothCreatesRefusedLeavesManifest(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	refuseCreate(cs, func(*appsv1.StatefulSet) bool { return true })
	res, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
	var action *NeedsAction
	if !errors.As(err, &action) {
		t.Fatalf("err = %v, want *NeedsAction", err)
	}
	if !strings.Contains(action.Action, "kubectl create -f "+res.Backup.Original) {
		t.Errorf("the message must say how to apply the saved original: %s", action.Action)
	}
	data, rerr := os.ReadFile(res.Backup.Original)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var saved appsv1.StatefulSet
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Kind != "StatefulSet" || saved.UID != "" || saved.ResourceVersion != "" || templateSize(&saved) != "10Gi" ||
		saved.Spec.Selector.MatchLabels["app"] != "search" || len(saved.OwnerReferences) != 1 {
		t.Errorf("saved original is not a creatable copy of the original: %s", data)
	}
}

func TestClaimsNeverGrowStopsBeforeDeletion(t *testing.T) {
	p, cs := fakeCluster(t, "web", "20Gi")
	_, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
	var stopped *Stopped
	if !errors.As(err, &stopped) {
		t.Fatalf("err = %v, want *Stopped", err)
	}
	if !strings.Contains(err.Error(), "did not reach 20Gi") || !strings.Contains(err.Error(), "run the same resize again") {
		t.Errorf("message: %v", err)
	}
	if n := deletes(cs); n != 0 {
		t.Errorf("%d deletes after a timeout; the StatefulSet must stay untouched", n)
	}
	pvc, _ := cs.CoreV1().PersistentVolumeClaims("shop").Get(context.Background(), "data-web-3", metav1.GetOptions{})
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "20Gi" {
		t.Errorf("retained claim data-web-3 requests %s, want it patched to 20Gi", q.String())
	}
}

func TestSpecChangedSincePlanStops(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	st, _ := cs.AppsV1().StatefulSets("shop").Get(context.Background(), "search", metav1.GetOptions{})
	st.Generation++
	if _, err := cs.AppsV1().StatefulSets("shop").Update(context.Background(), st, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
	var stopped *Stopped
	if !errors.As(err, &stopped) || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("err = %v, want *Stopped naming the change", err)
	}
	if n := deletes(cs); n != 0 {
		t.Errorf("%d deletes of a StatefulSet whose spec changed", n)
	}
}

// TestClaimState: when a claim counts as expanded.
func TestClaimState(t *testing.T) {
	fsPending := []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue}}
	gi := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s)}
	}
	cases := []struct {
		name                   string
		status                 corev1.PersistentVolumeClaimStatus
		pvCapacity             string
		done, fsResize, failed bool
	}{
		{name: "capacity reached", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("20Gi")}, done: true},
		{name: "capacity above", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("21Gi")}, done: true},
		{name: "still small", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("10Gi")}},
		{name: "file system pending, allocated", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("10Gi"), Conditions: fsPending, AllocatedResources: gi("20Gi")}, done: true, fsResize: true},
		{name: "node pending, PV grown", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("10Gi"),
			AllocatedResourceStatuses: map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimNodeResizePending}}, pvCapacity: "20Gi", done: true, fsResize: true},
		{name: "file system pending of an earlier resize", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("5Gi"), Conditions: fsPending, AllocatedResources: gi("10Gi")}},
		{name: "infeasible", status: corev1.PersistentVolumeClaimStatus{Capacity: gi("10Gi"),
			AllocatedResourceStatuses: map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}}, failed: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-web-0", Namespace: "shop"},
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-0"}, Status: c.status}
			var objs []runtime.Object
			if c.pvCapacity != "" {
				objs = append(objs, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-0"}, Spec: corev1.PersistentVolumeSpec{Capacity: gi(c.pvCapacity)}})
			}
			w := &waitCapacity{plan: &Plan{Request: Request{Size: resource.MustParse("20Gi")}}}
			st, err := w.state(context.Background(), &execution{opts: Options{Client: fake.NewClientset(objs...)}}, pvc)
			if err != nil {
				t.Fatal(err)
			}
			if st.done != c.done || st.fsResize != c.fsResize || (st.failed != "") != c.failed {
				t.Errorf("state %+v, want done %v fsResize %v failed %v", st, c.done, c.fsResize, c.failed)
			}
		})
	}
}
