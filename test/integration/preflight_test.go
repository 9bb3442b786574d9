package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/preflight"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// The preflight tests' own classes, driver and nodes: nothing else in the shared cluster
// uses them, so other tests' findings and preflight's answers cannot mix. Everything
// cluster-scoped they create is deleted when they end.
const (
	preflightDriver       = "preflight.csi.example.com"
	preflightClass        = "preflight-disk" // CSI, Retain, priced at 0.25 EUR/GiB
	preflightExpandDriver = "resize.preflight.example.com"
	preflightExpandClass  = "preflight-expandable" // CSI, allowVolumeExpansion, resizer Lease
	preflightLocalClass   = "preflight-local-path" // rancher.io/local-path: never expands
	preflightPrice        = 0.25                   // testdata/preflight.yaml
	preflightAttachLimit  = 8
)

// runPreflight runs `auditor preflight …` against the test cluster through the real CLI
// and returns the exit code and the JSON result.
func runPreflight(t *testing.T, args ...string) (int, *preflight.Result) {
	t.Helper()
	args = append(append([]string{"preflight"}, args...), "--kubeconfig", cp.Kubeconfig, "--config", "testdata/preflight.yaml", "-o", "json")
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errb)
	var res preflight.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("auditor %s: exit %d, no result (%v): %s%s", strings.Join(args, " "), code, err, out.String(), errb.String())
	}
	return code, &res
}

// criticals lists "check Kind/ns/name" of the critical checks, sorted.
func criticals(res *preflight.Result) []string {
	var out []string
	for _, c := range res.Checks {
		if c.Severity == audit.Critical {
			out = append(out, c.Check+" "+c.Object.String())
		}
	}
	sort.Strings(out)
	return out
}

func describeChecks(res *preflight.Result) string {
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", c.Severity, c.Check, c.Object, c.Message)
	}
	return b.String()
}

// cleanup registers deletes of cluster-scoped objects for the end of the test (errors other
// than NotFound are reported, not fatal: the next delete must still run).
type cleanup struct {
	t  *testing.T
	cs kubernetes.Interface
}

func (c cleanup) add(what string, del func(ctx context.Context) error) {
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := del(ctx); err != nil && !apierrors.IsNotFound(err) {
			c.t.Errorf("cleanup: deleting %s: %v", what, err)
		}
	})
}

func (c cleanup) pv(name string) {
	c.add("PV "+name, func(ctx context.Context) error {
		return c.cs.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// namespace deletes a test namespace at the end and waits (best effort) until it is gone,
// so its claims no longer name classes the cleanup deletes.
func (c cleanup) namespace(env *scenario.Env, ns string) {
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			c.t.Errorf("cleanup: deleting namespace %s: %v", ns, err)
			return
		}
		if err := env.WaitGone(ctx, "namespace "+ns, func(ctx context.Context) error {
			_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err
		}); err != nil {
			c.t.Logf("cleanup: %v", err)
		}
	})
}

// preflightPV is a PV of driver pre-bound to claim ns/claim (claimRef without UID), so
// each claim of the StatefulSet gets the volume named after it.
func preflightPV(name, class, driver, size, ns, claim string) *corev1.PersistentVolume {
	pv := scenario.CSIPV(name, class, size, corev1.PersistentVolumeReclaimRetain)
	pv.Spec.CSI.Driver = driver
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: claim}
	return pv
}

// TestPreflightScaleLive is the scale-up acceptance: StatefulSet db (templates data 1Gi and
// logs 2Gi) runs 8 replicas, is scaled to 2 (whenScaled: Retain keeps data-db-2..7), its
// logs-db-2..7 claims are deleted and two of their Retain volumes "freed" (Available), and
// both nodes that register the driver have 7 of their 8 attach slots in use. Preflight to 8
// must say no-go and list exactly the six retained claims, the two PVs that would bind and
// the attach shortfall; after the clean-up it must say go. The cost delta is the fresh
// capacity times the price: 4 x 2Gi before the clean-up, 6 x 1Gi + 6 x 2Gi after.
func TestPreflightScaleLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	clean := cleanup{t, cs}
	const ns = "preflight-scale"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the namespace goes before the cluster-scoped
	// objects its claims name.
	clean.add("StorageClass "+preflightClass, func(ctx context.Context) error {
		return cs.StorageV1().StorageClasses().Delete(ctx, preflightClass, metav1.DeleteOptions{})
	})
	retain := corev1.PersistentVolumeReclaimRetain
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: preflightClass}, Provisioner: preflightDriver,
		ReclaimPolicy: &retain, VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate), AllowVolumeExpansion: ptr.To(true)}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"preflight-node-1", "preflight-node-2"}
	for _, n := range nodes {
		n := n
		clean.add("node "+n, func(ctx context.Context) error { return cs.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{}) })
		clean.add("CSINode "+n, func(ctx context.Context) error {
			return cs.StorageV1().CSINodes().Delete(ctx, n, metav1.DeleteOptions{})
		})
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"kubernetes.io/hostname": n}}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		csiNode := &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
			Name: preflightDriver, NodeID: n, Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To(int32(preflightAttachLimit))}}}}}
		if _, err := cs.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 8; i++ {
		for _, v := range []struct{ tpl, size string }{{"data", "1Gi"}, {"logs", "2Gi"}} {
			name := fmt.Sprintf("preflight-%s-%d", v.tpl, i)
			clean.pv(name)
			pv := preflightPV(name, preflightClass, preflightDriver, v.size, ns, fmt.Sprintf("%s-db-%d", v.tpl, i))
			if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clean.namespace(env, ns)

	sts := scenario.StatefulSet(ns, "db", 8, preflightClass, "1Gi")
	logs := sts.Spec.VolumeClaimTemplates[0].DeepCopy()
	logs.Name = "logs"
	logs.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, *logs)
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		for _, tpl := range []string{"data", "logs"} {
			if _, err := env.WaitClaimBound(ctx, ns, fmt.Sprintf("%s-db-%d", tpl, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := env.Scale(ctx, ns, "db", 2); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitPodCount(ctx, ns, "app=db", 2); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 8; i++ {
		claim, pv := fmt.Sprintf("logs-db-%d", i), fmt.Sprintf("preflight-logs-%d", i)
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitPVPhase(ctx, pv, corev1.VolumeReleased); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			if err := env.FreeReleasedPV(ctx, pv); err != nil { // the well-meant mistake
				t.Fatal(err)
			}
			continue
		}
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Fill the nodes: 7 of 8 slots in use on each (volumes of other workloads).
	var fillers []string
	for _, n := range nodes {
		for k := 0; k < preflightAttachLimit-1; k++ {
			name := fmt.Sprintf("csi-preflight-fill-%s-%d", n, k)
			fillers = append(fillers, name)
			clean.add("VolumeAttachment "+name, func(ctx context.Context) error {
				return cs.StorageV1().VolumeAttachments().Delete(ctx, name, metav1.DeleteOptions{})
			})
			va := &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.VolumeAttachmentSpec{
				Attacher: preflightDriver, NodeName: n,
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(fmt.Sprintf("preflight-other-%s-%d", n, k))}}}
			if _, err := cs.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	code, res := runPreflight(t, "scale", "statefulset", ns+"/db", "--replicas", "8")
	if code != 4 || res.Verdict != preflight.NoGo {
		t.Fatalf("preflight before the clean-up: exit %d, verdict %s, want 4 and no-go:\n%s", code, res.Verdict, describeChecks(res))
	}
	want := []string{"attach-headroom CSIDriver/" + preflightDriver,
		"stale-pv-bind PersistentVolume/preflight-logs-2", "stale-pv-bind PersistentVolume/preflight-logs-3"}
	for i := 2; i < 8; i++ {
		want = append(want, fmt.Sprintf("stale-pvc-reuse PersistentVolumeClaim/%s/data-db-%d", ns, i))
	}
	sort.Strings(want)
	if got := criticals(res); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("critical checks:\n%s\nwant exactly:\n%s\nall checks:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), describeChecks(res))
	}
	for _, c := range res.Checks {
		if c.Check == preflight.CheckAttachHeadroom && c.Severity == audit.Critical &&
			(!strings.Contains(c.Message, "the 6 new pod(s) need 12 volume(s)") || !strings.Contains(c.Message, "10 attach slot(s) short")) {
			t.Errorf("the attach shortfall should be stated: %s", c.Message)
		}
	}
	if got, want := res.CostDelta["EUR"], 4*2*preflightPrice; got != want {
		t.Errorf("cost delta %v EUR, want the 4 fresh 2Gi logs volumes x %v = %v", got, preflightPrice, want)
	}

	// The clean-up: delete the retained claims and their volumes, the freed volumes, and
	// the attachments that filled the nodes.
	for i := 2; i < 8; i++ {
		claim := fmt.Sprintf("data-db-%d", i)
		if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitGone(ctx, "claim "+claim, func(ctx context.Context) error {
			_, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var gone []string
	for i := 2; i < 8; i++ {
		gone = append(gone, fmt.Sprintf("preflight-data-%d", i))
	}
	gone = append(gone, "preflight-logs-2", "preflight-logs-3")
	for _, pv := range gone {
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	for _, va := range fillers {
		if err := cs.StorageV1().VolumeAttachments().Delete(ctx, va, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pv := range gone {
		if err := env.WaitGone(ctx, "PV "+pv, func(ctx context.Context) error {
			_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	code, res = runPreflight(t, "scale", "statefulset", ns+"/db", "--replicas", "8")
	if code != 0 || res.Verdict != preflight.Go {
		t.Fatalf("preflight after the clean-up: exit %d, verdict %s, want 0 and go:\n%s", code, res.Verdict, describeChecks(res))
	}
	if got, want := res.CostDelta["EUR"], (6*1+6*2)*preflightPrice; got != want {
		t.Errorf("cost delta %v EUR, want 12 fresh volumes (6 x 1Gi + 6 x 2Gi) x %v = %v", got, preflightPrice, want)
	}
}

// TestPreflightResizeLive: resizing a claim of a local-path class is no-go and says why;
// on a CSI class that allows expansion and whose driver's external-resizer holds its
// Lease in kube-system it is go, for a claim and for a StatefulSet's claims; the cost delta
// is the added capacity times the price.
func TestPreflightResizeLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	clean := cleanup{t, cs}
	const ns = "preflight-resize"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	del := corev1.PersistentVolumeReclaimDelete
	retain := corev1.PersistentVolumeReclaimRetain
	classes := []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: preflightLocalClass}, Provisioner: "rancher.io/local-path", ReclaimPolicy: &del,
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer), AllowVolumeExpansion: ptr.To(true)},
		{ObjectMeta: metav1.ObjectMeta{Name: preflightExpandClass}, Provisioner: preflightExpandDriver, ReclaimPolicy: &retain,
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate), AllowVolumeExpansion: ptr.To(true)},
	}
	for _, sc := range classes {
		name := sc.Name
		clean.add("StorageClass "+name, func(ctx context.Context) error {
			return cs.StorageV1().StorageClasses().Delete(ctx, name, metav1.DeleteOptions{})
		})
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clean.add("CSIDriver "+preflightExpandDriver, func(ctx context.Context) error {
		return cs.StorageV1().CSIDrivers().Delete(ctx, preflightExpandDriver, metav1.DeleteOptions{})
	})
	if _, err := cs.StorageV1().CSIDrivers().Create(ctx, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: preflightExpandDriver}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What a running external-resizer of the driver holds: its leader-election Lease.
	lease := snapshot.ResizerLeaseName(preflightExpandDriver)
	clean.add("Lease kube-system/"+lease, func(ctx context.Context) error {
		return cs.CoordinationV1().Leases("kube-system").Delete(ctx, lease, metav1.DeleteOptions{})
	})
	if _, err := cs.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: lease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("csi-resize-preflight-controller-0")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The local-path volume: a hostPath PV as the provisioner makes it.
	local := scenario.CSIPV("preflight-uploads", preflightLocalClass, "1Gi", del)
	local.Spec.CSI = nil
	local.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/opt/local-path-provisioner/preflight-uploads"}
	local.Annotations = map[string]string{snapshot.ProvisionedByAnnotation: "rancher.io/local-path"}
	pvs := []*corev1.PersistentVolume{local, preflightPV("preflight-app-data", preflightExpandClass, preflightExpandDriver, "1Gi", ns, "app-data")}
	for i := 0; i < 2; i++ {
		pvs = append(pvs, preflightPV(fmt.Sprintf("preflight-web-%d", i), preflightExpandClass, preflightExpandDriver, "1Gi", ns, fmt.Sprintf("data-web-%d", i)))
	}
	for _, pv := range pvs {
		clean.pv(pv.Name)
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clean.namespace(env, ns)
	for _, c := range []*corev1.PersistentVolumeClaim{
		scenario.Claim(ns, "uploads", preflightLocalClass, "1Gi", "preflight-uploads"),
		scenario.Claim(ns, "app-data", preflightExpandClass, "1Gi", "preflight-app-data"),
	} {
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, scenario.StatefulSet(ns, "web", 2, preflightExpandClass, "1Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"uploads", "app-data", "data-web-0", "data-web-1"} {
		if _, err := env.WaitClaimBound(ctx, ns, c); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("local-path claim: no-go", func(t *testing.T) {
		code, res := runPreflight(t, "resize", "pvc", ns+"/uploads", "--size", "2Gi")
		if code != 4 || res.Verdict != preflight.NoGo {
			t.Fatalf("exit %d, verdict %s, want 4 and no-go:\n%s", code, res.Verdict, describeChecks(res))
		}
		found := false
		for _, c := range res.Checks {
			if c.Check == preflight.CheckClassExpansion && c.Severity == audit.Critical && c.Object.Name == preflightLocalClass &&
				strings.Contains(c.Message, "rancher.io/local-path cannot expand volumes") {
				found = true
			}
		}
		if !found {
			t.Errorf("the reason (local-path cannot expand) should be a critical class-expansion check:\n%s", describeChecks(res))
		}
	})

	t.Run("CSI claim with a resizer: go", func(t *testing.T) {
		code, res := runPreflight(t, "resize", "pvc", ns+"/app-data", "--size", "5Gi")
		if code != 0 || res.Verdict != preflight.Go {
			t.Fatalf("exit %d, verdict %s, want 0 and go:\n%s", code, res.Verdict, describeChecks(res))
		}
		if got, want := res.CostDelta["EUR"], (5-1)*preflightPrice; got != want {
			t.Errorf("cost delta %v EUR, want 4Gi added x %v = %v", got, preflightPrice, want)
		}
	})

	t.Run("CSI StatefulSet with a resizer: go", func(t *testing.T) {
		code, res := runPreflight(t, "resize", "statefulset", ns+"/web", "--size", "3Gi")
		if code != 0 || res.Verdict != preflight.Go {
			t.Fatalf("exit %d, verdict %s, want 0 and go:\n%s", code, res.Verdict, describeChecks(res))
		}
		if got, want := res.CostDelta["EUR"], 2*(3-1)*preflightPrice; got != want {
			t.Errorf("cost delta %v EUR, want 2 claims x 2Gi added x %v = %v", got, preflightPrice, want)
		}
		template := false
		for _, c := range res.Checks {
			template = template || c.Check == preflight.CheckTemplate
		}
		if !template {
			t.Errorf("a StatefulSet resize should say the template must be re-created:\n%s", describeChecks(res))
		}
	})
}
