package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/state"
	"github.com/storage-auditor/auditor/pkg/state/configmap"
	"github.com/storage-auditor/auditor/test/controlplane"
)

// fakeSlack is an incoming-webhook endpoint that records every digest posted to it.
type fakeSlack struct {
	mu     sync.Mutex
	posts  []string
	notify chan struct{}
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.posts = append(f.posts, string(body))
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	fmt.Fprint(w, "ok")
}

// waitPost waits for a post beyond the first n and returns it.
func (f *fakeSlack) waitPost(t *testing.T, n int, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		if len(f.posts) > n {
			p := f.posts[n]
			f.mu.Unlock()
			return p
		}
		f.mu.Unlock()
		select {
		case <-f.notify:
		case <-deadline:
			t.Fatalf("no Slack post #%d within %s", n+1, timeout)
		}
	}
}

func (f *fakeSlack) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts)
}

// digestText flattens a Block Kit payload into its texts.
func digestText(t *testing.T, payload string) string {
	t.Helper()
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(payload), &msg); err != nil {
		t.Fatalf("digest is not JSON: %v\n%s", err, payload)
	}
	var b strings.Builder
	b.WriteString(msg.Text + "\n")
	for _, bl := range msg.Blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, e := range bl.Elements {
			b.WriteString(e.Text + "\n")
		}
	}
	return b.String()
}

// TestServeEndToEnd runs `auditor serve` as a process against the real control plane
// with a fake Slack and a fast schedule: the first digest reports two claims naming a
// missing StorageClass, one claim is then fixed (deleted), and the next digest lists it
// as resolved (with --slack-only-changes nothing is posted in between); the state
// ConfigMap holds the remaining finding's fingerprint, /metrics parses and counts it,
// and SIGTERM shuts the server down cleanly.
func TestServeEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	const ns = "serve-e2e"
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	claim := func(name string) *corev1.PersistentVolumeClaim {
		class := "class-that-was-deleted"
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &class,
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
	}
	for _, name := range []string{"orphan-claim", "kept-claim"} {
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, name := range []string{"orphan-claim", "kept-claim"} {
			_ = cs.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
		}
		_ = cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), "auditor-state", metav1.DeleteOptions{})
	})

	slack := &fakeSlack{notify: make(chan struct{}, 1)}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	const secret = "XyZsecretWebhookPath"
	bin := buildAuditor(t)
	srvProc := startServe(t, bin, append(os.Environ(), "SLACK_WEBHOOK_URL="+srv.URL+"/services/T000/B000/"+secret),
		"--kubeconfig", cp.Kubeconfig, "-n", ns, "--schedule", "@every 1s",
		"--state-configmap", ns+"/auditor-state", "--slack-only-changes")
	defer func() {
		if strings.Contains(srvProc.log(), secret) {
			t.Errorf("the server's log contains the webhook secret")
		}
		if t.Failed() {
			t.Logf("auditor serve log:\n%s", srvProc.log())
		}
	}()

	first := digestText(t, slack.waitPost(t, 0, time.Minute))
	for _, want := range []string{"sc-missing", "orphan-claim", "kept-claim", "new"} {
		if !strings.Contains(first, want) {
			t.Errorf("first digest lacks %q:\n%s", want, first)
		}
	}
	// Nothing changes for a few runs: --slack-only-changes keeps the channel quiet.
	srvProc.waitRuns(t, srvProc.runsDone()+3, time.Minute)
	if n := slack.count(); n != 1 {
		t.Errorf("%d digests posted while nothing changed, want 1 (--slack-only-changes)", n)
	}

	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "orphan-claim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := digestText(t, slack.waitPost(t, 1, time.Minute))
	resolved := second[strings.Index(second, "Resolved"):]
	if !strings.Contains(second, "Resolved") || !strings.Contains(resolved, "orphan-claim") {
		t.Errorf("second digest does not list orphan-claim as resolved:\n%s", second)
	}
	if !strings.Contains(second, "1 resolved") {
		t.Errorf("second digest does not count 1 resolved:\n%s", second)
	}

	// The state ConfigMap holds the open finding's fingerprint, not the resolved one's.
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "auditor-state", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Decode([]byte(cm.Data[configmap.DataKey]))
	if err != nil {
		t.Fatalf("state ConfigMap: %v\n%s", err, cm.Data[configmap.DataKey])
	}
	// (Cluster-scoped objects other tests left behind are audited too, -n or not.)
	held := map[string]bool{}
	for fp, e := range st.Findings {
		if len(fp) != 16 {
			t.Errorf("state key %q is not a fingerprint", fp)
		}
		held[e.RuleID+" "+e.Object.Namespace+"/"+e.Object.Name] = true
	}
	if !held["sc-missing serve-e2e/kept-claim"] || held["sc-missing serve-e2e/orphan-claim"] {
		t.Errorf("state holds %v, want the open sc-missing finding on kept-claim and not the resolved one on orphan-claim", held)
	}

	// /metrics parses with the Prometheus text parser and counts the open finding.
	metrics, err := srvProc.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	got := map[string]float64{}
	for _, m := range families["storage_auditor_findings"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["rule"]+"/"+labels["severity"]] = m.GetGauge().GetValue()
	}
	if got["sc-missing/critical"] != 1 {
		t.Errorf("storage_auditor_findings{rule=sc-missing,severity=critical} = %v, want 1", got["sc-missing/critical"])
	}
	if f := families["storage_auditor_last_run_success"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("storage_auditor_last_run_success is not 1: %v", f)
	}
	if body, err := srvProc.get("/healthz"); err != nil {
		t.Errorf("/healthz: %q %v", body, err)
	}

	if err := srvProc.stop(t); err != nil {
		t.Errorf("auditor serve exited with %v after SIGTERM, want 0", err)
	}
}
