package fix

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// The applier's re-checks, against an in-memory API: each case holds objects as the
// audit saw them (resourceVersion 42, uid-<name>) except for what it changes, and says
// what applying the action must do. The real API server's preconditions, conflicts and
// permissions are covered by test/integration (TestFix).

func meta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "42"}
}

func availablePV(name string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: meta("", name),
		Spec:   corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
}

// releasedPV was bound to claim shop/<claim> with uid uid-old-claim.
func releasedPV(name, claim string) *corev1.PersistentVolume {
	pv := availablePV(name)
	pv.Status.Phase = corev1.VolumeReleased
	pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "shop", Name: claim, UID: "uid-old-claim"}
	return pv
}

func claim(name, size string, expandable string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: meta("shop", name),
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(expandable),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
}

func class(name string, expands bool) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: meta("", name), AllowVolumeExpansion: ptr.To(expands)}
}

func orphanPod(finalizers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: meta("shop", "api-0"), Spec: corev1.PodSpec{NodeName: "gone"}}
	p.Finalizers = finalizers
	return p
}

func TestApplierRechecks(t *testing.T) {
	reserve := patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-a"))
	raise := patchFix("raise-claim-request", audit.Safe, target("PersistentVolumeClaim", "shop", "data-0"))
	raise.Steps[0].Patch.Data = `{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}`
	delPV := deleteFix("delete-claim-and-pv", target("PersistentVolume", "", "pv-r"))
	force := deleteFix("force-delete-pod", target("Pod", "shop", "api-0"))
	force.Steps[0].Delete.GracePeriodSeconds = new(int64)
	pinned := patchFix("disable-expansion", audit.Safe, target("StorageClass", "", "local-path"))
	pinned.Unchanged = []audit.FixTarget{target("PersistentVolumeClaim", "shop", "data-0")}

	edited := availablePV("pv-a")
	edited.ResourceVersion = "57"
	recreated := availablePV("pv-a")
	recreated.UID = "uid-new"
	claimed := availablePV("pv-a")
	claimed.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "shop", Name: "data-9"}
	placeholder := claim("pv-a", "1Gi", "x")
	placeholder.Namespace = audit.ReservedNamespace
	changedClaim := claim("data-0", "10Gi", "fast")
	changedClaim.ResourceVersion = "43"
	boundPV := releasedPV("pv-r", "data-3")
	boundPV.Status.Phase = corev1.VolumeBound
	oldClaim := claim("data-3", "1Gi", "x")
	oldClaim.UID = "uid-old-claim"

	cases := []struct {
		name    string
		fx      audit.Fix
		objects []runtime.Object
		outcome Outcome
		detail  string
	}{
		{"reserve", reserve, []runtime.Object{availablePV("pv-a")}, Applied, "patched PersistentVolume/pv-a; Event StorageAuditorFixed recorded"},
		{"gone", reserve, nil, Skipped, "PersistentVolume/pv-a no longer exists"},
		{"edited", reserve, []runtime.Object{edited}, Skipped, "changed since the audit (resourceVersion 42, now 57)"},
		{"re-created", reserve, []runtime.Object{recreated}, Skipped, "deleted and re-created since the audit (uid uid-pv-a, now uid-new)"},
		{"claimRef set", reserve, []runtime.Object{claimed}, Skipped, "already has a claimRef (shop/data-9)"},
		{"placeholder claim exists", reserve, []runtime.Object{availablePV("pv-a"), placeholder}, Skipped, "a claim storage-auditor-reserved/pv-a exists"},
		{"raise", raise, []runtime.Object{claim("data-0", "10Gi", "fast"), class("fast", true)}, Applied, "patched"},
		{"already raised", raise, []runtime.Object{claim("data-0", "20Gi", "fast"), class("fast", true)}, Skipped, "already requests 20Gi (never shrunk)"},
		{"class stopped expanding", raise, []runtime.Object{claim("data-0", "10Gi", "fast"), class("fast", false)}, Skipped, "StorageClass fast no longer allows volume expansion"},
		{"pinned object changed", pinned, []runtime.Object{class("local-path", true), changedClaim}, Skipped, "PersistentVolumeClaim/shop/data-0 changed since the audit"},
		{"class already off", pinned, []runtime.Object{class("local-path", false), claim("data-0", "10Gi", "fast")}, Skipped, "no longer allows volume expansion"},
		{"delete released PV", delPV, []runtime.Object{releasedPV("pv-r", "data-3")}, Applied, "deleted PersistentVolume/pv-r"},
		{"released PV bound again", delPV, []runtime.Object{boundPV}, Skipped, "is Bound, no longer Released"},
		{"its claim still exists", delPV, []runtime.Object{releasedPV("pv-r", "data-3"), oldClaim}, Skipped, "claim shop/data-3 still refers to PV pv-r"},
		{"force delete", force, []runtime.Object{orphanPod()}, Applied, "deleted Pod/shop/api-0"},
		{"node is back", force, []runtime.Object{orphanPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}}, Skipped, "node gone exists again"},
		{"finalizers", force, []runtime.Object{orphanPod("example.com/hold")}, Skipped, "has finalizers (example.com/hold)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(c.objects...)
			p := NewPlan(report(finding("some-rule", c.fx)), Policy{AllowDestructive: true, DestructiveRules: []string{"some-rule"}}, planNow)
			rs := (&Applier{Client: cs}).Apply(context.Background(), p)
			if len(rs) != 1 || rs[0].Outcome != c.outcome || !strings.Contains(rs[0].Detail, c.detail) {
				t.Fatalf("got %+v, want %s with %q", rs, c.outcome, c.detail)
			}
			var writes []string
			for _, a := range cs.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					writes = append(writes, v+" "+a.GetResource().Resource)
				}
			}
			if c.outcome != Applied && len(writes) > 0 {
				t.Errorf("a skipped action wrote: %v", writes)
			}
			if c.outcome == Applied && (len(writes) != 2 || writes[1] != "create events") {
				t.Errorf("an applied action must send its one request, then its Event: %v", writes)
			}
		})
	}
}

// TestApplierSendsThePlannedRequest: the patch body is the plan's, byte for byte, with the
// field manager; a delete carries the UID and resourceVersion preconditions and the grace
// period; a dry run sends dryRun=All and records no Event.
func TestApplierSendsThePlannedRequest(t *testing.T) {
	reserve := patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-a"))
	force := deleteFix("force-delete-pod", target("Pod", "shop", "api-0"))
	force.Steps[0].Delete.GracePeriodSeconds = new(int64)
	p := NewPlan(report(finding("pv-available-unreserved", reserve), finding("pod-node-missing", force)),
		Policy{AllowDestructive: true, DestructiveRules: []string{"pod-node-missing"}}, planNow)
	for _, dryRun := range []bool{false, true} {
		cs := fake.NewSimpleClientset(availablePV("pv-a"), orphanPod())
		rs := (&Applier{Client: cs, DryRun: dryRun}).Apply(context.Background(), p)
		want := Applied
		if dryRun {
			want = DryRunOK
		}
		for _, r := range rs {
			if r.Outcome != want {
				t.Errorf("dry run %v: %+v", dryRun, r)
			}
		}
		events := 0
		for _, a := range cs.Actions() {
			switch a := a.(type) {
			case k8stesting.PatchAction:
				if string(a.GetPatch()) != string(p.Actions[0].Requests[0].Body) {
					t.Errorf("patch sent %s, planned %s", a.GetPatch(), p.Actions[0].Requests[0].Body)
				}
			case k8stesting.DeleteAction:
				o := a.GetDeleteOptions()
				if o.Preconditions == nil || *o.Preconditions.UID != "uid-api-0" || *o.Preconditions.ResourceVersion != "42" ||
					o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || (len(o.DryRun) == 1) != dryRun {
					t.Errorf("delete options %+v", o)
				}
			case k8stesting.CreateAction:
				events++
				ev := a.GetObject().(*corev1.Event)
				if ev.Reason != EventReason || ev.Source.Component != FieldManager || ev.Namespace == "" || !strings.Contains(ev.Message, "rule ") {
					t.Errorf("event %+v", ev)
				}
			}
		}
		if wantEvents := map[bool]int{false: 2, true: 0}[dryRun]; events != wantEvents {
			t.Errorf("dry run %v: %d events, want %d", dryRun, events, wantEvents)
		}
	}
}
