package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestPVNodeAffinityUnsatisfiableLive: two local volumes bound by the PV controller, one on
// a node that exists and one on a host the node pool replacement removed. The rule reports
// the stranded one only — live and from a kubectl dump.
func TestPVNodeAffinityUnsatisfiableLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	clean := cleanup{t, cs}
	const (
		ns      = "pvaffinity"
		node    = "pvaffinity-node"
		retired = "pvaffinity-retired-node"
	)
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	clean.add("node "+node, func(ctx context.Context) error { return cs.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}) })
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"kubernetes.io/hostname": node}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	local := func(name, host string) *corev1.PersistentVolume {
		pv := scenario.CSIPV(name, "", "1Gi", corev1.PersistentVolumeReclaimRetain)
		pv.Spec.CSI = nil
		pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disks/" + name}
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{host}}}}}}}
		return pv
	}
	for _, pv := range []*corev1.PersistentVolume{local("pvaffinity-stranded", retired), local("pvaffinity-reachable", node)} {
		clean.pv(pv.Name)
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clean.namespace(env, ns)
	for _, c := range []struct{ claim, pv string }{{"stranded", "pvaffinity-stranded"}, {"reachable", "pvaffinity-reachable"}} {
		// storageClassName "": static binding to the named local PV.
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, scenario.Claim(ns, c.claim, "", "1Gi", c.pv), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.WaitClaimBound(ctx, ns, c.claim); err != nil {
			t.Fatal(err)
		}
	}
	const rule = "pv-node-affinity-unsatisfiable"
	live := auditArgs(t, "run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--rules", rule)
	f := require(t, live, rule, "", "pvaffinity-stranded")
	if f.Details["nodeAffinity"] != "kubernetes.io/hostname in ("+retired+")" || f.Details["claim"] != ns+"/stranded" {
		t.Errorf("finding should name the selector and the claim: %+v", f.Details)
	}
	forbid(t, live, rule, "", "pvaffinity-reachable")

	dump := filepath.Join(t.TempDir(), "dump.yaml")
	kubectlDump(t, dump)
	fromFile := auditArgs(t, "run", "--from-file", dump, "-o", "json", "--rules", rule)
	require(t, fromFile, rule, "", "pvaffinity-stranded")
	forbid(t, fromFile, rule, "", "pvaffinity-reachable")
}
