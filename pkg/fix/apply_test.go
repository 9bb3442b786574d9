package fix

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
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

// refused is what client-go returns when nothing listens at the API server's address.
func refused(verb, path string) error {
	return &url.Error{Op: verb, URL: "https://10.1.2.3:6443" + path,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
}

// TestApplierStopsWhenTheServerStopsAnswering: once a request gets no answer, the actions
// after it are not sent and each says so, naming its object and the server; an action
// whose write was sent but not answered says it may have been applied; an interrupted
// run sends nothing more. Every action has exactly one result.
func TestApplierStopsWhenTheServerStopsAnswering(t *testing.T) {
	reserve := func(pv string) audit.Finding {
		return finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", pv)))
	}
	delPV := finding("pv-released-retained", deleteFix("delete-claim-and-pv", target("PersistentVolume", "", "pv-r")))
	rep := report(reserve("pv-a"), reserve("pv-b"), reserve("pv-c"), delPV)
	objects := []runtime.Object{availablePV("pv-a"), availablePV("pv-b"), availablePV("pv-c"), releasedPV("pv-r", "data-3")}

	// down makes every request after the first successful patch fail to connect, as a
	// stopped API server does.
	down := func(cs *fake.Clientset) {
		var isDown bool
		cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if isDown {
				return true, nil, refused(strings.ToUpper(a.GetVerb()), "/api/v1/"+a.GetResource().Resource)
			}
			isDown = a.GetVerb() == "patch" // this one still goes through
			return false, nil, nil
		})
	}
	// lostAnswer: the patch of pv-b is sent and its connection breaks before the answer.
	lostAnswer := func(cs *fake.Clientset) {
		cs.PrependReactor("patch", "persistentvolumes", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.(k8stesting.PatchAction).GetName() != "pv-b" {
				return false, nil, nil
			}
			return true, nil, &url.Error{Op: "Patch", URL: "https://10.1.2.3:6443/api/v1/persistentvolumes/pv-b",
				Err: &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}}
		})
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	type want struct {
		outcome Outcome
		detail  []string
	}
	notSent := func(pv, during string) want {
		return want{Failed, []string{"not attempted: the API server https://10.1.2.3:6443 stopped answering " + during,
			"connect: connection refused", "nothing was sent for PersistentVolume/" + pv}}
	}
	notAllowed := want{NotAllowed, []string{"needs --allow destructive"}}
	cases := []struct {
		name    string
		ctx     context.Context
		inject  func(*fake.Clientset)
		want    []want
		patches int
	}{
		{"down after the first write", context.Background(), down, []want{
			{Applied, []string{"patched PersistentVolume/pv-a", "the Event was not recorded", "connection refused"}},
			notSent("pv-b", "during #1"), notSent("pv-c", "during #1"), notAllowed}, 1},
		{"answer lost after the write was sent", context.Background(), lostAnswer, []want{
			{Applied, []string{"patched PersistentVolume/pv-a"}},
			{Failed, []string{"PATCH PersistentVolume/pv-b", "connection reset by peer", "it may or may not have been applied"}},
			{Failed, []string{"not attempted: the API server https://10.1.2.3:6443 stopped answering during #2", "nothing was sent for PersistentVolume/pv-c"}},
			notAllowed}, 2},
		{"interrupted", canceled, nil, []want{
			{Failed, []string{"not attempted: the run was interrupted before this action; nothing was sent for PersistentVolume/pv-a"}},
			{Failed, []string{"interrupted", "PersistentVolume/pv-b"}}, {Failed, []string{"interrupted", "PersistentVolume/pv-c"}}, notAllowed}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(objects...)
			if c.inject != nil {
				c.inject(cs)
			}
			p := NewPlan(rep, Policy{}, planNow)
			rs := (&Applier{Client: cs}).Apply(c.ctx, p)
			if len(rs) != len(p.Actions) {
				t.Fatalf("%d results for %d actions", len(rs), len(p.Actions))
			}
			for i, r := range rs {
				if r.Action != p.Actions[i] {
					t.Errorf("result %d is of action #%d", i, r.Action.N)
				}
				w := c.want[i]
				if r.Outcome != w.outcome {
					t.Errorf("#%d: %s (%s), want %s", r.Action.N, r.Outcome, r.Detail, w.outcome)
				}
				for _, d := range w.detail {
					if !strings.Contains(r.Detail, d) {
						t.Errorf("#%d: detail %q lacks %q", r.Action.N, r.Detail, d)
					}
				}
			}
			patches := 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "patch" {
					patches++
				}
			}
			if patches != c.patches {
				t.Errorf("%d patches sent, want %d", patches, c.patches)
			}
		})
	}
}

// TestApplierRequestTimeout: a server that never answers costs one request timeout, and
// the actions after it are not sent.
func TestApplierRequestTimeout(t *testing.T) {
	cs := fake.NewSimpleClientset(availablePV("pv-a"), availablePV("pv-b"))
	cs.PrependReactor("get", "persistentvolumes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// What client-go returns when the request's context ends while waiting.
		return true, nil, &url.Error{Op: "Get", URL: "https://10.1.2.3:6443/api/v1/persistentvolumes/" + a.(k8stesting.GetAction).GetName(),
			Err: context.DeadlineExceeded}
	})
	p := NewPlan(report(finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-a"))),
		finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-b")))), Policy{}, planNow)
	rs := (&Applier{Client: cs}).Apply(context.Background(), p)
	if len(rs) != 2 || rs[0].Outcome != Failed || !strings.Contains(rs[0].Detail, "reading PersistentVolume/pv-a") ||
		!strings.Contains(rs[0].Detail, "no answer from the API server: this request was not applied") {
		t.Fatalf("first action: %+v", rs)
	}
	if rs[1].Outcome != Failed || !strings.Contains(rs[1].Detail, "stopped answering during #1 (context deadline exceeded)") {
		t.Errorf("second action: %+v", rs[1])
	}
	gets := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("%d reads; after the first timeout nothing more must be sent", gets)
	}
}

// TestApplierPartlyApplied: a two-step action (delete the claim, then its Retain PV) whose
// second step's re-check stops it — the PV was claimed by a new claim in between — is
// reported as partly applied, never as applied, and the PV is kept.
func TestApplierPartlyApplied(t *testing.T) {
	pvStep := audit.FixStep{Target: target("PersistentVolume", "", "pv-r"), Delete: &audit.FixDelete{}, ChangedByPrevious: true}
	fx := deleteFix("delete-claim-and-pv", target("PersistentVolumeClaim", "shop", "data-3"))
	fx.Steps = append(fx.Steps, pvStep)

	pv := releasedPV("pv-r", "data-new")
	pv.Status.Phase = corev1.VolumeBound
	pv.Spec.ClaimRef.UID = "uid-data-new"
	cs := fake.NewSimpleClientset(claim("data-3", "1Gi", "x"), claim("data-new", "1Gi", "x"), pv)
	p := NewPlan(report(finding("some-rule", fx)), Policy{AllowDestructive: true, DestructiveRules: []string{"some-rule"}}, planNow)
	rs := (&Applier{Client: cs}).Apply(context.Background(), p)
	if len(rs) != 1 || rs[0].Outcome != Partial {
		t.Fatalf("got %+v, want one result %q", rs, Partial)
	}
	for _, want := range []string{"deleted PersistentVolumeClaim/shop/data-3", "then skipped", "claim shop/data-new still refers to PV pv-r"} {
		if !strings.Contains(rs[0].Detail, want) {
			t.Errorf("detail %q does not say %q", rs[0].Detail, want)
		}
	}
	if _, err := cs.CoreV1().PersistentVolumes().Get(context.Background(), "pv-r", metav1.GetOptions{}); err != nil {
		t.Errorf("the PV must be kept: %v", err)
	}
	if AnyFailed(rs) {
		t.Error("a re-check that stopped a step is not a failure")
	}
	var out strings.Builder
	if err := PrintResults(&out, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Fix results: 1 partly applied.") {
		t.Errorf("totals do not count it on its own:\n%s", out.String())
	}
}
