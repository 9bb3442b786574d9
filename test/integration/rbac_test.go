package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
)

// TestPartialPermissions audits with real RBAC: a service account that may list every
// kind the auditor reads except VolumeAttachments and Events. The audit must finish, name
// those kinds as unreadable, skip exactly the rules that need them, and exit 3.
func TestPartialPermissions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := cp.Clientset()
	const ns = "rbac"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	denied := map[snapshot.Kind]bool{snapshot.VolumeAttachments: true, snapshot.Events: true}
	var rules []rbacv1.PolicyRule
	for _, k := range snapshot.AllKinds {
		if denied[k] {
			continue
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{apiGroup(k)}, Resources: []string{k.Resource()}, Verbs: []string{"list"}})
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "auditor-limited"}, Rules: rules}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "auditor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "auditor-limited"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "auditor-limited"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "auditor"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "auditor", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, tok.Status.Token)

	var out, errb bytes.Buffer
	code := cli.Main([]string{"run", "--kubeconfig", kubeconfig, "-o", "json"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d (partial): %s", code, cli.ExitPartial, errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	unreadable := map[string]bool{}
	for _, u := range rep.Unreadable {
		unreadable[u.Kind] = true
		if !strings.Contains(u.Reason, "forbidden") {
			t.Errorf("%s unreadable for %q, want a forbidden reason", u.Kind, u.Reason)
		}
	}
	if len(unreadable) != 2 || !unreadable["VolumeAttachment"] || !unreadable["Event"] {
		t.Errorf("unreadable = %+v, want VolumeAttachment and Event", rep.Unreadable)
	}
	skipped := map[string]bool{}
	for _, s := range rep.Skipped {
		skipped[s.Rule] = true
	}
	for _, id := range []string{"node-attach-limit", "va-orphaned"} {
		if !skipped[id] {
			t.Errorf("%s reads VolumeAttachments and should be skipped: %+v", id, rep.Skipped)
		}
	}
	for _, f := range rep.Findings {
		if skipped[f.RuleID] {
			t.Errorf("skipped rule %s reported %s", f.RuleID, f.Object)
		}
	}
	if skipped["pv-released-retained"] || len(rep.Findings) == 0 {
		t.Errorf("rules that need neither kind must still run: skipped %+v, %d findings", rep.Skipped, len(rep.Findings))
	}
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
