package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestPaginationReadsEverything reads the cluster with pages of one object, so every LIST
// follows continue tokens, and compares with the default page size. It adds three pods
// and three PVs of its own, so that it has something to page through when run alone;
// in the full run, earlier tests have filled the cluster further. Earlier tests'
// clean-ups (namespaces terminating, PodGC) may still change the cluster: a comparison
// counts only when the default-size reads before and after the paged one agree.
func TestPaginationReadsEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	const ns = "paging"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	env := &scenario.Env{CS: cs, Log: t.Logf}
	for _, name := range []string{"paging-a", "paging-b", "paging-c"} {
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, scenario.CSIPV(name, "", "1Gi", corev1.PersistentVolumeReclaimRetain), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		createPod(t, ctx, env, ns, name, "", "", nil)
		// Gone before the next test reads the cluster.
		t.Cleanup(func() {
			bg := context.Background()
			_ = cs.CoreV1().Pods(ns).Delete(bg, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
			_ = cs.CoreV1().PersistentVolumes().Delete(bg, name, metav1.DeleteOptions{})
			if err := env.WaitGone(bg, "PV "+name, func(ctx context.Context) error {
				_, err := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
				return err
			}); err != nil {
				t.Error(err)
			}
		})
	}
	counts := func(opts live.Options) map[snapshot.Kind]int {
		t.Helper()
		s, err := live.Load(ctx, cs, "test", opts)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Counts()
		delete(c, snapshot.Events) // events come and go all the time
		return c
	}
	same := func(a, b map[snapshot.Kind]int) bool {
		for _, k := range snapshot.AllKinds {
			if a[k] != b[k] {
				return false
			}
		}
		return true
	}
	var before, paged, after map[snapshot.Kind]int
	for attempt := 0; ; attempt++ {
		before = counts(live.Options{})
		paged = counts(live.Options{PageSize: 1, Parallel: 2})
		after = counts(live.Options{})
		if same(before, after) || attempt == 10 {
			break
		}
		time.Sleep(2 * time.Second) // the cluster is still settling
	}
	if !same(before, after) {
		t.Fatalf("the cluster did not settle for the length of three reads: %v then %v", before, after)
	}
	total := 0
	for _, k := range snapshot.AllKinds {
		if before[k] != paged[k] {
			t.Errorf("%s: %d objects with the default page size, %d with pages of 1", k, before[k], paged[k])
		}
		total += paged[k]
	}
	if paged[snapshot.Pods] < 2 || paged[snapshot.PersistentVolumes] < 2 {
		t.Fatalf("pagination needs several objects per kind; got %v", paged)
	}
	t.Logf("read %d objects with pages of one", total)
}

// TestNamespaceFlag: -n limits namespaced kinds and findings to the namespaces given;
// cluster-scoped findings are kept only when they belong there (PVs by their claim).
func TestNamespaceFlag(t *testing.T) {
	rep := auditArgs(t, "run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "-n", "a-retain", "--config", "testdata/zero-grace.yaml")
	if len(rep.Findings) == 0 {
		t.Skip("run with the incident tests: the a-retain namespace is empty")
	}
	for _, f := range rep.Findings {
		if f.Object.Namespace != "" && f.Object.Namespace != "a-retain" {
			t.Errorf("-n a-retain reported %s", f.Object)
		}
	}
}
