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
// filled the cluster, and fails if there is too little to page through.
func TestPaginationReadsEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := cp.Clientset()
	whole, err := live.Load(ctx, cs, "test", live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	paged, err := live.Load(ctx, cs, "test", live.Options{PageSize: 1, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b := whole.Counts(), paged.Counts()
	total := 0
	for _, k := range snapshot.AllKinds {
		// Events may be added between the two reads; everything else is settled.
		if k != snapshot.Events && a[k] != b[k] {
			t.Errorf("%s: %d objects with the default page size, %d with pages of 1", k, a[k], b[k])
		}
		total += b[k]
	}
	if b[snapshot.Pods] < 2 || b[snapshot.PersistentVolumes] < 2 {
		t.Fatalf("pagination needs several objects per kind; got %s", paged)
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
