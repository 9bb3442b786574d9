package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestRulesLive produces, for every rule TestIncidents does not cover, the state it judges
// on the real control plane — by the controllers where they can (the PV controller
// releasing, failing and losing volumes, the quota controller counting), and for the one
// state only an absent external controller writes (a CSI resize marked infeasible), by
// writing the status the external-resizer would. Grace periods are zero
// (testdata/zero-grace.yaml): the objects are seconds old.
func TestRulesLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	const ns = "rules"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	auditNow := func(t *testing.T) *audit.Report {
		return auditArgs(t, "run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--config", "testdata/zero-grace.yaml")
	}
	mustCreatePV := func(t *testing.T, pv *corev1.PersistentVolume) {
		t.Helper()
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	boundClaim := func(t *testing.T, name, class, size string) {
		t.Helper()
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, scenario.Claim(ns, name, class, size, name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitClaimBound(ctx, ns, name); err != nil {
			t.Fatal(err)
		}
	}
	hostPathPV := func(name string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		pv := scenario.CSIPV(name, scenario.StandardClass, "1Gi", policy)
		pv.Spec.CSI = nil
		pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/srv/data/" + name}
		return pv
	}

	t.Run("pv-released-stuck: Delete volume nobody deletes", func(t *testing.T) {
		// A CSI volume with reclaim policy Delete: the PV controller leaves deletion to the
		// driver's external provisioner, which does not run here.
		mustCreatePV(t, scenario.CSIPV("rules-delete-me", scenario.StandardClass, "1Gi", corev1.PersistentVolumeReclaimDelete))
		boundClaim(t, "rules-delete-me", scenario.StandardClass, "1Gi")
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "rules-delete-me", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitPVPhase(ctx, "rules-delete-me", corev1.VolumeReleased); err != nil {
			t.Fatal(err)
		}
		require(t, auditNow(t), "pv-released-stuck", "", "rules-delete-me")
	})

	t.Run("pv-failed: in-tree deleter refuses", func(t *testing.T) {
		// The hostPath deleter only deletes under /tmp: the PV controller marks this Failed.
		mustCreatePV(t, hostPathPV("rules-failed", corev1.PersistentVolumeReclaimDelete))
		boundClaim(t, "rules-failed", scenario.StandardClass, "1Gi")
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "rules-failed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitPVPhase(ctx, "rules-failed", corev1.VolumeFailed); err != nil {
			t.Fatal(err)
		}
		f := require(t, auditNow(t), "pv-failed", "", "rules-failed")
		if f.Details["statusMessage"] == "" {
			t.Errorf("finding should carry the PV's status message: %+v", f.Details)
		}
	})

	t.Run("pvc-lost: bound volume deleted", func(t *testing.T) {
		mustCreatePV(t, scenario.CSIPV("rules-lost", scenario.RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain))
		boundClaim(t, "rules-lost", scenario.RetainClass, "1Gi")
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, "rules-lost", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// pv-protection keeps a bound PV; removing the finalizer is how people force it.
		if _, err := cs.CoreV1().PersistentVolumes().Patch(ctx, "rules-lost", types.JSONPatchType,
			[]byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := waitClaimPhase(ctx, env, ns, "rules-lost", corev1.ClaimLost); err != nil {
			t.Fatal(err)
		}
		require(t, auditNow(t), "pvc-lost", ns, "rules-lost")
	})

	t.Run("pvc-pending and sc-missing", func(t *testing.T) {
		for _, c := range []*corev1.PersistentVolumeClaim{
			scenario.Claim(ns, "rules-pending", scenario.StandardClass, "1Gi", ""),
			scenario.Claim(ns, "rules-typo", "standrad", "1Gi", ""),
			scenario.Claim(ns, "rules-static", "", "1Gi", ""),
		} {
			if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		rep := auditNow(t)
		require(t, rep, "pvc-pending", ns, "rules-pending")
		if f := require(t, rep, "sc-missing", ns, "rules-typo"); f.Severity != audit.Critical {
			t.Errorf("a Pending claim naming a missing class is critical: %+v", f)
		}
		forbid(t, rep, "sc-missing", ns, "rules-static") // storageClassName: "" is static binding
		forbid(t, rep, "sc-missing", ns, "rules-pending")
	})

	t.Run("sc-default-conflict", func(t *testing.T) {
		sc := &storagev1.StorageClass{
			ObjectMeta:  metav1.ObjectMeta{Name: "second-default", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: scenario.Driver,
		}
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cs.StorageV1().StorageClasses().Delete(context.Background(), "second-default", metav1.DeleteOptions{})
		}()
		rep := auditNow(t)
		require(t, rep, "sc-default-conflict", "", "second-default")
		require(t, rep, "sc-default-conflict", "", scenario.StandardClass)
	})

	t.Run("pvc-resize-stuck: resize marked infeasible", func(t *testing.T) {
		mustCreatePV(t, scenario.CSIPV("rules-infeasible", scenario.RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain))
		boundClaim(t, "rules-infeasible", scenario.RetainClass, "1Gi")
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "rules-infeasible", types.MergePatchType,
			[]byte(`{"spec":{"resources":{"requests":{"storage":"100Ti"}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		// What external-resizer writes when the driver answers OutOfRange: the API server
		// validates these fields, so the spelling is checked against 1.36.
		// Retried on conflict: the PV controller may still be writing the claim it bound.
		if err := retry(ctx, func() error {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "rules-infeasible", metav1.GetOptions{})
			if err != nil {
				return err
			}
			now := metav1.Now()
			pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("100Ti")}
			pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
				corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible}
			pvc.Status.Conditions = append(pvc.Status.Conditions, corev1.PersistentVolumeClaimCondition{
				Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, LastTransitionTime: now,
				Message: "resize volume \"rules-infeasible\" by resizer \"disk.csi.example.com\" failed: rpc error: code = OutOfRange desc = requested size exceeds the maximum disk size"})
			_, err = cs.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if f := require(t, auditNow(t), "pvc-resize-stuck", ns, "rules-infeasible"); f.Severity != audit.Critical {
			t.Errorf("an infeasible resize is terminal, so critical: %+v", f)
		}
	})

	t.Run("pvc-unused", func(t *testing.T) {
		mustCreatePV(t, scenario.CSIPV("rules-unused", scenario.RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain))
		boundClaim(t, "rules-unused", scenario.RetainClass, "1Gi")
		require(t, auditNow(t), "pvc-unused", ns, "rules-unused")
	})

	node := "rules-node"
	t.Run("csinode-driver-missing", func(t *testing.T) {
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.StorageV1().CSINodes().Create(ctx, &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCreatePV(t, scenario.CSIPV("rules-nodriver", scenario.RetainClass, "1Gi", corev1.PersistentVolumeReclaimRetain))
		boundClaim(t, "rules-nodriver", scenario.RetainClass, "1Gi")
		createPod(t, ctx, env, ns, "rules-user", node, "rules-nodriver", nil)
		rep := auditNow(t)
		require(t, rep, "csinode-driver-missing", "", node)
		forbid(t, rep, "pvc-unused", ns, "rules-nodriver")
	})

	t.Run("pod-terminating-stuck", func(t *testing.T) {
		createPod(t, ctx, env, ns, "rules-stuck", node, "", []string{"storage-auditor.dev/test-hold"})
		t.Cleanup(func() { _ = env.ReleaseFinalizer(context.Background(), ns, "rules-stuck") })
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "rules-stuck", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		require(t, auditNow(t), "pod-terminating-stuck", ns, "rules-stuck")
	})

	t.Run("va-orphaned", func(t *testing.T) {
		va := &storagev1.VolumeAttachment{
			ObjectMeta: metav1.ObjectMeta{Name: "csi-rules-orphan"},
			Spec: storagev1.VolumeAttachmentSpec{Attacher: scenario.Driver, NodeName: node,
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("rules-pv-deleted-long-ago")}},
		}
		if _, err := cs.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		require(t, auditNow(t), "va-orphaned", "", "csi-rules-orphan")
	})

	t.Run("quota-storage-exhausted", func(t *testing.T) {
		const qns = "rules-quota"
		if err := controlplane.EnsureNamespace(ctx, cs, qns); err != nil {
			t.Fatal(err)
		}
		q := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: qns, Name: "storage"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: resource.MustParse("2Gi")}},
		}
		if _, err := cs.CoreV1().ResourceQuotas(qns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			c := scenario.Claim(qns, fmt.Sprintf("q-%d", i), scenario.StandardClass, "1Gi", "")
			// Admission refuses claims until the quota controller has computed the quota.
			if err := retry(ctx, func() error {
				_, err := cs.CoreV1().PersistentVolumeClaims(qns).Create(ctx, c, metav1.CreateOptions{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := retry(ctx, func() error {
			q, err := cs.CoreV1().ResourceQuotas(qns).Get(ctx, "storage", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if used := q.Status.Used[corev1.ResourceRequestsStorage]; used.Cmp(resource.MustParse("2Gi")) != 0 {
				return fmt.Errorf("quota used %s", used.String())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if f := require(t, auditNow(t), "quota-storage-exhausted", qns, "storage"); f.Severity != audit.Critical {
			t.Errorf("2Gi of 2Gi used is critical: %+v", f)
		}
	})
}

func createPod(t *testing.T, ctx context.Context, env *scenario.Env, ns, name, node, claim string, finalizers []string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if claim != "" {
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	}
	if _, err := env.CS.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitClaimPhase(ctx context.Context, env *scenario.Env, ns, name string, phase corev1.PersistentVolumeClaimPhase) error {
	return retry(ctx, func() error {
		pvc, err := env.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pvc.Status.Phase != phase {
			return fmt.Errorf("claim %s/%s is %s, want %s", ns, name, pvc.Status.Phase, phase)
		}
		return nil
	})
}

// retry calls f every 200ms for up to a minute until it succeeds, returning its last error.
func retry(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
