package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestResizeStatefulSet runs `auditor resize statefulset` against the real control plane:
// the StatefulSet controller creates and adopts pods, the garbage collector performs the
// orphan deletion, the API server refuses what it refuses. Only the CSI external-resizer
// is played by the test (scenario.FakeResizer), as no driver runs here.
//
// Cluster-scoped objects (the class, the resizer Lease, PVs, the admission policy) are
// removed in t.Cleanup, and the namespaces with them, so the tests after this one audit a
// cluster without them: while the class exists, sc-expansion-unsupported would report it
// whenever its controller pod is visible and the Lease is not.
func TestResizeStatefulSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.ResizableClass(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.StorageV1().StorageClasses().Delete(context.Background(), scenario.ResizeClass, metav1.DeleteOptions{})
		_ = cs.CoordinationV1().Leases("kube-system").Delete(context.Background(), snapshot.ResizerLeaseName(scenario.ResizeDriver), metav1.DeleteOptions{})
	})
	// The namespaces go first (cleanups run last-in first-out), all at once: deleting one
	// takes the namespace controller about ten seconds.
	var namespaces []string
	t.Cleanup(func() { removeNamespaces(t, namespaces) })

	// newStatefulSet creates StatefulSet name in a fresh namespace ns on 1Gi volumes made
	// by pv, Helm-labelled so the follow-up names the release; cleanup removes both.
	newStatefulSet := func(t *testing.T, ns, name, class string, pv func(name, size string) *corev1.PersistentVolume) *appsv1.StatefulSet {
		t.Helper()
		if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
			t.Fatal(err)
		}
		namespaces = append(namespaces, ns)
		st := scenario.StatefulSet(ns, name, 2, class, "1Gi")
		st.Labels = map[string]string{"app": name, "app.kubernetes.io/managed-by": "Helm"}
		st.Annotations = map[string]string{"meta.helm.sh/release-name": name + "-release", "meta.helm.sh/release-namespace": ns}
		if err := env.StatefulSetOnVolumes(ctx, st, func(n string) *corev1.PersistentVolume { return pv(n, "1Gi") }); err != nil {
			t.Fatal(err)
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}
	resize := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(append([]string{"resize", "statefulset", "--kubeconfig", cp.Kubeconfig}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}

	t.Run("success: claims grow, orphan delete, re-create, adoption", func(t *testing.T) {
		const ns = "resize-ok"
		orig := newStatefulSet(t, ns, "web", scenario.ResizeClass, scenario.ResizablePV)
		podUIDs := podControllers(t, ns, "app=web", orig.UID)

		// The driver's controller is visible and runs no csi-resizer, and there is no
		// resizer Lease: the verdict of sc-expansion-unsupported refuses the resize.
		if err := env.CSIController(ctx, ns, scenario.ResizeDriver); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := resize(ns+"/web", "--size", "2Gi", "--yes")
		if code != cli.ExitError || !strings.Contains(stderr, "has no external-resizer") {
			t.Fatalf("without a resizer: exit %d, stderr %s; want 2 and the reason", code, stderr)
		}
		if err := env.ResizerLease(ctx, scenario.ResizeDriver); err != nil {
			t.Fatal(err)
		}

		// --dry-run prints the steps and writes nothing.
		before := resourceVersions(t, ns, "web")
		code, stdout, stderr := resize(ns+"/web", "--size", "2Gi", "--dry-run")
		if code != cli.ExitOK || !strings.Contains(stdout, "Steps:") || !strings.Contains(stdout, "propagationPolicy Orphan") ||
			!strings.Contains(stdout, "Dry run: nothing was changed.") {
			t.Fatalf("--dry-run: exit %d\n%s%s", code, stdout, stderr)
		}
		if after := resourceVersions(t, ns, "web"); !equalMaps(before, after) {
			t.Errorf("--dry-run changed resourceVersions:\nbefore %v\nafter  %v", before, after)
		}

		// Without a terminal, --yes is required.
		if code, _, stderr := resize(ns+"/web", "--size", "2Gi"); code != cli.ExitError || !strings.Contains(stderr, "--yes") {
			t.Errorf("no terminal, no --yes: exit %d, %s", code, stderr)
		}

		resizerCtx, stopResizer := context.WithCancel(ctx)
		resizerErr := env.FakeResizer(resizerCtx, ns)
		code, stdout, stderr = resize(ns+"/web", "--size", "2Gi", "--yes", "--backup-dir", t.TempDir(), "--timeout", "2m")
		stopResizer()
		if err := <-resizerErr; err != nil {
			t.Errorf("fake resizer: %v", err)
		}
		t.Logf("resize output:\n%s", stdout)
		if code != cli.ExitOK {
			t.Fatalf("resize: exit %d\n%s%s", code, stdout, stderr)
		}
		for _, want := range []string{"data-web-0: 1Gi → 2Gi … done", "data-web-1: 1Gi → 2Gi … done", "Done: StatefulSet resize-ok/web was re-created",
			`Helm: release "web-release"`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cur.UID == orig.UID {
			t.Fatal("the StatefulSet was not re-created")
		}
		assertSameExceptSize(t, orig, cur, "2Gi")
		// The same pods (same UIDs: orphaned by the garbage collector, not deleted), now
		// controlled by the new StatefulSet.
		if got := podControllers(t, ns, "app=web", cur.UID); !equalMaps(got, podUIDs) {
			t.Errorf("pods after the resize %v, want the same pods %v adopted", got, podUIDs)
		}
		for i := 0; i < 2; i++ {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-web-%d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "2Gi" {
				t.Errorf("claim %s requests %s, want 2Gi", pvc.Name, q.String())
			}
		}
	})

	t.Run("refusal: local-path class", func(t *testing.T) {
		const ns = "resize-local"
		hostPath := func(name, size string) *corev1.PersistentVolume {
			pv := scenario.CSIPV(name, scenario.LocalPathClass, size, corev1.PersistentVolumeReclaimRetain)
			pv.Spec.CSI = nil
			pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/opt/local-path-provisioner/" + name}
			return pv
		}
		orig := newStatefulSet(t, ns, "cache", scenario.LocalPathClass, hostPath)
		before := resourceVersions(t, ns, "cache")
		code, stdout, stderr := resize(ns+"/cache", "--size", "2Gi", "--yes")
		if code != cli.ExitError || !strings.Contains(stderr, "refused, nothing changed") || !strings.Contains(stderr, "rancher.io/local-path") {
			t.Fatalf("exit %d, stderr %q, stdout %q; want 2 naming the provisioner", code, stderr, stdout)
		}
		after := resourceVersions(t, ns, "cache")
		delete(before, "StatefulSet/cache") // the controller may still write its status
		delete(after, "StatefulSet/cache")
		if !equalMaps(before, after) {
			t.Errorf("a refused resize changed objects:\nbefore %v\nafter  %v", before, after)
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "cache", metav1.GetOptions{})
		if err != nil || cur.UID != orig.UID || cur.Generation != orig.Generation {
			t.Errorf("the StatefulSet was touched: %v", err)
		}
	})

	t.Run("failure after deletion restores the original", func(t *testing.T) {
		const ns, policy = "resize-fail", "resize-fail-refuse-2gi"
		orig := newStatefulSet(t, ns, "db", scenario.ResizeClass, scenario.ResizablePV)
		if err := env.ResizerLease(ctx, scenario.ResizeDriver); err != nil {
			t.Fatal(err)
		}
		// A real admission error for the resized StatefulSet only: the original (1Gi) is
		// still accepted.
		if err := env.RefuseStatefulSetSize(ctx, policy, ns, "2Gi"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.DeleteRefusal(context.Background(), policy) })
		podUIDs := podControllers(t, ns, "app=db", orig.UID)

		resizerCtx, stopResizer := context.WithCancel(ctx)
		resizerErr := env.FakeResizer(resizerCtx, ns)
		backups := t.TempDir()
		code, stdout, stderr := resize(ns+"/db", "--size", "2Gi", "--yes", "--backup-dir", backups, "--timeout", "2m")
		stopResizer()
		if err := <-resizerErr; err != nil {
			t.Errorf("fake resizer: %v", err)
		}
		t.Logf("resize output:\n%s%s", stdout, stderr)
		if code != cli.ExitResizeRestored || !strings.Contains(stderr, "storage-auditor test policy") ||
			!strings.Contains(stderr, "the original StatefulSet was re-created") {
			t.Fatalf("exit %d, want %d with both the refusal and the restoration\n%s", code, cli.ExitResizeRestored, stderr)
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the original StatefulSet is not back: %v", err)
		}
		if cur.UID == orig.UID {
			t.Fatal("the StatefulSet was never deleted: the failure was not after the deletion")
		}
		assertSameExceptSize(t, orig, cur, "1Gi")
		if got := podControllers(t, ns, "app=db", cur.UID); !equalMaps(got, podUIDs) {
			t.Errorf("pods after the restore %v, want the same pods %v adopted by the restored StatefulSet", got, podUIDs)
		}
	})
}

// assertSameExceptSize compares the re-created StatefulSet with the original: the same
// selector, serviceName, podManagementPolicy, labels, annotations, pod template, and the
// volumeClaimTemplate at size.
func assertSameExceptSize(t *testing.T, orig, cur *appsv1.StatefulSet, size string) {
	t.Helper()
	if q := cur.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != size {
		t.Errorf("template requests %s, want %s", q.String(), size)
	}
	checks := []struct {
		what      string
		got, want string
	}{
		{"selector", metav1.FormatLabelSelector(cur.Spec.Selector), metav1.FormatLabelSelector(orig.Spec.Selector)},
		{"serviceName", cur.Spec.ServiceName, orig.Spec.ServiceName},
		{"podManagementPolicy", string(cur.Spec.PodManagementPolicy), string(orig.Spec.PodManagementPolicy)},
		{"labels", fmt.Sprint(cur.Labels), fmt.Sprint(orig.Labels)},
		{"annotations", fmt.Sprint(cur.Annotations), fmt.Sprint(orig.Annotations)},
		{"replicas", fmt.Sprint(*cur.Spec.Replicas), fmt.Sprint(*orig.Spec.Replicas)},
		{"pod template", cur.Spec.Template.String(), orig.Spec.Template.String()},
		{"retention policy", cur.Spec.PersistentVolumeClaimRetentionPolicy.String(), orig.Spec.PersistentVolumeClaimRetentionPolicy.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s changed: %s, was %s", c.what, c.got, c.want)
		}
	}
}

// podControllers waits until every pod matching selector in ns is controlled by uid and
// returns pod name → pod UID.
func podControllers(t *testing.T, ns, selector string, uid types.UID) map[string]string {
	t.Helper()
	var out map[string]string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cp.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		out = map[string]string{}
		for i := range pods.Items {
			p := &pods.Items[i]
			ref := metav1.GetControllerOf(p)
			if ref == nil || ref.UID != uid {
				return false, nil
			}
			out[p.Name] = string(p.UID)
		}
		return len(out) > 0, nil
	})
	if err != nil {
		t.Fatalf("pods %s in %s controlled by %s: %v (have %v)", selector, ns, uid, err, out)
	}
	return out
}

// resourceVersions returns kind/name → resourceVersion of StatefulSet name, the claims
// and pods of ns, and the claims' PVs.
func resourceVersions(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	cs := cp.Clientset()
	out := map[string]string{}
	st, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out["StatefulSet/"+name] = st.ResourceVersion
	claims, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claims.Items {
		out["PersistentVolumeClaim/"+c.Name] = c.ResourceVersion
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out["PersistentVolume/"+pv.Name] = pv.ResourceVersion
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		out["Pod/"+p.Name] = p.ResourceVersion
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// removeNamespaces deletes the namespaces and the PVs their claims were bound to, and
// waits until all are gone, so later tests audit a cluster without them.
func removeNamespaces(t *testing.T, namespaces []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	var pvs []string
	for _, ns := range namespaces {
		if claims, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, c := range claims.Items {
				if c.Spec.VolumeName != "" {
					pvs = append(pvs, c.Spec.VolumeName)
				}
			}
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	}
	for _, pv := range pvs {
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting PV %s: %v", pv, err)
		}
	}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, ns := range namespaces {
			if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		for _, pv := range pvs {
			if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("namespaces %v or their PVs are still there: %v", namespaces, err)
	}
}
