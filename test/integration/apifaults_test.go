package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

// The tests in this file make the API server misbehave under a running `auditor run`:
// stopped, frozen, rejecting requests with 429, or the auditor itself interrupted. A test
// that stops, freezes or limits an API server starts a control plane of its own (never
// the shared cp). They assert only what a person relies on: the process exits, with the
// documented code and a one-line message, and leaves nothing half-written. There are no
// timed assertions: a process that has not exited within a generous deadline is killed
// and reported as a hang.

// faultsNow fixes the audit's clock so that two runs' reports compare byte for byte.
const faultsNow = "2030-01-01T00:00:00Z"

// slowRead makes a read of even an empty cluster take several seconds, deterministically:
// the auditor makes one LIST per kind (17), and at 2 per second with no burst the client
// can send them no faster than over 8 s. The audit log shows when the first have been
// answered, which is how a test knows the run is under way when it strikes.
var slowRead = []string{"--qps", "2", "--burst", "1"}

// hangMargin is how long past what should end it (a signal, --timeout, a dead server) a
// run may take before it counts as a hang.
const hangMargin = 30 * time.Second

// TestAPIServerFaults runs the auditor against one dedicated control plane and, in
// order: interrupts it with SIGINT while it reads; freezes the API server (SIGSTOP) and
// interrupts it with SIGTERM; freezes the API server until --timeout gives up; stops the
// API server mid-run (last: the control plane is not usable after it).
func TestAPIServerFaults(t *testing.T) {
	t.Parallel()
	bin := buildAuditor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alog := newAuditLog(t)
	fcp := startDedicated(t, ctx, alog.args()...)
	cs := fcp.Clientset()
	seedFindings(t, ctx, cs)
	run := func(extra ...string) []string {
		return append([]string{"run", "--kubeconfig", fcp.Kubeconfig, "-o", "json", "--now", faultsNow}, extra...)
	}
	host := strings.TrimPrefix(fcp.URL, "https://")

	t.Run("SIGINT while reading", func(t *testing.T) {
		dir := t.TempDir()
		files := []string{"--state-file", filepath.Join(dir, "state.json"), "--output-file", filepath.Join(dir, "report.json")}
		// A complete run first: the interrupted one must leave its report and state alone.
		if code, _, stderr := runAuditor(t, ctx, bin, run(files...)...); code != cli.ExitOK {
			t.Fatalf("complete run: exit %d: %s", code, stderr)
		}
		before := dirContents(t, dir)

		since := alog.size(t)
		p := startAuditor(t, bin, run(append(slowRead, files...)...)...)
		alog.waitAuditorLists(t, since, 2, p)
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		code := p.wait(t, hangMargin)
		if code != cli.ExitError {
			t.Errorf("exit %d after SIGINT, want %d", code, cli.ExitError)
		}
		requireOneLineError(t, p.stderr.String(), "interrupted", "SIGINT")
		if p.stdout.Len() > 0 {
			t.Errorf("interrupted run wrote to stdout:\n%s", p.stdout.String())
		}
		if after := dirContents(t, dir); !equalContents(before, after) {
			t.Errorf("the interrupted run changed %s: files before %v, after %v", dir, names(before), names(after))
		}
	})

	t.Run("SIGTERM while the API server is frozen", func(t *testing.T) {
		const stateCM = "default/auditor-state"
		if code, _, stderr := runAuditor(t, ctx, bin, run("--state-configmap", stateCM)...); code != cli.ExitOK {
			t.Fatalf("complete run: exit %d: %s", code, stderr)
		}
		cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "auditor-state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}

		since := alog.size(t)
		p := startAuditor(t, bin, run(append(slowRead, "--state-configmap", stateCM)...)...)
		alog.waitAuditorLists(t, since, 2, p)
		pause(t, fcp)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := p.wait(t, hangMargin)
		resume(t, fcp)
		if code != cli.ExitError {
			t.Errorf("exit %d after SIGTERM, want %d", code, cli.ExitError)
		}
		requireOneLineError(t, p.stderr.String(), "interrupted", "SIGTERM")
		if p.stdout.Len() > 0 {
			t.Errorf("interrupted run wrote to stdout:\n%s", p.stdout.String())
		}
		after, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "auditor-state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != cm.ResourceVersion {
			t.Errorf("the interrupted run updated ConfigMap %s (resourceVersion %s -> %s)", stateCM, cm.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("API server frozen past --timeout", func(t *testing.T) {
		since := alog.size(t)
		const timeout = 10 * time.Second
		p := startAuditor(t, bin, run(append(slowRead, "--timeout", timeout.String())...)...)
		alog.waitAuditorLists(t, since, 2, p)
		pause(t, fcp)
		code := p.wait(t, timeout+hangMargin)
		resume(t, fcp)
		if code != cli.ExitError {
			t.Errorf("exit %d, want %d", code, cli.ExitError)
		}
		requireOneLineError(t, p.stderr.String(), "could not finish within --timeout 10s", host)
		if p.stdout.Len() > 0 {
			t.Errorf("timed-out run wrote to stdout:\n%s", p.stdout.String())
		}
	})

	t.Run("API server stopped mid-run", func(t *testing.T) {
		since := alog.size(t)
		p := startAuditor(t, bin, run(append(slowRead, "--timeout", "1m")...)...)
		alog.waitAuditorLists(t, since, 2, p)
		if err := fcp.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		code := p.wait(t, time.Minute+hangMargin)
		if code != cli.ExitError {
			t.Errorf("exit %d, want %d", code, cli.ExitError)
		}
		requireOneLineError(t, p.stderr.String(), host, "listing ", "API server", "check")
		if p.stdout.Len() > 0 {
			t.Errorf("failed run wrote to stdout:\n%s", p.stdout.String())
		}
	})
}

// TestBodyCutOffStaysOneLine: an API server that sends the headers and part of a body,
// then nothing, until --timeout. client-go logs such a cut-off body through klog, at error
// level, on the process's stderr ("E1122 … Unexpected error when reading response body");
// the auditor's stderr must still be its one error line.
func TestBodyCutOffStaysOneLine(t *testing.T) {
	t.Parallel()
	bin := buildAuditor(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stalled := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"kind":"List","apiVersion":"v1","items":[`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer stalled.Close()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["stalled"] = &clientcmdapi.Cluster{Server: stalled.URL, InsecureSkipTLSVerify: true}
	kc.AuthInfos["stalled"] = &clientcmdapi.AuthInfo{Token: "stalled"}
	kc.Contexts["stalled"] = &clientcmdapi.Context{Cluster: "stalled", AuthInfo: "stalled"}
	kc.CurrentContext = "stalled"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runAuditor(t, ctx, bin, "run", "--kubeconfig", path, "--timeout", "2s")
	if code != cli.ExitError || out != "" {
		t.Errorf("exit %d, want %d, and no report (stdout %q)", code, cli.ExitError, out)
	}
	requireOneLineError(t, stderr, "could not finish within --timeout 2s")
}

// TestThrottleFlags: a read that --qps makes longer than --timeout says it timed out;
// bad --qps and --burst values are usage errors. Against the shared control plane, which
// it only reads.
func TestThrottleFlags(t *testing.T) {
	t.Parallel()
	bin := buildAuditor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"run", "--kubeconfig", cp.Kubeconfig, "-o", "json"}

	// 17 LISTs at 1 per second cannot finish in 3 s: the client's rate limiter gives up
	// as soon as it sees that, before the deadline, and that must read as the timeout it is.
	code, out, stderr := runAuditor(t, ctx, bin, append(args, "--qps", "1", "--burst", "1", "--timeout", "3s")...)
	if code != cli.ExitError || out != "" {
		t.Errorf("--timeout 3s: exit %d, want %d, and no report (stdout %q)", code, cli.ExitError, out)
	}
	requireOneLineError(t, stderr, "could not finish within --timeout 3s", "--qps")

	for _, bad := range [][]string{{"--qps", "0"}, {"--qps", "-1"}, {"--qps", "NaN"}, {"--qps", "+Inf"}, {"--burst", "0"}, {"--burst", "-5"}} {
		code, out, stderr := runAuditor(t, ctx, bin, append(args, bad...)...)
		if code != cli.ExitError || out != "" {
			t.Errorf("%s: exit %d, want %d, and no report (stdout %q)", strings.Join(bad, " "), code, cli.ExitError, out)
		}
		requireOneLineError(t, stderr, bad[0]+" "+bad[1])
	}
	// Every other command that connects refuses them too, before it reads or changes
	// anything (the objects named need not exist: nothing is asked of the server).
	kc := []string{"--kubeconfig", cp.Kubeconfig}
	for _, cmd := range [][]string{
		{"cost"},
		{"preflight", "resize", "statefulset", "default/none", "--size", "2Gi"},
		{"preflight", "scale", "statefulset", "default/none", "--replicas", "3"},
		{"resize", "statefulset", "default/none", "--size", "2Gi", "--dry-run"},
		{"fix", "release-pv", "none", "--dry-run"},
	} {
		for _, bad := range [][]string{{"--qps", "0"}, {"--burst", "0"}} {
			argv := append(append(append([]string{}, cmd...), kc...), bad...)
			code, out, stderr := runAuditor(t, ctx, bin, argv...)
			if code != cli.ExitError || out != "" {
				t.Errorf("%s: exit %d, want %d, and no output (stdout %q)", strings.Join(argv, " "), code, cli.ExitError, out)
			}
			requireOneLineError(t, stderr, bad[0]+" "+bad[1])
		}
	}
}

// TestThrottling: throttled reads, by the client (--qps 1 --burst 1) or by the server
// (429 Too Many Requests), give the report an unthrottled read gives, and nothing on
// stderr. A dedicated control plane with priority and fairness off and one read in
// flight at a time (--max-requests-inflight=1) answers 429 with a Retry-After that
// client-go honours.
//
// The max-in-flight filter exempts system:masters, so the admin kubeconfig reads
// unthrottled and the 429 run reads as a service account. To make 429s certain, not
// likely, another service account holds the one slot: it lists ConfigMaps totalling far
// more than the TCP buffers hold and does not read the answer, so the server's handler
// stays blocked writing it. The slot is freed once the API server's metrics show the
// auditor's own requests refused.
func TestThrottling(t *testing.T) {
	t.Parallel()
	bin := buildAuditor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel) // not defer: the parallel subtests run after this function returns
	fcp := startDedicated(t, ctx, "--enable-priority-and-fairness=false", "--max-requests-inflight=1")
	cs := fcp.Clientset() // admin: exempt from the limit
	seedFindings(t, ctx, cs)
	const bulkNS = "bulk"
	if err := controlplane.EnsureNamespace(ctx, cs, bulkNS); err != nil {
		t.Fatal(err)
	}
	seedBulk(t, ctx, cs, bulkNS, 16, 900<<10)

	args := []string{"run", "-o", "json", "--now", faultsNow}
	admin := append(args[:len(args):len(args)], "--kubeconfig", fcp.Kubeconfig)
	code, want, stderr := runAuditor(t, ctx, bin, admin...)
	var ref audit.Report
	if err := json.Unmarshal([]byte(want), &ref); code != cli.ExitOK || err != nil || len(ref.Findings) == 0 {
		t.Fatalf("unthrottled run: exit %d, %v (want 0 and findings): %s\n%s", code, err, stderr, want)
	}

	// The two throttled runs go on at once (the client-side one takes 16 s): they do not
	// meet, as the admin's requests are exempt from the server's limit.
	t.Run("client-side --qps 1 --burst 1", func(t *testing.T) {
		t.Parallel()
		code, got, stderr := runAuditor(t, ctx, bin, append(admin, "--qps", "1", "--burst", "1")...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got != want {
			t.Errorf("report differs from the unthrottled one:\n%s\nwant:\n%s", got, want)
		}
		if stderr != "" {
			t.Errorf("throttled run wrote to stderr:\n%s", stderr)
		}
	})

	t.Run("server 429s", func(t *testing.T) {
		t.Parallel()
		auditorKubeconfig := tokenKubeconfig(t, fcp, readOnlyToken(ctx, t, cs, "default", "auditor-429", ""))
		holderToken := configMapReader(t, ctx, cs, "default", "slot-holder")
		before := rejected(t, ctx, cs)
		holder := holdReadSlot(t, ctx, fcp, holderToken, bulkNS)
		p := startAuditor(t, bin, append(args, "--kubeconfig", auditorKubeconfig)...)
		for rejected(t, ctx, cs).auditor <= before.auditor {
			if !p.running() {
				holder.release()
				t.Fatalf("the auditor finished while the only read slot was held, without a 429: %s", p.stderr.String())
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		holder.release()
		code := p.wait(t, 2*time.Minute+hangMargin)
		after := rejected(t, ctx, cs)
		t.Logf("429s: %v to the auditor, %v to the slot holder", after.auditor-before.auditor, after.holder-before.holder)
		if after.holder <= before.holder {
			t.Errorf("the metrics do not count the probe's 429: is apiserver_request_terminations_total the right counter?")
		}
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, p.stderr.String())
		}
		if got := p.stdout.String(); got != want {
			t.Errorf("report differs from the unthrottled one:\n%s\nwant:\n%s", got, want)
		}
		if s := p.stderr.String(); s != "" {
			t.Errorf("throttled run wrote to stderr:\n%s", s)
		}
	})
}

// startDedicated starts a control plane of the test's own, without controller-manager,
// stopped when the test ends.
func startDedicated(t *testing.T, ctx context.Context, apiserverArgs ...string) *controlplane.ControlPlane {
	t.Helper()
	c, err := controlplane.Start(ctx, controlplane.Options{ExtraAPIServerArgs: apiserverArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func pause(t *testing.T, c *controlplane.ControlPlane) {
	t.Helper()
	if err := c.PauseAPIServer(); err != nil {
		t.Fatal(err)
	}
	// A failing test must not leave the server frozen for the next subtest.
	t.Cleanup(func() { _ = c.ResumeAPIServer() })
}

func resume(t *testing.T, c *controlplane.ControlPlane) {
	t.Helper()
	if err := c.ResumeAPIServer(); err != nil {
		t.Fatal(err)
	}
}

// seedFindings creates objects some rules report on, so that compared reports are not
// empty: a Released PersistentVolume kept by Retain, and a claim of a missing class.
func seedFindings(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-released"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "gone", UID: "00000000-0000-0000-0000-000000000001"},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/faults"}},
		},
	}
	pv, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No PV controller runs here: the phase it would set is written directly.
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := cs.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "faults-no-class", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("no-such-class"),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// seedBulk creates n ConfigMaps of size bytes of incompressible data each in ns.
func seedBulk(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string, n, size int) {
	t.Helper()
	raw := make([]byte, size*3/4)
	for i := range n {
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bulk-%02d", i)},
			Data:       map[string]string{"data": base64.StdEncoding.EncodeToString(raw)},
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// configMapReader creates a service account that may only get and list ConfigMaps and
// returns a token for it.
func configMapReader(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	return grantedToken(ctx, t, cs, ns, name, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}})
}

// tokenKubeconfig writes a kubeconfig for c with a bearer token. Its context has the
// admin kubeconfig's name, so that reports through either name the cluster alike.
func tokenKubeconfig(t *testing.T, c *controlplane.ControlPlane, token string) string {
	t.Helper()
	rc := c.RESTConfig()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos["token"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[controlplane.ContextName] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "token"}
	cfg.CurrentContext = controlplane.ContextName
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// slotHolder is a LIST whose answer is not being read, which keeps the API server's
// handler, and so its only read slot, busy.
type slotHolder struct {
	once sync.Once
	body io.Closer
}

// release closes the connection: the server's write fails and frees the slot.
func (h *slotHolder) release() { h.once.Do(func() { h.body.Close() }) }

// holdReadSlot starts the held LIST and returns once a request of the same identity is
// refused with 429, which proves the slot taken.
func holdReadSlot(t *testing.T, ctx context.Context, c *controlplane.ControlPlane, token, ns string) *slotHolder {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.RESTConfig().CAData) {
		t.Fatal("no CA certificate in the control plane's REST config")
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		// HTTP/1.1 on a connection of its own; no gzip, so the answer stays big.
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableCompression: true,
		Proxy:              nil,
	}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		return client.Do(req)
	}
	resp, err := get("/api/v1/namespaces/" + ns + "/configmaps")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("the slot holder's LIST: %s", resp.Status)
	}
	h := &slotHolder{body: resp.Body}
	t.Cleanup(h.release)
	// The status line came with the first bytes of the answer: the handler is running,
	// and with most of the answer unread it cannot have finished.
	probe, err := get("/api/v1/namespaces/" + ns + "/configmaps/bulk-00")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, probe.Body)
	probe.Body.Close()
	if probe.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second read while the held LIST should fill the only slot: %s, want 429 (is the answer smaller than the TCP buffers?)", probe.Status)
	}
	return h
}

// rejections counts requests the API server refused with 429: the auditor's (every
// resource but ConfigMaps, which it never reads) and the slot holder's (ConfigMaps).
type rejections struct{ auditor, holder float64 }

func rejected(t *testing.T, ctx context.Context, cs kubernetes.Interface) rejections {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("API server /metrics: %v", err)
	}
	// The family is absent until the first request is refused.
	var r rejections
	for _, m := range families["apiserver_request_terminations_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["code"] != "429" {
			continue
		}
		if labels["resource"] == "configmaps" {
			r.holder += m.GetCounter().GetValue()
		} else {
			r.auditor += m.GetCounter().GetValue()
		}
	}
	return r
}

// auditorProcess is the auditor binary running in the background, for tests that act on
// it or on its API server while it runs.
type auditorProcess struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer // read only once done is closed
	done           chan struct{}
	err            error
}

// startAuditor starts the binary with the clean environment runAuditor uses.
func startAuditor(t *testing.T, bin string, args ...string) *auditorProcess {
	t.Helper()
	p := &auditorProcess{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = strings.NewReader(""), &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *auditorProcess) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait returns the exit code. A process still running after limit is killed and the
// test fails: a hang.
func (p *auditorProcess) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("hang: auditor %s still running after %s; killed it. stderr:\n%s", strings.Join(p.cmd.Args[1:], " "), limit, p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("auditor was killed by %s instead of exiting; stderr:\n%s", ws.Signal(), p.stderr.String())
		}
		return ee.ExitCode()
	}
	t.Fatalf("waiting for the auditor: %v", p.err)
	return -1
}

// requireOneLineError checks that stderr is one "error: " line holding each of wants, and
// none of Go's internals: no stack, no bare context errors.
func requireOneLineError(t *testing.T, stderr string, wants ...string) {
	t.Helper()
	line := strings.TrimSuffix(stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "error: ") {
		t.Errorf("stderr is not one error line:\n%s", stderr)
		return
	}
	for _, w := range wants {
		if !strings.Contains(line, w) {
			t.Errorf("error line does not mention %q: %s", w, line)
		}
	}
	for _, jargon := range []string{"goroutine ", "panic", "context canceled", "context deadline exceeded", "rate limiter"} {
		if strings.Contains(line, jargon) {
			t.Errorf("error line has %q: %s", jargon, line)
		}
	}
	t.Log(line)
}

// dirContents maps each file of dir to its content.
func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func equalContents(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// auditLog is a kube-apiserver audit log of every LIST, which shows how far a run got.
type auditLog struct {
	path, policy string
}

func newAuditLog(t *testing.T) *auditLog {
	t.Helper()
	dir := t.TempDir()
	l := &auditLog{path: filepath.Join(dir, "audit.log"), policy: filepath.Join(dir, "policy.yaml")}
	policy := `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["list"]
- level: None
`
	if err := os.WriteFile(l.policy, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *auditLog) args() []string {
	// blocking (the default for the log backend): an event is written before the answer.
	return []string{"--audit-policy-file=" + l.policy, "--audit-log-path=" + l.path, "--audit-log-mode=blocking"}
}

// size is where the next run's events will start.
func (l *auditLog) size(t *testing.T) int64 {
	t.Helper()
	st, err := os.Stat(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// auditorLists counts the LISTs by the auditor (its user agent) answered since offset.
func (l *auditLog) auditorLists(t *testing.T, since int64) int {
	t.Helper()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(since, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Stage, Verb, UserAgent string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // a line being written
		}
		if ev.Stage == "ResponseComplete" && ev.Verb == "list" && strings.HasPrefix(ev.UserAgent, "storage-auditor/") {
			n++
		}
	}
	return n
}

// waitAuditorLists waits until n of p's LISTs were answered: the run is under way and,
// at slowRead's rate, far from done.
func (l *auditLog) waitAuditorLists(t *testing.T, since int64, n int, p *auditorProcess) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for l.auditorLists(t, since) < n {
		if !p.running() {
			t.Fatalf("the run ended before %d LISTs were seen in the audit log: stderr:\n%s", n, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d LISTs by the auditor in %s after a minute", n, l.path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
