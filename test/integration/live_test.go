package integration

import (
	"context"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
)

// TestPaginationReadsEverything reads the cluster with pages of one object, so every LIST
// follows continue tokens, and compares with the default page size. It relies on
// TestIncidents (an earlier file: go test runs a package's tests in file order) having
// filled the cluster, and fails if there is too little to page through. Earlier tests'
// clean-ups (namespaces terminating, PodGC) may still change the cluster: a comparison
// counts only when the default-size reads before and after the paged one agree.
func TestPaginationReadsEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset()
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
