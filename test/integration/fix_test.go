package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/fix"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// The fix tests' objects: namespace fix-e2e and cluster-scoped objects named fix-*, in
// classes of their own (fix-expand, fix-spare, fix-local-path*), so that no other test's
// claim can bind their volumes and no other test's finding changes. Every cluster-scoped
// object is deleted when TestFix ends.
const fixNS = "fix-e2e"

// fixRules are the namespaced rules the CLI apply runs are limited to: with -n fix-e2e
// they see only this test's objects (a PV counts in its claim's namespace).
const fixRules = "sts-template-drift,sts-retained-ordinal,pv-released-retained,pvc-resize-stuck,pod-node-missing"

// TestFix covers auditor run --fix on the real control plane (the PV controller, the
// StatefulSet controller, pvc-protection, the garbage collector and PodGC all run): dry
// runs change nothing; credentials without patch rights fail per action; an apply
// changes exactly what the printed plan names, one safety class at a time; stale
// preconditions skip; a reserved PV stays unbound until release-pv undoes it.
func TestFix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	env := &scenario.Env{CS: cs, Log: t.Logf}
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := controlplane.EnsureNamespace(ctx, cs, fixNS); err != nil {
		t.Fatal(err)
	}
	fixCleanup(t, cs)
	fixScenario(t, ctx, cs, env)

	t.Run("dry runs change no resourceVersion", func(t *testing.T) {
		before := fixVersions(t, ctx, cs)
		// The whole cluster, every class allowed: the API server checks every request.
		code, stdout, stderr := fixCLI("run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--config", "testdata/fix.yaml",
			"--fix", "--allow", "disruptive,destructive", "--dry-run=server")
		if code != cli.ExitOK {
			t.Fatalf("--dry-run=server: exit %d\n%s", code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &audit.Report{}); err != nil {
			t.Errorf("with -o json the report alone is on stdout: %v", err)
		}
		for _, want := range []string{"raise-claim-request  PersistentVolumeClaim/fix-e2e/data-fix-db-0", "reserve-pv  PersistentVolume/fix-spare-a",
			"disable-expansion  StorageClass/fix-local-path", "delete-claim-and-pv  PersistentVolume/fix-released",
			"rollout-restart  StatefulSet/fix-e2e/fix-cache", "delete-claim-and-pv  PersistentVolumeClaim/fix-e2e/data-fix-web-1"} {
			if !fixResultLine(stderr, "dry-run ok", want) {
				t.Errorf("no dry-run ok result for %s:\n%s", want, stderr)
			}
		}
		code, _, stderr = fixCLI("run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--config", "testdata/fix.yaml",
			"--fix", "--allow", "disruptive,destructive", "--dry-run=client")
		if code != cli.ExitOK || !strings.Contains(stderr, "Dry run (client): nothing was sent to the API server") {
			t.Fatalf("--dry-run=client: exit %d\n%s", code, stderr)
		}
		if changed := fixChanged(before, fixVersions(t, ctx, cs)); len(changed) > 0 {
			t.Errorf("dry runs changed %v", changed)
		}
		fixNoEvents(t, ctx, cs)
	})

	t.Run("credentials without patch rights fail per action", func(t *testing.T) {
		readonly := fixReadOnlyUser(t, ctx, cs)
		before := fixVersions(t, ctx, cs)
		// Through the CLI: the safe raise-claim-request actions fail, exit code 5.
		code, _, stderr := fixCLI("run", "--kubeconfig", readonly, "-o", "json", "--config", "testdata/fix.yaml",
			"-n", fixNS, "--rules", fixRules, "--fix", "--yes")
		if code != cli.ExitFixFailed || !strings.Contains(stderr, "at least one action failed") {
			t.Fatalf("exit %d, want %d:\n%s", code, cli.ExitFixFailed, stderr)
		}
		for _, claim := range []string{"data-fix-db-0", "data-fix-db-1"} {
			if !fixResultLine(stderr, "failed", "raise-claim-request  PersistentVolumeClaim/fix-e2e/"+claim) ||
				!strings.Contains(stderr, `cannot patch resource "persistentvolumeclaims"`) {
				t.Errorf("no clear failure for %s:\n%s", claim, stderr)
			}
		}
		// Through the applier: one action the user may do (patch StorageClasses) and one
		// it may not (patch PersistentVolumes) — the failure does not stop the other.
		rc := cp.RESTConfig()
		rc.Impersonate = rest.ImpersonationConfig{UserName: "fix-readonly"}
		limited, err := kubernetes.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		plan := fix.NewPlan(fixReport(t, "PersistentVolume/fix-rbac-pv", "StorageClass/fix-local-path-rbac"), fix.Policy{}, time.Now())
		if len(plan.Actions) != 2 {
			t.Fatalf("plan has %d actions, want 2", len(plan.Actions))
		}
		res := fixResults((&fix.Applier{Client: limited}).Apply(ctx, plan))
		if r := res["reserve-pv PersistentVolume/fix-rbac-pv"]; r.Outcome != fix.Failed ||
			!strings.Contains(r.Detail, `cannot patch resource "persistentvolumes"`) || !strings.Contains(r.Detail, "lack this permission") {
			t.Errorf("reserve-pv without patch rights: %+v", r)
		}
		if r := res["disable-expansion StorageClass/fix-local-path-rbac"]; r.Outcome != fix.Applied {
			t.Errorf("disable-expansion with patch rights: %+v", r)
		}
		changed := fixChanged(before, fixVersions(t, ctx, cs))
		if strings.Join(changed, ",") != "StorageClass/fix-local-path-rbac" {
			t.Errorf("changed %v, want only StorageClass/fix-local-path-rbac", changed)
		}
	})

	t.Run("apply changes exactly the printed plan, class by class", func(t *testing.T) {
		// A pod on a node that is now gone, without finalizers: PodGC removes such pods
		// after its ~40 s quarantine, so it is created just before it is fixed.
		fixOrphanPod(t, ctx, cs)
		args := []string{"run", "--kubeconfig", cp.Kubeconfig, "--config", "testdata/fix.yaml", "-n", fixNS, "--rules", fixRules, "--fix", "--yes"}

		// Safe only: the two claims below their template's size are raised, nothing else.
		before := fixVersions(t, ctx, cs)
		code, stdout, stderr := fixCLI(args...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
		}
		printed := fixPrinted(stdout)
		want := []string{"PersistentVolumeClaim/fix-e2e/data-fix-db-0", "PersistentVolumeClaim/fix-e2e/data-fix-db-1"}
		if strings.Join(printed.targets(), ",") != strings.Join(want, ",") {
			t.Errorf("allowed requests printed %v, want %v:\n%s", printed.targets(), want, stdout)
		}
		if changed := fixChanged(before, fixVersions(t, ctx, cs)); strings.Join(changed, ",") != strings.Join(want, ",") {
			t.Errorf("changed %v, want exactly the printed %v", changed, want)
		}
		for _, name := range []string{"data-fix-db-0", "data-fix-db-1"} {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			body := printed.bodies["PersistentVolumeClaim/fix-e2e/"+name]
			if got := pvc.Spec.Resources.Requests.Storage().String(); got != "2Gi" || !strings.Contains(body, `"storage":"2Gi"`) {
				t.Errorf("%s requests %s (printed %s)", name, got, body)
			}
			fixAnnotated(t, pvc.Annotations, body)
		}

		// Disruptive and destructive: the restart, the deletes; the raised claims are no
		// longer drifting, so they are not planned again.
		before = fixVersions(t, ctx, cs)
		code, stdout, stderr = fixCLI(append(args, "--allow", "disruptive,destructive")...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
		}
		printed = fixPrinted(stdout)
		want = []string{"PersistentVolume/fix-released", "PersistentVolume/fix-web-1", "PersistentVolumeClaim/fix-e2e/data-fix-web-1",
			"Pod/fix-e2e/fix-orphan", "StatefulSet/fix-e2e/fix-cache"}
		if strings.Join(printed.targets(), ",") != strings.Join(want, ",") {
			t.Errorf("allowed requests printed %v, want %v:\n%s", printed.targets(), want, stdout)
		}
		if n := strings.Count(stdout, "\napplied "); n != 4 || !strings.Contains(stdout, "Fix results: 4 applied.") {
			t.Errorf("want 4 applied actions:\n%s", stdout)
		}
		for _, c := range fixChanged(before, fixVersions(t, ctx, cs)) {
			// The restart's effect: the StatefulSet controller replaces fix-cache's pod.
			if !printed.has(c) && c != "Pod/fix-e2e/fix-cache-0" {
				t.Errorf("%s changed but is in no printed request", c)
			}
		}
		st, err := cs.AppsV1().StatefulSets(fixNS).Get(ctx, "fix-cache", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body := printed.bodies["StatefulSet/fix-e2e/fix-cache"]
		if at := st.Spec.Template.Annotations[audit.RestartedAtAnnotation]; at == "" || !strings.Contains(body, at) {
			t.Errorf("restartedAt %q, printed %s", at, body)
		}
		fixAnnotated(t, st.Annotations, body)
		// Deleted, and gone once the protection controllers released them.
		for _, ref := range []audit.ObjectRef{
			{Kind: "PersistentVolumeClaim", Namespace: fixNS, Name: "data-fix-web-1"},
			{Kind: "PersistentVolume", Name: "fix-web-1"},
			{Kind: "PersistentVolume", Name: "fix-released"},
			{Kind: "Pod", Namespace: fixNS, Name: "fix-orphan"},
		} {
			if err := env.WaitGone(ctx, ref.String(), fixGetter(cs, ref)); err != nil {
				t.Error(err)
			}
		}
		// Every applied action left its Event, on the object it changed first.
		for _, ref := range []string{"fix-e2e/fix-cache", "fix-e2e/data-fix-web-1", "default/fix-released", "fix-e2e/fix-orphan", "fix-e2e/data-fix-db-0"} {
			ns, name, _ := strings.Cut(ref, "/")
			if !fixEvent(t, ctx, cs, ns, name) {
				t.Errorf("no %s Event on %s", fix.EventReason, ref)
			}
		}
		// The live ordinal and the claims still used are untouched.
		if _, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Get(ctx, "data-fix-web-0", metav1.GetOptions{}); err != nil {
			t.Errorf("the live ordinal's claim: %v", err)
		}
	})

	t.Run("stale preconditions are skipped and a concurrent write gets 409", func(t *testing.T) {
		plan := fix.NewPlan(fixReport(t, "PersistentVolume/fix-stale-edit", "PersistentVolume/fix-stale-recreate"), fix.Policy{}, time.Now())
		if plan.Allowed() != 2 {
			t.Fatalf("plan allows %d actions, want 2", plan.Allowed())
		}
		// Between plan and apply: one PV is edited, the other deleted and re-created.
		edited, err := cs.CoreV1().PersistentVolumes().Patch(ctx, "fix-stale-edit", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"edited":"by-someone"}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, "fix-stale-recreate", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitGone(ctx, "PV fix-stale-recreate", fixGetter(cs, audit.ObjectRef{Kind: "PersistentVolume", Name: "fix-stale-recreate"})); err != nil {
			t.Fatal(err)
		}
		fixCreatePV(t, ctx, cs, fixSparePV("fix-stale-recreate"))
		if err := env.WaitPVPhase(ctx, "fix-stale-recreate", corev1.VolumeAvailable); err != nil {
			t.Fatal(err)
		}
		before := fixVersions(t, ctx, cs)
		res := fixResults((&fix.Applier{Client: cs}).Apply(ctx, plan))
		if r := res["reserve-pv PersistentVolume/fix-stale-edit"]; r.Outcome != fix.Skipped || !strings.Contains(r.Detail, "changed since the audit") {
			t.Errorf("edited PV: %+v", r)
		}
		if r := res["reserve-pv PersistentVolume/fix-stale-recreate"]; r.Outcome != fix.Skipped || !strings.Contains(r.Detail, "deleted and re-created") {
			t.Errorf("re-created PV: %+v", r)
		}
		if changed := fixChanged(before, fixVersions(t, ctx, cs)); len(changed) > 0 {
			t.Errorf("skipped actions changed %v", changed)
		}
		// The planned patch itself carries the audit's resourceVersion: sent after the
		// edit, the API server refuses it instead of overwriting.
		for _, a := range plan.Actions {
			if a.Target().Name == "fix-stale-edit" {
				_, err := cs.CoreV1().PersistentVolumes().Patch(ctx, "fix-stale-edit", types.MergePatchType, a.Requests[0].Body, metav1.PatchOptions{})
				if !apierrors.IsConflict(err) {
					t.Errorf("the planned patch after a concurrent edit (resourceVersion %s): %v, want 409 Conflict", edited.ResourceVersion, err)
				}
			}
		}
	})

	t.Run("a reserved PV stays unbound; release-pv undoes it", func(t *testing.T) {
		plan := fix.NewPlan(fixReport(t, "PersistentVolume/fix-spare-a", "StorageClass/fix-local-path"), fix.Policy{}, time.Now())
		var out bytes.Buffer
		if err := fix.PrintPlan(&out, plan); err != nil {
			t.Fatal(err)
		}
		printed := fixPrinted(out.String())
		res := fixResults((&fix.Applier{Client: cs}).Apply(ctx, plan))
		for k, r := range res {
			if r.Outcome != fix.Applied {
				t.Errorf("%s: %+v", k, r)
			}
		}
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, "fix-spare-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		placeholder := audit.ReservedNamespace + "/fix-spare-a"
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace+"/"+ref.Name != placeholder || ref.UID != "" || pv.Annotations[audit.ReservedForAnnotation] != placeholder {
			t.Errorf("PV fix-spare-a: claimRef %+v, annotations %v", pv.Spec.ClaimRef, pv.Annotations)
		}
		fixAnnotated(t, pv.Annotations, printed.bodies["PersistentVolume/fix-spare-a"])
		sc, err := cs.StorageV1().StorageClasses().Get(ctx, "fix-local-path", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.AllowVolumeExpansion == nil || *sc.AllowVolumeExpansion || sc.Annotations[audit.PreviousAllowVolumeExpansionAnnotation] != "true" {
			t.Errorf("StorageClass fix-local-path: allowVolumeExpansion %v, annotations %v", sc.AllowVolumeExpansion, sc.Annotations)
		}
		fixAnnotated(t, sc.Annotations, printed.bodies["StorageClass/fix-local-path"])
		for _, name := range []string{"fix-spare-a", "fix-local-path"} {
			if !fixEvent(t, ctx, cs, metav1.NamespaceDefault, name) {
				t.Errorf("no %s Event on %s", fix.EventReason, name)
			}
		}

		// A claim that matches only this PV: the PV controller (running) must not bind
		// it. Wait for the controller to have looked at the claim (its event), then check.
		taker := scenario.Claim(fixNS, "fix-taker", "fix-spare", "1Gi", "")
		taker.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"fix": "spare-a"}}
		if _, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Create(ctx, taker, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := retry(ctx, func() error {
			evs, err := cs.CoreV1().Events(fixNS).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=fix-taker"})
			if err != nil || len(evs.Items) == 0 {
				return fmt.Errorf("no event on claim fix-taker yet (%v)", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		pv, _ = cs.CoreV1().PersistentVolumes().Get(ctx, "fix-spare-a", metav1.GetOptions{})
		claim, _ := cs.CoreV1().PersistentVolumeClaims(fixNS).Get(ctx, "fix-taker", metav1.GetOptions{})
		if pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "fix-spare-a" || claim.Status.Phase != corev1.ClaimPending {
			t.Fatalf("the reserved PV was taken: PV %s claimRef %+v, claim %s", pv.Status.Phase, pv.Spec.ClaimRef, claim.Status.Phase)
		}

		code, stdout, stderr := fixCLI("fix", "release-pv", "fix-spare-a", "--kubeconfig", cp.Kubeconfig)
		if code != cli.ExitOK || !strings.Contains(stdout, "released from the placeholder claim") {
			t.Fatalf("release-pv: exit %d %s %s", code, stdout, stderr)
		}
		// Released, the PV is free again: the waiting claim gets it.
		if err := retry(ctx, func() error {
			c, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Get(ctx, "fix-taker", metav1.GetOptions{})
			if err != nil || c.Spec.VolumeName != "fix-spare-a" || c.Status.Phase != corev1.ClaimBound {
				return fmt.Errorf("claim fix-taker not bound to fix-spare-a (%v)", err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		pv, _ = cs.CoreV1().PersistentVolumes().Get(ctx, "fix-spare-a", metav1.GetOptions{})
		if _, ok := pv.Annotations[audit.ReservedForAnnotation]; ok {
			t.Errorf("release-pv left the annotation: %v", pv.Annotations)
		}
		code, _, stderr = fixCLI("fix", "release-pv", "fix-spare-a", "--kubeconfig", cp.Kubeconfig)
		if code != cli.ExitFixFailed || !strings.Contains(stderr, "was not reserved by storage-auditor") {
			t.Errorf("releasing a PV the auditor did not reserve: exit %d %s", code, stderr)
		}
	})
}

// fixScenario creates the findings the fixes act on (the orphan pod comes later).
func fixScenario(t *testing.T, ctx context.Context, cs kubernetes.Interface, env *scenario.Env) {
	t.Helper()
	retain := corev1.PersistentVolumeReclaimRetain
	immediate := storagev1.VolumeBindingImmediate
	for _, sc := range []*storagev1.StorageClass{
		// A CSI class that expands (no csi-resizer pod is visible, so nothing says it cannot).
		{ObjectMeta: metav1.ObjectMeta{Name: "fix-expand"}, Provisioner: scenario.Driver, ReclaimPolicy: &retain,
			VolumeBindingMode: &immediate, AllowVolumeExpansion: ptr.To(true)},
		// Static volumes held back for tests of the Available-PV fix.
		{ObjectMeta: metav1.ObjectMeta{Name: "fix-spare"}, Provisioner: "kubernetes.io/no-provisioner", ReclaimPolicy: &retain,
			VolumeBindingMode: &immediate},
		// local-path promising expansion: sc-expansion-unsupported.
		{ObjectMeta: metav1.ObjectMeta{Name: "fix-local-path"}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: ptr.To(true)},
		{ObjectMeta: metav1.ObjectMeta{Name: "fix-local-path-rbac"}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: ptr.To(true)},
	} {
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Available Retain PVs without claimRef: pv-available-unreserved.
	for _, name := range []string{"fix-spare-a", "fix-stale-edit", "fix-stale-recreate", "fix-rbac-pv"} {
		fixCreatePV(t, ctx, cs, fixSparePV(name))
	}
	bound := func(pv, claim, size string) {
		t.Helper()
		fixCreatePV(t, ctx, cs, scenario.CSIPV(pv, "fix-expand", "1Gi", corev1.PersistentVolumeReclaimRetain))
		if _, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Create(ctx, scenario.Claim(fixNS, claim, "fix-expand", size, pv), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitClaimBound(ctx, fixNS, claim); err != nil {
			t.Fatal(err)
		}
	}
	// sts-template-drift: claims of 1Gi under a 2Gi template (the re-created-StatefulSet
	// case); the class expands, so the fix raises them.
	bound("fix-db-0", "data-fix-db-0", "1Gi")
	bound("fix-db-1", "data-fix-db-1", "1Gi")
	fixCreateSTS(t, ctx, cs, scenario.StatefulSet(fixNS, "fix-db", 2, "fix-expand", "2Gi"))
	// sts-retained-ordinal: fix-web runs ordinal 0; ordinal 1's claim (and Retain PV) is
	// left over.
	bound("fix-web-0", "data-fix-web-0", "1Gi")
	bound("fix-web-1", "data-fix-web-1", "1Gi")
	fixCreateSTS(t, ctx, cs, scenario.StatefulSet(fixNS, "fix-web", 1, "fix-expand", "1Gi"))
	// pv-released-retained: a Retain PV whose claim was deleted.
	bound("fix-released", "fix-old", "1Gi")
	if err := cs.CoreV1().PersistentVolumeClaims(fixNS).Delete(ctx, "fix-old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitPVPhase(ctx, "fix-released", corev1.VolumeReleased); err != nil {
		t.Fatal(err)
	}
	// pvc-resize-stuck: fix-cache's claim was raised to 2Gi, the control plane is done and
	// the file system resize waits for the kubelet (FileSystemResizePending) while the pod
	// runs — the status a kubelet and resizer would write, written here (neither runs).
	bound("fix-cache-0", "data-fix-cache-0", "1Gi")
	fixCreateSTS(t, ctx, cs, scenario.StatefulSet(fixNS, "fix-cache", 1, "fix-expand", "1Gi"))
	if err := env.WaitPodCount(ctx, fixNS, "app=fix-cache", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Patch(ctx, "data-fix-cache-0", types.MergePatchType,
		[]byte(`{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error {
		pvc, err := cs.CoreV1().PersistentVolumeClaims(fixNS).Get(ctx, "data-fix-cache-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending,
			Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
			Message: "Waiting for user to (re-)start a pod to finish file system resize of volume on node."}}
		_, err = cs.CoreV1().PersistentVolumeClaims(fixNS).UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error {
		pod, err := cs.CoreV1().Pods(fixNS).Get(ctx, "fix-cache-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.StartTime = ptr.To(metav1.Now())
		_, err = cs.CoreV1().Pods(fixNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Let the StatefulSet controller settle, so the audit sees what the apply will see.
	for _, name := range []string{"fix-db", "fix-web", "fix-cache"} {
		if err := retry(ctx, func() error {
			st, err := cs.AppsV1().StatefulSets(fixNS).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if st.Status.ObservedGeneration != st.Generation || st.Status.Replicas != *st.Spec.Replicas {
				return fmt.Errorf("StatefulSet %s not settled: %+v", name, st.Status)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// fixOrphanPod creates pod fix-orphan on node fix-gone and deletes the node.
func fixOrphanPod(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fix-gone"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: fixNS, Name: "fix-orphan"},
		Spec:       corev1.PodSpec{NodeName: "fix-gone", Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if _, err := cs.CoreV1().Pods(fixNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, "fix-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fixGetter reads ref, for WaitGone.
func fixGetter(cs kubernetes.Interface, ref audit.ObjectRef) func(context.Context) error {
	return func(ctx context.Context) error {
		var err error
		switch ref.Kind {
		case "PersistentVolumeClaim":
			_, err = cs.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		case "PersistentVolume":
			_, err = cs.CoreV1().PersistentVolumes().Get(ctx, ref.Name, metav1.GetOptions{})
		case "Pod":
			_, err = cs.CoreV1().Pods(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		default:
			err = fmt.Errorf("fixGetter: kind %s", ref.Kind)
		}
		return err
	}
}

func fixSparePV(name string) *corev1.PersistentVolume {
	pv := scenario.CSIPV(name, "fix-spare", "1Gi", corev1.PersistentVolumeReclaimRetain)
	pv.Labels = map[string]string{"fix": strings.TrimPrefix(name, "fix-")}
	return pv
}

func fixCreatePV(t *testing.T, ctx context.Context, cs kubernetes.Interface, pv *corev1.PersistentVolume) {
	t.Helper()
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func fixCreateSTS(t *testing.T, ctx context.Context, cs kubernetes.Interface, st *appsv1.StatefulSet) {
	t.Helper()
	if _, err := cs.AppsV1().StatefulSets(st.Namespace).Create(ctx, st, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fixCleanup removes the test's cluster-scoped objects and its namespace when it ends.
func fixCleanup(t *testing.T, cs kubernetes.Interface) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, fixNS, metav1.DeleteOptions{})
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, pv := range pvs.Items {
				if strings.HasPrefix(pv.Name, "fix-") {
					_ = cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
				}
			}
		}
		for _, sc := range []string{"fix-expand", "fix-spare", "fix-local-path", "fix-local-path-rbac"} {
			_ = cs.StorageV1().StorageClasses().Delete(ctx, sc, metav1.DeleteOptions{})
		}
		_ = cs.CoreV1().Nodes().Delete(ctx, "fix-gone", metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, "fix-readonly", metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(ctx, "fix-readonly", metav1.DeleteOptions{})
	})
}

// fixCLI runs the auditor's CLI with stdin that is not a terminal.
func fixCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// fixReport audits the live cluster and keeps the findings on the named objects
// (Kind/namespace/name, or Kind/name).
func fixReport(t *testing.T, objects ...string) *audit.Report {
	t.Helper()
	return fixReportFrom(t, cp.Kubeconfig, objects...)
}

// fixReportFrom audits the cluster of kubeconfig and keeps the findings with fixes on the
// named objects, one each.
func fixReportFrom(t *testing.T, kubeconfig string, objects ...string) *audit.Report {
	t.Helper()
	rep := auditArgs(t, "run", "--kubeconfig", kubeconfig, "-o", "json", "--config", "testdata/fix.yaml")
	var kept []audit.Finding
	for _, f := range rep.Findings {
		for _, o := range objects {
			if f.Object.String() == o && len(f.Fixes) > 0 {
				kept = append(kept, f)
			}
		}
	}
	if len(kept) != len(objects) {
		t.Fatalf("found fixes for %d of %v", len(kept), objects)
	}
	rep.Findings = kept
	return rep
}

// fixVersions reads the resourceVersion of every object of the kinds fixes change or
// depend on, in the whole cluster.
func fixVersions(t *testing.T, ctx context.Context, cs kubernetes.Interface) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(kind snapshot.Kind, items []metav1.Object, err error) {
		if err != nil {
			t.Fatalf("listing %s: %v", kind, err)
		}
		for _, o := range items {
			out[audit.ObjectRef{Kind: string(kind), Namespace: o.GetNamespace(), Name: o.GetName()}.String()] = o.GetResourceVersion()
		}
	}
	list := func(n int, get func(i int) metav1.Object) []metav1.Object {
		objs := make([]metav1.Object, n)
		for i := range objs {
			objs[i] = get(i)
		}
		return objs
	}
	opts := metav1.ListOptions{}
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, opts)
	add(snapshot.PersistentVolumes, list(len(pvs.Items), func(i int) metav1.Object { return &pvs.Items[i] }), err)
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, opts)
	add(snapshot.PersistentVolumeClaims, list(len(pvcs.Items), func(i int) metav1.Object { return &pvcs.Items[i] }), err)
	scs, err := cs.StorageV1().StorageClasses().List(ctx, opts)
	add(snapshot.StorageClasses, list(len(scs.Items), func(i int) metav1.Object { return &scs.Items[i] }), err)
	pods, err := cs.CoreV1().Pods("").List(ctx, opts)
	add(snapshot.Pods, list(len(pods.Items), func(i int) metav1.Object { return &pods.Items[i] }), err)
	sts, err := cs.AppsV1().StatefulSets("").List(ctx, opts)
	add(snapshot.StatefulSets, list(len(sts.Items), func(i int) metav1.Object { return &sts.Items[i] }), err)
	deps, err := cs.AppsV1().Deployments("").List(ctx, opts)
	add(snapshot.Deployments, list(len(deps.Items), func(i int) metav1.Object { return &deps.Items[i] }), err)
	dss, err := cs.AppsV1().DaemonSets("").List(ctx, opts)
	add(snapshot.DaemonSets, list(len(dss.Items), func(i int) metav1.Object { return &dss.Items[i] }), err)
	return out
}

// fixChanged lists the objects whose resourceVersion differs, that appeared or that
// disappeared, sorted.
func fixChanged(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if after[k] != v {
			out = append(out, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fixPlan is what a printed plan says the allowed actions will send.
type fixPlan struct {
	bodies map[string]string // PATCH target -> body
	refs   map[string]bool   // every PATCH and DELETE target of an allowed action
}

var (
	fixActionRE  = regexp.MustCompile(`^#\d+ (apply|NOT ALLOWED) `)
	fixRequestRE = regexp.MustCompile(`^ {3}(?:then )?(PATCH|DELETE) (\S+) \(`)
)

func fixPrinted(text string) fixPlan {
	p := fixPlan{bodies: map[string]string{}, refs: map[string]bool{}}
	allowed, patch := false, ""
	for _, l := range strings.Split(text, "\n") {
		if m := fixActionRE.FindStringSubmatch(l); m != nil {
			allowed, patch = m[1] == "apply", ""
			continue
		}
		if m := fixRequestRE.FindStringSubmatch(l); m != nil && allowed {
			p.refs[m[2]] = true
			patch = ""
			if m[1] == "PATCH" {
				patch = m[2]
			}
			continue
		}
		if patch != "" && strings.HasPrefix(l, "     {") {
			p.bodies[patch] = strings.TrimSpace(l)
			patch = ""
		}
	}
	return p
}

func (p fixPlan) has(ref string) bool { return p.refs[ref] }

func (p fixPlan) targets() []string {
	var out []string
	for r := range p.refs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// fixResultLine reports whether the result table has a row with outcome and "action
// object" (the columns are padded).
func fixResultLine(text, outcome, actionObject string) bool {
	action, object, _ := strings.Cut(actionObject, "  ")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(outcome) + ` +\d+ +` + regexp.QuoteMeta(action) + ` +` + regexp.QuoteMeta(object) + ` `)
	return re.MatchString(text)
}

// fixAnnotated checks that an object carries the fixed-by annotation the printed body set.
func fixAnnotated(t *testing.T, annotations map[string]string, body string) {
	t.Helper()
	var doc struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Errorf("printed body %q: %v", body, err)
		return
	}
	want := doc.Metadata.Annotations[audit.FixedByAnnotation]
	if want == "" || annotations[audit.FixedByAnnotation] != want {
		t.Errorf("fixed-by annotation %q, printed %q", annotations[audit.FixedByAnnotation], want)
	}
}

// fixEvent reports whether a StorageAuditorFixed Event names object name in namespace ns.
func fixEvent(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name string) bool {
	t.Helper()
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + fix.EventReason + ",involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Source.Component == fix.FieldManager && strings.Contains(e.Message, "storage-auditor --fix") {
			return true
		}
	}
	return false
}

// fixNoEvents checks that no fix Event exists anywhere.
func fixNoEvents(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=" + fix.EventReason})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) > 0 {
		t.Errorf("%d %s Events after dry runs", len(evs.Items), fix.EventReason)
	}
}

func fixResults(rs []fix.Result) map[string]fix.Result {
	out := map[string]fix.Result{}
	for _, r := range rs {
		out[r.Action.Fix.Action+" "+r.Action.Target().ObjectRef.String()] = r
	}
	return out
}

// fixReadOnlyUser binds user fix-readonly to get and list on every kind the auditor
// reads, plus patch on StorageClasses only, and returns a kubeconfig that impersonates it.
func fixReadOnlyUser(t *testing.T, ctx context.Context, cs kubernetes.Interface) string {
	t.Helper()
	var rules []rbacv1.PolicyRule
	for _, k := range snapshot.AllKinds {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{apiGroup(k)}, Resources: []string{k.Resource()}, Verbs: []string{"get", "list"}})
	}
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"patch"}})
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "fix-readonly"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "fix-readonly"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "fix-readonly"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "fix-readonly"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = "fix-readonly"
	}
	p := filepath.Join(t.TempDir(), "kubeconfig-readonly")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	// RBAC is read from an informer: wait until the binding is in effect.
	rc, err := clientcmd.BuildConfigFromFlags("", p)
	if err != nil {
		t.Fatal(err)
	}
	limited, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error {
		_, err := limited.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p
}
