package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/test/controlplane"
)

// kubectlPath is the real kubectl; plugins are found on its PATH.
const kubectlPath = "/usr/bin/kubectl"

// TestKubectlPlugin installs the auditor as kubectl-storage_audit, puts it on PATH and runs
// it through kubectl itself: `kubectl storage-audit run` must audit the control plane, and
// its help must name it the way it was invoked.
func TestKubectlPlugin(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Fatalf("kubectl is needed to run the plugin: %v", err)
	}
	// The shared binary under the plugin's name: kubectl runs it by that path, so the
	// auditor sees itself invoked as kubectl-storage_audit.
	bin := t.TempDir()
	if err := os.Symlink(buildAuditor(t), filepath.Join(bin, "kubectl-storage_audit")); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) (code int, stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlPath, args...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		return runCommand(t, cmd)
	}

	code, stdout, stderr := kubectl("storage-audit", "run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--fail-on", "none")
	if code != cli.ExitOK {
		t.Fatalf("kubectl storage-audit run: exit %d, want 0: %s", code, stderr)
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if rep.Kind != audit.ReportKind || rep.Cluster != controlplane.ContextName || len(rep.Unreadable) > 0 {
		t.Errorf("report kind %q cluster %q unreadable %+v; want a complete AuditReport of %s", rep.Kind, rep.Cluster, rep.Unreadable, controlplane.ContextName)
	}

	code, stdout, _ = kubectl("storage-audit", "run", "--help")
	if code != 0 || !strings.Contains(stdout, "kubectl storage-audit run [flags]") || strings.Contains(stdout, "auditor run") {
		t.Errorf("kubectl storage-audit run --help (exit %d) should name the plugin, not auditor:\n%s", code, stdout)
	}
	// A usage error's hint names the plugin too.
	code, _, stderr = kubectl("storage-audit", "rnu")
	if code != cli.ExitError || !strings.Contains(stderr, "Run 'kubectl storage-audit --help' for usage.") {
		t.Errorf("kubectl storage-audit rnu: exit %d, stderr %q", code, stderr)
	}
}

// TestExecCredentialPlugin audits through a kubeconfig whose user has no credentials of
// its own, only an exec section: a script printing an ExecCredential with a service
// account token, as aws eks get-token or gke-gcloud-auth-plugin do. The audit must run
// with that token; a script printing a token the server rejects must fail the audit.
func TestExecCredentialPlugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := cp.Clientset()
	const ns = "exec-credential"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	token := readOnlyToken(ctx, t, cs, ns, "auditor-exec", "")
	dir := t.TempDir()

	kubeconfigWith := func(name, token string) (kubeconfig, calls string) {
		calls = filepath.Join(dir, name+".calls")
		script := filepath.Join(dir, name+".sh")
		body := "#!/bin/sh\n" +
			"echo called >> '" + calls + "'\n" +
			"cat <<'EOF'\n" +
			`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token + `"}}` + "\n" +
			"EOF\n"
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		rc := cp.RESTConfig()
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
		cfg.AuthInfos["exec"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion:      "client.authentication.k8s.io/v1",
			Command:         script,
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "exec"}
		cfg.CurrentContext = name
		kubeconfig = filepath.Join(dir, name+".kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
			t.Fatal(err)
		}
		return kubeconfig, calls
	}

	kubeconfig, calls := kubeconfigWith("exec", token)
	var out, errb bytes.Buffer
	code := cli.Main([]string{"run", "--kubeconfig", kubeconfig, "-o", "json", "--fail-on", "none"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, want 0 through the exec plugin's token: %s", code, errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Cluster != "exec" || len(rep.Unreadable) > 0 || len(rep.Skipped) > 0 {
		t.Errorf("cluster %q, unreadable %+v, skipped %+v: want a complete report of context exec", rep.Cluster, rep.Unreadable, rep.Skipped)
	}
	if b, err := os.ReadFile(calls); err != nil || !strings.Contains(string(b), "called") {
		t.Errorf("the exec plugin was not run (%v)", err)
	}

	// The control: the same set-up with a token the server does not accept.
	kubeconfig, calls = kubeconfigWith("rejected", "not-a-valid-token")
	out.Reset()
	errb.Reset()
	code = cli.Main([]string{"run", "--kubeconfig", kubeconfig, "-o", "json"}, strings.NewReader(""), &out, &errb)
	if code != cli.ExitError || !strings.Contains(errb.String(), "Unauthorized") {
		t.Errorf("a rejected exec token: exit %d, stderr %q; want 2 and Unauthorized", code, errb.String())
	}
	if _, err := os.Stat(calls); err != nil {
		t.Errorf("the rejected plugin was not run: %v", err)
	}
}
