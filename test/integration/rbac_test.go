package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestPartialPermissions audits with real RBAC: service accounts that may list every
// kind the auditor reads except a few. Each audit must finish with exit 3, name exactly
// the denied kinds as unreadable, and skip exactly the rules that read them (as the
// catalog declares, not a list kept here). Against an admin audit of the same cluster
// (before and after, with the same --now, to tolerate controllers acting in between):
// no finding appears that the admin audit does not have, so missing data never shows up
// as a problem, and every rule whose inputs were all readable reports what it reports
// with full access.
func TestPartialPermissions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	const ns = "rbac"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	// A Released Retain PV, so every case has a finding of a rule that reads none of the
	// denied kinds; and a healthy claim used by a pod on an existing node in an existing
	// class, which rules running on missing pods, nodes or classes would misreport.
	releasedRetainPV(ctx, t, "rbac-released")
	healthyClaimInUse(ctx, t, ns)
	// Two months ahead, every age threshold has passed: rules that wait before they
	// report (unused claims, pending claims) are armed.
	now := time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339)
	admin := func() map[string]audit.Finding {
		return findingsOf(t, auditAs(t, cp.Kubeconfig, now, cli.ExitOK, cli.ExitFindings, cli.ExitPartial))
	}
	for _, tc := range []struct {
		name   string
		denied []snapshot.Kind
	}{
		{"volumeattachments-events", []snapshot.Kind{snapshot.VolumeAttachments, snapshot.Events}},
		// Without nodes every pod would look bound to a deleted node.
		{"nodes", []snapshot.Kind{snapshot.Nodes}},
		// Without pods every claim would look unused.
		{"pods", []snapshot.Kind{snapshot.Pods}},
		// Without classes every claim would name a missing class.
		{"storageclasses", []snapshot.Kind{snapshot.StorageClasses}},
		{"statefulsets-claims", []snapshot.Kind{snapshot.StatefulSets, snapshot.PersistentVolumeClaims}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kubeconfig := limitedKubeconfig(ctx, t, ns, "auditor-"+tc.name, tc.denied)
			before := admin()
			rep := auditAs(t, kubeconfig, now, cli.ExitPartial)
			after := admin()

			denied := map[snapshot.Kind]bool{}
			for _, k := range tc.denied {
				denied[k] = true
			}
			unreadable := map[string]bool{}
			for _, u := range rep.Unreadable {
				unreadable[u.Kind] = true
				if !strings.Contains(u.Reason, "forbidden") {
					t.Errorf("%s unreadable for %q, want a forbidden reason", u.Kind, u.Reason)
				}
			}
			for _, k := range tc.denied {
				if !unreadable[string(k)] {
					t.Errorf("%s was denied but is not listed as unreadable: %+v", k, rep.Unreadable)
				}
			}
			if len(unreadable) != len(tc.denied) {
				t.Errorf("unreadable = %+v, want exactly %v", rep.Unreadable, tc.denied)
			}

			skipped := map[string]bool{}
			for _, s := range rep.Skipped {
				skipped[s.Rule] = true
			}
			complete := map[string]bool{} // rules that read nothing denied, not even optionally
			for _, r := range catalog.All() {
				needsDenied := anyDenied(r.Reads, denied)
				switch {
				case needsDenied && !skipped[r.ID]:
					t.Errorf("rule %s reads a denied kind but was not skipped", r.ID)
				case !needsDenied && skipped[r.ID]:
					t.Errorf("rule %s reads no denied kind but was skipped", r.ID)
				}
				if !needsDenied && !anyDenied(r.Optional, denied) {
					complete[r.ID] = true
				}
			}

			got := findingsOf(t, rep)
			for key, f := range got {
				_, b := before[key]
				_, a := after[key]
				if !b && !a {
					t.Errorf("false problem: %s %s is reported without %v but not with full access", f.RuleID, f.Object, tc.denied)
				}
				if skipped[f.RuleID] {
					t.Errorf("skipped rule %s reported %s", f.RuleID, f.Object)
				}
			}
			for key, f := range before {
				if _, stable := after[key]; stable && complete[f.RuleID] {
					if _, ok := got[key]; !ok {
						t.Errorf("rule %s reads nothing denied but missed %s", f.RuleID, f.Object)
					}
				}
			}
			if len(got) == 0 {
				t.Error("no findings at all: the rules that need no denied kind did not run")
			}
		})
	}
}

// releasedRetainPV creates a Retain PV whose claim is gone, in phase Released.
func releasedRetainPV(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	cs := cp.Clientset()
	pv := scenario.CSIPV(name, "", "1Gi", corev1.PersistentVolumeReclaimRetain)
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "rbac", Name: name + "-gone", UID: "00000000-0000-0000-0000-00000000dead"}
	created, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	// The PV controller sets the same phase when it finds the claim gone, and may do so
	// first: then this write conflicts and the wait below sees the controller's.
	created.Status.Phase = corev1.VolumeReleased
	if _, err := cs.CoreV1().PersistentVolumes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		t.Fatal(err)
	}
	env := &scenario.Env{CS: cs, Log: t.Logf}
	if err := env.WaitPVPhase(ctx, name, corev1.VolumeReleased); err != nil {
		t.Fatal(err)
	}
}

// healthyClaimInUse creates a class, a node, a bound claim and a pod on that node using
// the claim: nothing here is a problem.
func healthyClaimInUse(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	cs := cp.Clientset()
	bg := context.Background()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "rbac-class"}, Provisioner: scenario.Driver,
		ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimDelete)}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.StorageV1().StorageClasses().Delete(bg, class.Name, metav1.DeleteOptions{}) })
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rbac-node"}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(bg, node.Name, metav1.DeleteOptions{}) })
	pv := scenario.CSIPV("rbac-bound", class.Name, "1Gi", corev1.PersistentVolumeReclaimDelete)
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "rbac-data"}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumes().Delete(bg, pv.Name, metav1.DeleteOptions{}) })
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, scenario.Claim(ns, "rbac-data", class.Name, "1Gi", pv.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumeClaims(ns).Delete(bg, "rbac-data", metav1.DeleteOptions{}) })
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-user", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   node.Name,
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "rbac-data"}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No kubelet runs: only a zero grace period removes the pod at once.
	t.Cleanup(func() {
		_ = cs.CoreV1().Pods(ns).Delete(bg, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	})
	// The claim is bound by the controller-manager's binder.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "rbac-data", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound, nil
	})
	if err != nil {
		t.Fatalf("claim %s/rbac-data not bound: %v", ns, err)
	}
}

func anyDenied(ks []snapshot.Kind, denied map[snapshot.Kind]bool) bool {
	for _, k := range ks {
		if denied[k] {
			return true
		}
	}
	return false
}

// limitedKubeconfig creates a service account that may list every kind the auditor
// reads except denied, and returns a kubeconfig with a token for it.
func limitedKubeconfig(ctx context.Context, t *testing.T, ns, name string, denied []snapshot.Kind) string {
	t.Helper()
	return writeKubeconfig(t, grantedToken(ctx, t, cp.Clientset(), ns, name, listRules(denied...)))
}

// auditAs runs the auditor in-process with kubeconfig and returns its JSON report; the
// exit code must be one of codes.
func auditAs(t *testing.T, kubeconfig, now string, codes ...int) *audit.Report {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main([]string{"run", "--kubeconfig", kubeconfig, "-o", "json", "--now", now}, strings.NewReader(""), &out, &errb)
	if !slices.Contains(codes, code) {
		t.Fatalf("exit %d, want one of %v: %s", code, codes, errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// findingsOf indexes rep's findings by rule, object and fact. Not by fingerprint: a
// node's UID is known only when Nodes could be read, so the fingerprint of the same
// problem on a node differs between a full and a partial audit.
func findingsOf(t *testing.T, rep *audit.Report) map[string]audit.Finding {
	t.Helper()
	m := make(map[string]audit.Finding, len(rep.Findings))
	for _, f := range rep.Findings {
		m[f.RuleID+" "+f.Object.String()+" "+f.Fact] = f
	}
	return m
}

func apiGroup(k snapshot.Kind) string {
	switch k {
	case snapshot.StorageClasses, snapshot.CSIDrivers, snapshot.CSINodes, snapshot.VolumeAttachments:
		return "storage.k8s.io"
	case snapshot.StatefulSets, snapshot.Deployments, snapshot.DaemonSets, snapshot.ReplicaSets:
		return "apps"
	case snapshot.Jobs, snapshot.CronJobs:
		return "batch"
	case snapshot.Leases:
		return "coordination.k8s.io"
	}
	return ""
}

func writeKubeconfig(t *testing.T, token string) string {
	t.Helper()
	rc := cp.RESTConfig()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos["limited"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["limited"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "limited"}
	cfg.CurrentContext = "limited"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}
