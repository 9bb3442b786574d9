package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/fix"
	"github.com/storage-auditor/auditor/test/controlplane"
)

// apiAuditDir holds the shared control plane's audit policy and log (apiAuditLogArgs);
// TestMain removes it after stopping the control plane.
var apiAuditDir string

// apiAuditLogArgs writes an audit policy that logs every request at the Metadata level
// (who, with which user agent, did what to which resource; no bodies) into a new
// temporary directory, and returns the kube-apiserver flags that log to
// apiAuditDir/audit.log. The log is written synchronously (blocking mode), so a request
// the auditor made is in the file by the time the auditor has its answer.
func apiAuditLogArgs() ([]string, error) {
	dir, err := os.MkdirTemp("", "storage-auditor-apiaudit-")
	if err != nil {
		return nil, err
	}
	apiAuditDir = dir
	policy := filepath.Join(dir, "policy.yaml")
	const doc = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + filepath.Join(dir, "audit.log"),
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=200", // MB before a rotation; apiAuditEvents reads the rotated files too
	}, nil
}

// apiAuditEvent is what the test reads of an audit.k8s.io/v1 Event.
type apiAuditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	RequestURI string `json:"requestURI"`
}

// apiAuditEvents reads every event logged so far, rotated files included.
func apiAuditEvents(t *testing.T) []apiAuditEvent {
	t.Helper()
	if apiAuditDir == "" {
		t.Fatal("the shared control plane runs without an audit log (see apiAuditLogArgs in main_test.go)")
	}
	files, err := filepath.Glob(filepath.Join(apiAuditDir, "audit*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no audit log in %s: %v", apiAuditDir, err)
	}
	var events []apiAuditEvent
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e apiAuditEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: not an audit event: %v", name, err)
			}
			events = append(events, e)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return events
}

// The objects of TestSecretsNeverLeak: namespace secrets-e2e, PVs named secrets-e2e-*
// in a class nothing else uses, so no other test's claim binds them.
const (
	secretsNS    = "secrets-e2e"
	secretsSA    = "secrets-e2e-auditor"
	secretsClass = "secrets-e2e-none"
	secretsState = secretsNS + "/auditor-state"
)

// TestSecretsNeverLeak runs the auditor binary in every mode that talks to the cluster or
// to Slack — run in each output format to a file and to stdout, with state in a file and
// in a ConfigMap, cost, run --fix --yes, run with Slack failing (5xx, a rejected bot
// token) and succeeding (webhook, and bot with the report attached), serve with /metrics
// — as a service account whose token is in the kubeconfig, with a webhook URL and a bot
// token in the environment and a Secret in the audited namespace. None of those four
// values appears in anything the auditor wrote: stdout, stderr, files, the state
// ConfigMap, the Events and annotations of its fix, /metrics, or what Slack received
// (the bot token only in the Authorization header). The API server's audit log shows the
// auditor's requests and not one on Secrets.
func TestSecretsNeverLeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	bin := buildAuditor(t)
	if err := controlplane.EnsureNamespace(ctx, cs, secretsNS); err != nil {
		t.Fatal(err)
	}

	// The secrets.
	webhookKey, botToken, secretValue := randomWord(t), "xoxb-"+randomWord(t), randomWord(t)
	slack := newSecretsSlack(t, "/services/T0AAA/B0BBB/"+webhookKey, botToken)
	webhookURL := slack.srv.URL + "/services/T0AAA/B0BBB/" + webhookKey
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-credentials", Namespace: secretsNS},
		StringData: map[string]string{"password": secretValue}}
	if _, err := cs.CoreV1().Secrets(secretsNS).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := secretsAuditorKubeconfig(t, ctx)
	kubeToken := kubeconfigToken(t, kubeconfig)
	secrets := map[string]string{
		"the kube token":                   kubeToken,
		"the webhook URL":                  webhookURL,
		"the webhook URL's random part":    webhookKey,
		"the bot token":                    botToken,
		"the bot token without its prefix": strings.TrimPrefix(botToken, "xoxb-"),
		"the Secret's value":               secretValue,
	}
	released, available := secretsFindings(t, ctx)

	work := t.TempDir() // every file the auditor may write is under it
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(work, "auditor.yaml")
	if err := os.WriteFile(cfg, []byte("slack:\n  attempts: 2\n  timeout: 10s\n  apiURL: "+slack.srv.URL+"/api/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--kubeconfig", kubeconfig, "-n", secretsNS, "--config", cfg}
	webhookEnv := []string{"SLACK_WEBHOOK_URL=" + webhookURL}
	botEnv := []string{"SLACK_BOT_TOKEN=" + botToken}
	bot := []string{"--slack-channel", "#storage", "--slack-attach", "json"}

	type mode struct {
		name  string
		args  []string
		env   []string
		slack string // how the fake Slack answers: ok, 500 or invalid_auth
		code  int
	}
	modes := []mode{
		{name: "json to a file, state in a ConfigMap, webhook failing", args: []string{"run", "-o", "json", "--output-file", filepath.Join(out, "report.json"), "--state-configmap", secretsState},
			env: webhookEnv, slack: "500", code: cli.ExitNotify},
		{name: "yaml to a file, state in a file, bot token rejected", args: append([]string{"run", "-o", "yaml", "--output-file", filepath.Join(out, "report.yaml"), "--state-file", filepath.Join(out, "state.json")}, bot...),
			env: botEnv, slack: "invalid_auth", code: cli.ExitNotify},
		{name: "markdown to a file, webhook", args: []string{"run", "-o", "markdown", "--output-file", filepath.Join(out, "report.md"), "--state-configmap", secretsState},
			env: webhookEnv, slack: "ok"},
		{name: "html to a file, bot with the report attached", args: append([]string{"run", "-o", "html", "--output-file", filepath.Join(out, "report.html"), "--state-file", filepath.Join(out, "state.json")}, bot...),
			env: botEnv, slack: "ok"},
		{name: "json to stdout, webhook", args: []string{"run", "-o", "json"}, env: append(webhookEnv, botEnv...), slack: "ok"},
		{name: "table to stdout", args: []string{"run"}},
		{name: "cost", args: []string{"cost", "-o", "json"}},
		{name: "cost table", args: []string{"cost"}},
	}
	var outputs []namedOutput
	for i, m := range modes {
		slack.setMode(m.slack)
		before := slack.count()
		code, stdout, stderr := runAuditorEnv(t, ctx, bin, filepath.Join(work, fmt.Sprintf("home-%d", i)), m.env, append(m.args, base...)...)
		if code != m.code {
			t.Errorf("%s: exit %d, want %d\n%s", m.name, code, m.code, stderr)
		}
		if m.slack != "" && slack.count() == before {
			t.Errorf("%s: nothing was sent to Slack", m.name)
		}
		outputs = append(outputs, namedOutput{m.name + ": stdout", stdout}, namedOutput{m.name + ": stderr", stderr})
	}
	if paths := slack.paths(); !containsInOrder(paths, "/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/F0REPORT", "/api/files.completeUploadExternal") {
		t.Errorf("the bot did not post and attach the report: requests %v", paths)
	}

	// --fix --yes applies the safe fix of the Available PV: a claimRef, annotations, an Event.
	fixCode, fixOut, fixErr := runAuditorEnv(t, ctx, bin, filepath.Join(work, "home-fix"), nil,
		append([]string{"run", "-o", "json", "--output-file", filepath.Join(out, "fix-report.json"), "--rules", "pv-available-unreserved", "--fix", "--yes"}, base...)...)
	outputs = append(outputs, namedOutput{"run --fix: stdout", fixOut}, namedOutput{"run --fix: stderr", fixErr})
	if want := secretsFixExit(t, ctx, available); fixCode != want || !strings.Contains(fixOut, "reserve-pv  PersistentVolume/"+available) {
		t.Errorf("run --fix --yes: exit %d, want %d, and the reserve-pv action on %s:\n%s\n%s", fixCode, want, available, fixOut, fixErr)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, available, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Annotations[audit.FixedByAnnotation] == "" || pv.Annotations[audit.ReservedForAnnotation] == "" {
		t.Errorf("the fix left no annotations on PV %s: %v", available, pv.Annotations)
	}
	outputs = append(outputs, namedOutput{"the fixed PV", jsonOf(t, pv)})
	events, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + available})
	if err != nil {
		t.Fatal(err)
	}
	fixEvents := 0
	for _, e := range events.Items {
		if e.Reason == fix.EventReason {
			fixEvents++
			outputs = append(outputs, namedOutput{"the fix's Event " + e.Name, jsonOf(t, e)})
		}
	}
	if fixEvents == 0 {
		t.Errorf("no %s Event on PV %s", fix.EventReason, available)
	}

	// serve: one scheduled run posting to the webhook, then /metrics.
	slack.setMode("ok")
	metrics, serveLog := serveOnce(t, bin, filepath.Join(work, "home-serve"), webhookEnv, base)
	outputs = append(outputs, namedOutput{"serve: /metrics", metrics}, namedOutput{"serve: log", serveLog})
	if !strings.Contains(metrics, "storage_auditor_findings") {
		t.Errorf("/metrics holds no findings:\n%.2000s", metrics)
	}

	// Everything written: files, the state ConfigMap, what Slack received.
	outputs = append(outputs, filesUnder(t, work, cfg)...)
	cm, err := cs.CoreV1().ConfigMaps(secretsNS).Get(ctx, "auditor-state", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the state ConfigMap: %v", err)
	}
	if len(cm.Data) == 0 {
		t.Error("the state ConfigMap is empty")
	}
	outputs = append(outputs, namedOutput{"the state ConfigMap", jsonOf(t, cm)})
	outputs = append(outputs, slack.received(t)...)

	for _, o := range outputs {
		for what, s := range secrets {
			if strings.Contains(o.text, s) {
				t.Errorf("%s holds %s", o.name, what)
			}
		}
	}
	// Non-vacuous: the reports name the findings the cluster has.
	for _, name := range []string{"report.json", "report.yaml", "report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Contains(b, []byte(released)) {
			t.Errorf("%s does not report PV %s: %v", name, released, err)
		}
	}

	// The API server saw the auditor (this test's user) and never a Secret request from it.
	user := "system:serviceaccount:" + secretsNS + ":" + secretsSA
	mine, bySecrets := 0, map[string]int{}
	for _, e := range apiAuditEvents(t) {
		if !strings.HasPrefix(e.UserAgent, "storage-auditor/") {
			continue
		}
		if e.User.Username == user {
			mine++
		}
		if e.ObjectRef != nil && e.ObjectRef.Resource == "secrets" {
			bySecrets[e.User.Username+" "+e.Verb+" "+e.RequestURI]++
		}
	}
	if mine == 0 {
		t.Errorf("the audit log has no request of %s with a storage-auditor/ user agent", user)
	}
	if len(bySecrets) > 0 {
		t.Errorf("the auditor requested Secrets: %v", bySecrets)
	}
	t.Logf("%d outputs checked; %d API requests of the auditor as %s, none on Secrets", len(outputs), mine, user)
}

type namedOutput struct{ name, text string }

func randomWord(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// secretsAuditorKubeconfig makes the auditor's service account: list on every kind it
// reads (limitedKubeconfig), its state ConfigMap in secretsNS, and the fix of this test's
// PVs only (get and patch them, check the placeholder claim, record Events). It may not
// read Secrets.
func secretsAuditorKubeconfig(t *testing.T, ctx context.Context) string {
	t.Helper()
	cs := cp.Clientset()
	kubeconfig := limitedKubeconfig(ctx, t, secretsNS, secretsSA, nil)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "auditor-state", Namespace: secretsNS},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"}}}}
	if _, err := cs.RbacV1().Roles(secretsNS).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: secretsNS, Name: secretsSA}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "auditor-state", Namespace: secretsNS},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "auditor-state"}, Subjects: sa}
	if _, err := cs.RbacV1().RoleBindings(secretsNS).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const fixRole = "secrets-e2e-fix"
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fixRole}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"persistentvolumes"}, Verbs: []string{"get", "patch"}, ResourceNames: []string{"secrets-e2e-available"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fixRole},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: fixRole}, Subjects: sa}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, fixRole, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(ctx, fixRole, metav1.DeleteOptions{})
		_ = cs.RbacV1().RoleBindings(secretsNS).Delete(ctx, "auditor-state", metav1.DeleteOptions{})
		_ = cs.RbacV1().Roles(secretsNS).Delete(ctx, "auditor-state", metav1.DeleteOptions{})
		_ = cs.CoreV1().ConfigMaps(secretsNS).Delete(ctx, "auditor-state", metav1.DeleteOptions{})
		_ = cs.CoreV1().Secrets(secretsNS).Delete(ctx, "db-credentials", metav1.DeleteOptions{})
	})
	return kubeconfig
}

func kubeconfigToken(t *testing.T, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Token
	if len(tok) < 20 {
		t.Fatalf("kubeconfig %s holds no token", path)
	}
	return tok
}

// secretsFindings creates a Released Retain PV of a claim in secretsNS (reported, no
// fix without --allow destructive) and an Available Retain PV (reported, its safe fix
// reserves it); it returns their names.
func secretsFindings(t *testing.T, ctx context.Context) (released, available string) {
	t.Helper()
	cs := cp.Clientset()
	released, available = "secrets-e2e-released", "secrets-e2e-available"
	for _, name := range []string{released, available} {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              secretsClass,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
			},
		}
		phase := corev1.VolumeAvailable
		if name == released {
			pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: secretsNS, Name: "gone", UID: types.UID("00000000-0000-0000-0000-00000000beef")}
			phase = corev1.VolumeReleased
		}
		created, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
		// The phase the PV controller would set (it may set it first; it sets the same).
		created.Status.Phase = phase
		if _, err := cs.CoreV1().PersistentVolumes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			if got, gerr := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{}); gerr != nil || got.Status.Phase != phase {
				t.Fatalf("setting PV %s %s: %v", name, phase, err)
			}
		}
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Events(metav1.NamespaceDefault).DeleteCollection(context.Background(), metav1.DeleteOptions{},
			metav1.ListOptions{FieldSelector: "involvedObject.name=" + available})
	})
	return released, available
}

// secretsFixExit is the exit code of the fix run: 0, or 5 when other tests left Available
// Retain PVs behind, whose reserve-pv this test's service account may not apply.
func secretsFixExit(t *testing.T, ctx context.Context, mine string) int {
	t.Helper()
	pvs, err := cp.Clientset().CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range pvs.Items {
		if pv.Name != mine && pv.Status.Phase == corev1.VolumeAvailable && pv.Spec.ClaimRef == nil &&
			pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain {
			return cli.ExitFixFailed
		}
	}
	return cli.ExitOK
}

// serveOnce runs serve until its first scheduled run is done, scrapes /metrics, stops it
// with SIGTERM and returns the metrics and the log.
func serveOnce(t *testing.T, bin, home string, env, base []string) (metrics, log string) {
	t.Helper()
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, bin, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...),
		append([]string{"--schedule", "@every 1s", "--run-on-start=false"}, base...)...)
	s.waitRuns(t, 1, time.Minute)
	metrics, err := s.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("serve exited with %v after SIGTERM:\n%s", err, s.log())
	}
	if strings.Contains(s.log(), `msg="notification failed"`) {
		t.Errorf("serve's digest was not posted:\n%s", s.log())
	}
	return metrics, s.log()
}

// filesUnder reads every file under dir except skip (the test's own config).
func filesUnder(t *testing.T, dir string, skip ...string) []namedOutput {
	t.Helper()
	var out []namedOutput
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, s := range skip {
			if path == s {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, namedOutput{"file " + strings.TrimPrefix(path, dir+"/"), string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Errorf("only %d files written under %s", len(out), dir)
	}
	return out
}

func containsInOrder(have []string, want ...string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// secretsSlack is Slack for TestSecretsNeverLeak: the incoming webhook at webhookPath
// and the Web API calls of posting with a bot token and attaching a file. It answers as
// its mode says and keeps every request.
type secretsSlack struct {
	srv         *httptest.Server
	webhookPath string
	token       string

	mu       sync.Mutex
	mode     string
	requests []slackRequest
}

type slackRequest struct {
	path, query string
	header      http.Header
	body        string
}

func newSecretsSlack(t *testing.T, webhookPath, token string) *secretsSlack {
	s := &secretsSlack{webhookPath: webhookPath, token: token, mode: "ok"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *secretsSlack) setMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

func (s *secretsSlack) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *secretsSlack) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []string
	for _, r := range s.requests {
		p = append(p, r.path)
	}
	return p
}

func (s *secretsSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, slackRequest{path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: string(body)})
	mode := s.mode
	s.mu.Unlock()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	authorized := r.Header.Get("Authorization") == "Bearer "+s.token
	switch {
	case mode == "500":
		http.Error(w, "upstream connect error", http.StatusInternalServerError)
	case r.URL.Path == s.webhookPath:
		fmt.Fprint(w, "ok")
	case !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/upload/F0REPORT":
		http.Error(w, "no_service", http.StatusNotFound)
	case mode == "invalid_auth" || !authorized:
		reply(map[string]any{"ok": false, "error": "invalid_auth"})
	case r.URL.Path == "/api/chat.postMessage":
		reply(map[string]any{"ok": true, "channel": "C0STORAGE", "ts": "1763631000.000100"})
	case r.URL.Path == "/api/files.getUploadURLExternal":
		reply(map[string]any{"ok": true, "upload_url": s.srv.URL + "/upload/F0REPORT", "file_id": "F0REPORT"})
	case r.URL.Path == "/upload/F0REPORT":
		fmt.Fprint(w, "OK - 123")
	case r.URL.Path == "/api/files.completeUploadExternal":
		reply(map[string]any{"ok": true, "files": []map[string]string{{"id": "F0REPORT", "title": "report"}}})
	default:
		reply(map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// received lists what Slack got that is not where a secret belongs: every body, query
// and header, less the webhook's own path and the Authorization header.
func (s *secretsSlack) received(t *testing.T) []namedOutput {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []namedOutput
	for i, r := range s.requests {
		name := fmt.Sprintf("Slack request %d (%s)", i+1, r.path)
		if r.path == s.webhookPath {
			name = fmt.Sprintf("Slack request %d (the webhook)", i+1)
		}
		out = append(out, namedOutput{name + " body", r.body}, namedOutput{name + " query", r.query})
		keys := make([]string, 0, len(r.header))
		for k := range r.header {
			if k != "Authorization" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var h strings.Builder
		for _, k := range keys {
			h.WriteString(k + ": " + strings.Join(r.header[k], ", ") + "\n")
		}
		out = append(out, namedOutput{name + " headers", h.String()})
	}
	if len(s.requests) == 0 {
		t.Error("Slack received nothing")
	}
	return out
}
