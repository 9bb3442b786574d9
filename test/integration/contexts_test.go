package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/test/controlplane"
)

// TestManyContexts audits three kubeconfig contexts at once: "alpha" (the admin) and
// "beta" (a read-only service account) on the test control plane, and "dead" on a closed
// port. The contexts come from two files merged through $KUBECONFIG, as kubectl merges
// them. Both live clusters must give complete reports (each keeping its state in a
// ConfigMap in its context's namespace), the dead one an error item and a stderr line,
// and the exit code must follow the documented precedence.
func TestManyContexts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	for _, ns := range []string{"contexts", "contexts-alpha", "contexts-beta"} {
		if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
			t.Fatal(err)
		}
	}
	// A finding both clusters must report: a claim naming a StorageClass that does not
	// exist (sc-missing, critical).
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "contexts"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("no-such-class-contexts"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("contexts").Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	token := readOnlyToken(ctx, t, cs, "contexts-beta", "auditor-beta", "contexts-beta")

	rc := cp.RESTConfig()
	live := clientcmdapi.NewConfig()
	live.Clusters["test"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	live.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cp.Token}
	live.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Token: token}
	live.Contexts["alpha"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin", Namespace: "contexts-alpha"}
	live.Contexts["beta"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "reader", Namespace: "contexts-beta"}
	dead := clientcmdapi.NewConfig()
	dead.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	dead.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{Token: "nobody"}
	dead.Contexts["dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: "nobody"}
	dead.CurrentContext = "dead"
	dir := t.TempDir()
	livePath, deadPath := filepath.Join(dir, "live.yaml"), filepath.Join(dir, "dead.yaml")
	for p, c := range map[string]*clientcmdapi.Config{livePath: live, deadPath: dead} {
		if err := clientcmd.WriteToFile(*c, p); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBECONFIG", deadPath+string(os.PathListSeparator)+livePath)

	var out, errb bytes.Buffer
	code := cli.Main([]string{"run", "--all-contexts", "-n", "contexts", "-o", "json", "--fail-on", "none",
		"--timeout", "60s", "--state-configmap", "auditor-state"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d (a cluster could not be audited): %s", code, cli.ExitPartial, errb.String())
	}
	var list struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Items      []*audit.Report `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if list.Kind != "AuditReportList" || len(list.Items) != 3 {
		t.Fatalf("kind %q with %d items, want AuditReportList with 3:\n%s", list.Kind, len(list.Items), out.String())
	}
	for i, name := range []string{"alpha", "beta"} {
		rep := list.Items[i]
		if rep.Cluster != name || rep.Error != "" {
			t.Errorf("item %d: cluster %q error %q, want %s without error", i, rep.Cluster, rep.Error, name)
		}
		if len(rep.Unreadable) > 0 || len(rep.Skipped) > 0 {
			t.Errorf("%s: the report should be complete: unreadable %+v, skipped %+v", name, rep.Unreadable, rep.Skipped)
		}
		found := false
		for _, f := range rep.Findings {
			found = found || (f.RuleID == "sc-missing" && f.Object.Namespace == "contexts" && f.Object.Name == "data")
		}
		if !found {
			t.Errorf("%s: sc-missing on pvc/contexts/data not reported: %+v", name, rep.Findings)
		}
		if rep.Changes == nil {
			t.Errorf("%s: run-to-run state was not kept (no changes section); stderr: %s", name, errb.String())
		}
		ns := "contexts-" + name
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "auditor-state", metav1.GetOptions{}); err != nil {
			t.Errorf("%s: the state ConfigMap should be in the context's namespace %s: %v", name, ns, err)
		}
	}
	gone := list.Items[2]
	if gone.Cluster != "dead" || !strings.Contains(gone.Error, "127.0.0.1:1") || len(gone.Findings) != 0 {
		t.Errorf("dead item: cluster %q, error %q, %d findings; want its address in the error and no findings", gone.Cluster, gone.Error, len(gone.Findings))
	}
	// A closed port is refused at once: the error must be the refusal, not --timeout
	// running out (which would mean the run waited on the dead cluster).
	if !strings.Contains(gone.Error, "connection refused") {
		t.Errorf("dead cluster's error should be the refused connection: %q", gone.Error)
	}
	if !strings.Contains(errb.String(), "cluster dead: ") {
		t.Errorf("stderr should name the dead cluster: %q", errb.String())
	}

	// Findings at or above --fail-on take precedence over a cluster that could not be
	// read, as over a partial audit; the table has a CLUSTER column and a line per cluster.
	out.Reset()
	errb.Reset()
	code = cli.Main([]string{"run", "--contexts", "beta,dead", "-n", "contexts", "--fail-on", "critical"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitFindings {
		t.Fatalf("exit %d, want %d (critical findings in beta): %s", code, cli.ExitFindings, errb.String())
	}
	table := out.String()
	if !strings.HasPrefix(strings.TrimSpace(table), "CLUSTER") || !strings.Contains(table, "\nbeta: ") || !strings.Contains(table, "\ndead: could not audit: ") {
		t.Errorf("table should have a CLUSTER column and a line for beta and dead:\n%s", table)
	}
	if strings.Contains(table, "alpha") {
		t.Errorf("--contexts beta,dead should not audit alpha:\n%s", table)
	}

	// One digest per cluster, posted one after the other; each post's first attempt gets
	// a 503, and the retry line says which cluster's digest is retried.
	var mu sync.Mutex
	attempts := map[string]int{} // digest text's cluster -> posts seen
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		for _, name := range []string{"alpha", "beta"} {
			if strings.Contains(string(body), name) {
				attempts[name]++
				if attempts[name] == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer hook.Close()
	out.Reset()
	errb.Reset()
	code = cli.Main([]string{"run", "--contexts", "alpha,beta", "-n", "contexts", "-o", "json",
		"--slack-webhook-url", hook.URL + "/services/T0/B0/contexts"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitOK {
		t.Errorf("Slack answering on the second attempt: exit %d, want 0: %s", code, errb.String())
	}
	for _, name := range []string{"alpha", "beta"} {
		if attempts[name] != 2 {
			t.Errorf("%s's digest was sent %d times, want 2 (a 503, then posted)", name, attempts[name])
		}
		want := "warning: cluster " + name + ": Slack: posting the digest failed"
		if strings.Count(errb.String(), want) != 1 {
			t.Errorf("stderr should have one retry line starting %q:\n%s", want, errb.String())
		}
	}

	// auditor cost shares the code: a CostReportList, a cost for alpha, an error for dead.
	out.Reset()
	errb.Reset()
	code = cli.Main([]string{"cost", "--contexts", "alpha,dead", "-o", "json"}, strings.NewReader(""), &out, &errb)
	var costs struct {
		Kind  string `json:"kind"`
		Items []struct {
			Cluster string      `json:"cluster"`
			Cost    *audit.Cost `json:"cost"`
			Error   string      `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &costs); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if code != cli.ExitPartial || costs.Kind != "CostReportList" || len(costs.Items) != 2 ||
		costs.Items[0].Cluster != "alpha" || costs.Items[0].Cost == nil || costs.Items[1].Error == "" {
		t.Errorf("cost --contexts alpha,dead: exit %d, want 3 with alpha's cost and dead's error:\n%s\n%s", code, out.String(), errb.String())
	}
}

// readOnlyToken creates a service account that may list every kind the auditor reads
// (and keep its state in a ConfigMap in stateNS) and returns a token for it.
func readOnlyToken(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, stateNS string) string {
	t.Helper()
	token := grantedToken(ctx, t, cs, ns, name, listRules())
	if stateNS == "" {
		return token
	}
	create := func(err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	_, err := cs.RbacV1().Roles(stateNS).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-state"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"}}},
	}, metav1.CreateOptions{})
	create(err)
	_, err = cs.RbacV1().RoleBindings(stateNS).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-state"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name + "-state"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}},
	}, metav1.CreateOptions{})
	create(err)
	return token
}
