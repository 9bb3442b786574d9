package stsresize

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
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

// Errors the API server (or the way to it) gives after the deletion.
var (
	gr          = schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	connRefused = &url.Error{Op: "Post", URL: "https://10.1.2.3:6443/apis/apps/v1/namespaces/shop/statefulsets",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
	connReset = &url.Error{Op: "Post", URL: "https://10.1.2.3:6443/apis/apps/v1/namespaces/shop/statefulsets",
		Err: &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}}
	unavailable = apierrors.NewServiceUnavailable("the server is shutting down")
	invalid     = apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "search",
		field.ErrorList{field.Invalid(field.NewPath("spec", "volumeClaimTemplates"), "50Gi", "refused by the test")})
)

// failCreates makes the fake API server answer the creations of StatefulSets whose
// template requests size with errs, one each, in order; later ones go through. The
// returned counter counts every creation at size.
func failCreates(cs *fake.Clientset, size string, errs ...error) *int {
	n := new(int)
	cs.PrependReactor("create", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if templateSize(a.(k8stesting.CreateAction).GetObject().(*appsv1.StatefulSet)) != size {
			return false, nil, nil
		}
		*n++
		if *n <= len(errs) {
			return true, nil, errs[*n-1]
		}
		return false, nil, nil
	})
	return n
}

func liveSize(t *testing.T, cs *fake.Clientset) string {
	t.Helper()
	st, err := cs.AppsV1().StatefulSets("shop").Get(context.Background(), "search", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after the resize: %v", err)
	}
	return templateSize(st)
}

// TestResizedCreateRetriesTransientFailures: after the deletion, a create that got no
// answer or a 5xx, 429 or 409 is sent again until it passes; the original is never
// created.
func TestResizedCreateRetriesTransientFailures(t *testing.T) {
	cases := []struct {
		name string
		errs []error
	}{
		{"connection refused, then 503", []error{connRefused, unavailable}},
		{"connection reset", []error{connReset}},
		{"429", []error{apierrors.NewTooManyRequests("slow down", 1)}},
		{"500 and 504", []error{apierrors.NewInternalError(errors.New("etcdserver: request timed out")), apierrors.NewTimeoutError("request timed out", 1)}},
		{"409 other than AlreadyExists", []error{apierrors.NewConflict(gr, "search", errors.New("try again"))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, cs := fakeCluster(t, "search", "50Gi")
			resizedCreates := failCreates(cs, "50Gi", c.errs...)
			originalCreates := failCreates(cs, "10Gi")
			var progress strings.Builder
			if _, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond, Progress: &progress}); err != nil {
				t.Fatalf("err = %v\n%s", err, progress.String())
			}
			if *resizedCreates != len(c.errs)+1 || *originalCreates != 0 {
				t.Errorf("%d creations of the resized StatefulSet (want %d), %d of the original (want 0)", *resizedCreates, len(c.errs)+1, *originalCreates)
			}
			if got := liveSize(t, cs); got != "50Gi" {
				t.Errorf("the StatefulSet's template requests %s, want 50Gi", got)
			}
			if !strings.Contains(progress.String(), "creating the resized StatefulSet failed") || !strings.Contains(progress.String(), "retrying every") {
				t.Errorf("the progress does not say it retries:\n%s", progress.String())
			}
		})
	}
}

// TestPermanentRefusalRestores: a 4xx other than 409 and 429 is not sent again: the
// original is re-created at once, and its own transient failures are retried.
func TestPermanentRefusalRestores(t *testing.T) {
	cases := []struct {
		name        string
		refusal     error
		restoreErrs []error
	}{
		{"422 Invalid", invalid, nil},
		{"400 Bad Request", apierrors.NewBadRequest("no"), nil},
		{"403 Forbidden, restore after a 503 and a refused connection", apierrors.NewForbidden(gr, "search", errors.New("denied by policy")),
			[]error{unavailable, connRefused}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, cs := fakeCluster(t, "search", "50Gi")
			resizedCreates := failCreates(cs, "50Gi", c.refusal, c.refusal, c.refusal)
			originalCreates := failCreates(cs, "10Gi", c.restoreErrs...)
			res, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
			var restored *Restored
			if !errors.As(err, &restored) {
				t.Fatalf("err = %v, want *Restored", err)
			}
			if *resizedCreates != 1 || *originalCreates != len(c.restoreErrs)+1 {
				t.Errorf("%d creations of the resized StatefulSet (want 1), %d of the original (want %d)", *resizedCreates, *originalCreates, len(c.restoreErrs)+1)
			}
			if got := liveSize(t, cs); got != "10Gi" {
				t.Errorf("the restored StatefulSet's template requests %s, want the original 10Gi", got)
			}
			if !errors.Is(err, c.refusal) || !strings.Contains(err.Error(), "the original StatefulSet was re-created") ||
				!strings.Contains(err.Error(), "fix the cause and run the same resize again") || res.UID != restored.UID {
				t.Errorf("the message must carry the refusal and say what to do: %v", err)
			}
		})
	}
}

// TestCanceledAfterDeletionStillRestores: an interrupt that arrives once the StatefulSet
// is deleted cancels nothing: the waits go on, the refused resized StatefulSet is
// replaced by the original.
func TestCanceledAfterDeletionStillRestores(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The delete is accepted and the garbage collector takes a few reads to remove the
	// orphan finalizer, as on a real cluster; the user's Ctrl-C arrives meanwhile.
	gvr := appsv1.SchemeGroupVersion.WithResource("statefulsets")
	deleting := 0
	cs.PrependReactor("delete", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel()
		st, err := cs.Tracker().Get(gvr, "shop", "search")
		if err != nil {
			return true, nil, err
		}
		st.(*appsv1.StatefulSet).DeletionTimestamp = ptr.To(metav1.Now())
		st.(*appsv1.StatefulSet).Finalizers = []string{metav1.FinalizerOrphanDependents}
		deleting = 1
		return true, nil, cs.Tracker().Update(gvr, st, "shop")
	})
	cs.PrependReactor("get", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if deleting > 0 {
			if deleting++; deleting == 4 {
				if err := cs.Tracker().Delete(gvr, "shop", "search"); err != nil {
					return true, nil, err
				}
			}
		}
		return false, nil, nil
	})
	failCreates(cs, "50Gi", invalid)
	originalCreates := failCreates(cs, "10Gi", unavailable)
	_, err := Execute(ctx, p, Options{Client: cs, Poll: time.Millisecond})
	var restored *Restored
	if !errors.As(err, &restored) || restored.VerifyErr != nil {
		t.Fatalf("err = %v, want *Restored with the adoption verified", err)
	}
	if *originalCreates != 2 || liveSize(t, cs) != "10Gi" {
		t.Errorf("%d creations of the original, want 2 (one 503, one accepted)", *originalCreates)
	}
}

// TestTransientUntilTimeoutNeedsAction: when the API server keeps failing for the whole
// timeout, the original is not tried (it would meet the same outage) and the message says
// which saved manifest to create once the API server answers.
func TestTransientUntilTimeoutNeedsAction(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	var errs []error
	for i := 0; i < 100000; i++ {
		errs = append(errs, connRefused)
	}
	resizedCreates := failCreates(cs, "50Gi", errs...)
	originalCreates := failCreates(cs, "10Gi")
	res, err := Execute(context.Background(), p, Options{Client: cs, Poll: 10 * time.Millisecond})
	var action *NeedsAction
	if !errors.As(err, &action) {
		t.Fatalf("err = %v, want *NeedsAction", err)
	}
	if *resizedCreates == 0 || *originalCreates != 0 {
		t.Errorf("%d creations of the resized StatefulSet, %d of the original (want 0)", *resizedCreates, *originalCreates)
	}
	for _, want := range []string{"creating the resized one failed for 200ms", "connection refused",
		"the StatefulSet does not exist now", "once the API server answers, run `kubectl create -f " + res.Backup.Resized + "`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

// createdBy makes the fake API server hold st as created by manager and answer the
// creation with err. (The fake does not record managedFields: reads of st return them.)
func createdBy(t *testing.T, cs *fake.Clientset, st *appsv1.StatefulSet, manager string, err error) (bool, runtime.Object, error) {
	t.Helper()
	st = st.DeepCopy()
	st.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate}}
	if cerr := cs.Tracker().Create(appsv1.SchemeGroupVersion.WithResource("statefulsets"), st.DeepCopy(), st.Namespace); cerr != nil {
		t.Fatal(cerr)
	}
	cs.PrependReactor("get", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, st.DeepCopy(), nil
	})
	return true, nil, err
}

// TestLostAnswers: a delete or create applied by the API server whose answer was lost is
// recognised on the next read (the StatefulSet is gone; the retry's AlreadyExists is our
// own creation) and the workflow goes on; a delete that failed without being applied is
// sent again.
func TestLostAnswers(t *testing.T) {
	gvr := appsv1.SchemeGroupVersion.WithResource("statefulsets")
	cases := []struct {
		name   string
		inject func(cs *fake.Clientset)
	}{
		{"delete applied, answer lost", func(cs *fake.Clientset) {
			cs.PrependReactor("delete", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if err := cs.Tracker().Delete(gvr, "shop", "search"); err != nil {
					return true, nil, err
				}
				return true, nil, connReset
			})
		}},
		{"delete not applied, 503", func(cs *fake.Clientset) {
			n := 0
			cs.PrependReactor("delete", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if n++; n == 1 {
					return true, nil, unavailable
				}
				return false, nil, nil
			})
		}},
		{"create applied, answer lost", func(cs *fake.Clientset) {
			n := 0
			cs.PrependReactor("create", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if n++; n > 1 {
					return false, nil, nil
				}
				return createdBy(t, cs, a.(k8stesting.CreateAction).GetObject().(*appsv1.StatefulSet), FieldManager, connReset)
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, cs := fakeCluster(t, "search", "50Gi")
			c.inject(cs)
			if _, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond}); err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := liveSize(t, cs); got != "50Gi" {
				t.Errorf("the StatefulSet's template requests %s, want 50Gi", got)
			}
		})
	}
}

// TestSomeoneElsesStatefulSetIsLeftAlone: AlreadyExists for an object this auditor did
// not create (a GitOps tool re-created it) is not taken for our own.
func TestSomeoneElsesStatefulSetIsLeftAlone(t *testing.T) {
	p, cs := fakeCluster(t, "search", "50Gi")
	n := 0
	cs.PrependReactor("create", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if n++; n > 1 {
			return false, nil, nil
		}
		// Between our failed attempt and its retry, someone else creates it at 50Gi.
		return createdBy(t, cs, a.(k8stesting.CreateAction).GetObject().(*appsv1.StatefulSet), "argocd-application-controller", unavailable)
	})
	_, err := Execute(context.Background(), p, Options{Client: cs, Poll: time.Millisecond})
	var action *NeedsAction
	if !errors.As(err, &action) || !strings.Contains(err.Error(), "re-created by someone else") {
		t.Fatalf("err = %v, want *NeedsAction naming someone else's StatefulSet", err)
	}
}
