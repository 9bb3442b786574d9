package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/internal/cli"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/fix"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// The fault tests' objects are cluster-scoped and named ffault-* (a claim in "default"
// too), in classes of their own; everything, Events included, is removed when the test
// ends.

// TestFixFaults applies one plan on the shared control plane while, between the plan
// and the apply, one target is edited, one deleted, and one edited by someone else just
// before its PATCH goes out (the API server answers 409 to the planned resourceVersion).
// Every action gets exactly one result of its own; the untouched ones are applied;
// nothing is written to the others.
func TestFixFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	env := &scenario.Env{CS: cs, Log: t.Logf}
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	pvs := []string{"ffault-ok-a", "ffault-ok-b", "ffault-edited", "ffault-deleted", "ffault-conflict", "ffault-released"}
	ffaultCleanup(t, cs, pvs, []string{"ffault-spare", "ffault-local-path"}, "ffault-old")

	retain := corev1.PersistentVolumeReclaimRetain
	for _, sc := range []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "ffault-spare"}, Provisioner: "kubernetes.io/no-provisioner", ReclaimPolicy: &retain,
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)},
		// local-path promising expansion: sc-expansion-unsupported, fix disable-expansion.
		{ObjectMeta: metav1.ObjectMeta{Name: "ffault-local-path"}, Provisioner: "rancher.io/local-path", AllowVolumeExpansion: ptr.To(true)},
	} {
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Available Retain PVs without claimRef (pv-available-unreserved, fix reserve-pv), and
	// one Released by its deleted claim (pv-released-retained, destructive: not allowed).
	for _, name := range pvs {
		fixCreatePV(t, ctx, cs, scenario.CSIPV(name, "ffault-spare", "1Gi", retain))
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Create(ctx,
		scenario.Claim(metav1.NamespaceDefault, "ffault-old", "ffault-spare", "1Gi", "ffault-released"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitClaimBound(ctx, metav1.NamespaceDefault, "ffault-old"); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Delete(ctx, "ffault-old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitPVPhase(ctx, "ffault-released", corev1.VolumeReleased); err != nil {
		t.Fatal(err)
	}
	for _, name := range pvs[:5] {
		if err := env.WaitPVPhase(ctx, name, corev1.VolumeAvailable); err != nil {
			t.Fatal(err)
		}
	}

	var objects []string
	for _, name := range pvs {
		objects = append(objects, "PersistentVolume/"+name)
	}
	plan := fix.NewPlan(fixReport(t, append(objects, "StorageClass/ffault-local-path")...), fix.Policy{}, time.Now())
	if len(plan.Actions) != 7 || plan.Allowed() != 6 {
		t.Fatalf("plan: %d actions, %d allowed; want 7 and 6", len(plan.Actions), plan.Allowed())
	}

	// Between the plan and the apply: (a) an edit, (b) a deletion.
	edited, err := cs.CoreV1().PersistentVolumes().Patch(ctx, "ffault-edited", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"edited":"by-someone"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumes().Delete(ctx, "ffault-deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(ctx, "PV ffault-deleted", fixGetter(cs, audit.ObjectRef{Kind: "PersistentVolume", Name: "ffault-deleted"})); err != nil {
		t.Fatal(err)
	}
	// (c) Someone edits ffault-conflict after the applier re-read it, just before its PATCH
	// goes out: the API server itself must refuse the planned resourceVersion.
	var concurrent *corev1.PersistentVolume
	var conflictStatus int
	rc := cp.RESTConfig()
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, "/persistentvolumes/ffault-conflict") {
				return rt.RoundTrip(req)
			}
			var err error
			concurrent, err = cs.CoreV1().PersistentVolumes().Patch(req.Context(), "ffault-conflict", types.MergePatchType,
				[]byte(`{"metadata":{"labels":{"edited":"concurrently"}}}`), metav1.PatchOptions{})
			if err != nil {
				return nil, fmt.Errorf("the test's concurrent edit: %w", err)
			}
			resp, err := rt.RoundTrip(req)
			if err == nil {
				conflictStatus = resp.StatusCode
			}
			return resp, err
		})
	})
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}

	results := (&fix.Applier{Client: client}).Apply(ctx, plan)
	var printed bytes.Buffer
	if err := fix.PrintResults(&printed, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("results:\n%s", printed.String())

	if len(results) != len(plan.Actions) {
		t.Fatalf("%d results for %d actions", len(results), len(plan.Actions))
	}
	want := map[string]struct {
		outcome fix.Outcome
		detail  string
	}{
		"reserve-pv PersistentVolume/ffault-ok-a":              {fix.Applied, "patched PersistentVolume/ffault-ok-a; Event StorageAuditorFixed recorded"},
		"reserve-pv PersistentVolume/ffault-ok-b":              {fix.Applied, "patched PersistentVolume/ffault-ok-b; Event StorageAuditorFixed recorded"},
		"disable-expansion StorageClass/ffault-local-path":     {fix.Applied, "patched StorageClass/ffault-local-path"},
		"reserve-pv PersistentVolume/ffault-edited":            {fix.Skipped, "PersistentVolume/ffault-edited changed since the audit (resourceVersion "},
		"reserve-pv PersistentVolume/ffault-deleted":           {fix.Skipped, "PersistentVolume/ffault-deleted no longer exists (deleted since the audit)"},
		"reserve-pv PersistentVolume/ffault-conflict":          {fix.Skipped, "PersistentVolume/ffault-conflict was changed by someone else while applying (409 Conflict"},
		"delete-claim-and-pv PersistentVolume/ffault-released": {fix.NotAllowed, "needs --allow destructive"},
	}
	for i, r := range results {
		key := r.Action.Fix.Action + " " + r.Action.Target().ObjectRef.String()
		if r.Action != plan.Actions[i] {
			t.Errorf("result %d is of action #%d, not #%d", i, r.Action.N, plan.Actions[i].N)
		}
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected action %s: %+v", key, r)
			continue
		}
		delete(want, key)
		if r.Outcome != w.outcome || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s with %q", key, r.Outcome, r.Detail, w.outcome, w.detail)
		}
		// The printed line of each action names its outcome, action and object.
		if !fixResultLine(printed.String(), string(r.Outcome), r.Action.Fix.Action+"  "+r.Action.Target().ObjectRef.String()) {
			t.Errorf("no printed line for %s %s", r.Outcome, key)
		}
	}
	for key := range want {
		t.Errorf("no result for %s", key)
	}
	if !strings.Contains(printed.String(), "Fix results: 3 applied, 3 skipped, 1 not allowed.") {
		t.Errorf("totals:\n%s", printed.String())
	}
	if conflictStatus != http.StatusConflict {
		t.Errorf("the planned PATCH of ffault-conflict got %d from the API server, want 409", conflictStatus)
	}

	// Nothing was written to the objects whose action did not apply; the applied ones
	// carry the reservation.
	for name, rv := range map[string]string{"ffault-edited": edited.ResourceVersion, "ffault-conflict": concurrent.ResourceVersion, "ffault-released": ""} {
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, fixed := pv.Annotations[audit.FixedByAnnotation]; fixed || (rv != "" && pv.ResourceVersion != rv) ||
			(name != "ffault-released" && pv.Spec.ClaimRef != nil) {
			t.Errorf("PV %s was written: resourceVersion %s (want %s), claimRef %+v, annotations %v", name, pv.ResourceVersion, rv, pv.Spec.ClaimRef, pv.Annotations)
		}
	}
	if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, "ffault-deleted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PV ffault-deleted: %v, want NotFound (a patch must not re-create it)", err)
	}
	for _, name := range []string{"ffault-ok-a", "ffault-ok-b"} {
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != audit.ReservedNamespace || ref.Name != name {
			t.Errorf("PV %s: claimRef %+v, want the placeholder", name, pv.Spec.ClaimRef)
		}
	}
	if sc, err := cs.StorageV1().StorageClasses().Get(ctx, "ffault-local-path", metav1.GetOptions{}); err != nil || sc.AllowVolumeExpansion == nil || *sc.AllowVolumeExpansion {
		t.Errorf("StorageClass ffault-local-path still allows expansion (%v)", err)
	}
}

// TestFixAPIServerDown stops a dedicated kube-apiserver right after the first action's
// write succeeded: that action is applied, and every later one fails on its own line,
// naming its object and the server, without Apply waiting on the dead server. Through
// the CLI (a TLS proxy in front of the API server lets the test act at that moment) the
// exit code is 5.
func TestFixAPIServerDown(t *testing.T) {
	t.Run("applier", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dcp := ffaultControlPlane(t, ctx)
		names := []string{"ffault-down-1", "ffault-down-2", "ffault-down-3"}
		ffaultAvailablePVs(t, ctx, dcp.Clientset(), names...)
		var objects []string
		for _, n := range names {
			objects = append(objects, "PersistentVolume/"+n)
		}
		plan := fix.NewPlan(fixReportFrom(t, dcp.Kubeconfig, objects...), fix.Policy{}, time.Now())

		// Once the first PATCH has its answer (read in full), kube-apiserver is stopped
		// before the applier sees the answer.
		var once sync.Once
		var stopErr error
		var firstPatch string
		var firstBody []byte
		rc := dcp.RESTConfig()
		rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := rt.RoundTrip(req)
				if err != nil || req.Method != http.MethodPatch || resp.StatusCode != http.StatusOK {
					return resp, err
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return nil, err
				}
				resp.Body = io.NopCloser(bytes.NewReader(body))
				once.Do(func() {
					firstPatch, firstBody = req.URL.Path, body
					stopErr = dcp.StopAPIServer()
				})
				return resp, nil
			})
		})
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		results := (&fix.Applier{Client: client}).Apply(ctx, plan)
		if stopErr != nil || dcp.APIServerRunning() {
			t.Fatalf("stopping kube-apiserver: %v", stopErr)
		}
		if ctx.Err() != nil {
			t.Fatalf("Apply returned only when its context ended: %v", ctx.Err())
		}
		var printed bytes.Buffer
		if err := fix.PrintResults(&printed, results); err != nil {
			t.Fatal(err)
		}
		t.Logf("results:\n%s", printed.String())
		if len(results) != len(plan.Actions) || len(results) != 3 {
			t.Fatalf("%d results for %d actions, want 3", len(results), len(plan.Actions))
		}
		first := results[0]
		if first.Outcome != fix.Applied || !strings.Contains(first.Detail, "patched "+first.Action.Target().ObjectRef.String()) ||
			!strings.Contains(first.Detail, "the Event was not recorded") || !strings.HasSuffix(firstPatch, "/"+first.Action.Target().Name) ||
			!strings.Contains(string(firstBody), audit.ReservedNamespace) {
			t.Errorf("#1: %s %q (the PATCH that went through: %s)", first.Outcome, first.Detail, firstPatch)
		}
		for _, r := range results[1:] {
			for _, want := range []string{"not attempted: the API server " + dcp.URL + " stopped answering during #1",
				"connection refused", "nothing was sent for " + r.Action.Target().ObjectRef.String()} {
				if r.Outcome != fix.Failed || !strings.Contains(r.Detail, want) {
					t.Errorf("#%d: %s %q, want failed with %q", r.Action.N, r.Outcome, r.Detail, want)
				}
			}
			if !fixResultLine(printed.String(), "failed", "reserve-pv  "+r.Action.Target().ObjectRef.String()) {
				t.Errorf("no printed failed line for %s", r.Action.Target().ObjectRef)
			}
		}
		if !fix.AnyFailed(results) {
			t.Error("AnyFailed = false: the CLI would not exit 5")
		}
	})

	t.Run("cli exits 5", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dcp := ffaultControlPlane(t, ctx)
		names := []string{"ffault-down-1", "ffault-down-2", "ffault-down-3"}
		ffaultAvailablePVs(t, ctx, dcp.Clientset(), names...)
		proxy := ffaultProxy(t, dcp)
		code, stdout, stderr := fixCLI("run", "--kubeconfig", proxy.kubeconfig, "--rules", "pv-available-unreserved", "--fix", "--yes")
		t.Logf("auditor run --fix: exit %d\n%s\n%s", code, stdout, stderr)
		if proxy.stopErr != nil || dcp.APIServerRunning() {
			t.Fatalf("kube-apiserver was not stopped: %v", proxy.stopErr)
		}
		if code != cli.ExitFixFailed || !strings.Contains(stderr, "at least one action failed") {
			t.Fatalf("exit %d, want %d (an action failed)", code, cli.ExitFixFailed)
		}
		applied := 0
		for _, n := range names {
			obj := "reserve-pv  PersistentVolume/" + n
			switch {
			case fixResultLine(stdout, "applied", obj):
				applied++
			case !fixResultLine(stdout, "failed", obj):
				t.Errorf("no applied or failed line for %s", n)
			}
		}
		if applied != 1 || strings.Count(stdout, "not attempted: the API server "+proxy.url+" stopped answering during #1") != 2 ||
			!strings.Contains(stdout, "Fix results: 1 applied, 2 failed.") {
			t.Errorf("want #1 applied and the 2 others not attempted, naming %s:\n%s", proxy.url, stdout)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ffaultControlPlane starts a control plane of the test's own (no controller-manager: the
// test writes the status controllers would), stopped when the test ends.
func ffaultControlPlane(t *testing.T, ctx context.Context) *controlplane.ControlPlane {
	t.Helper()
	dcp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dcp.Stop(); err != nil {
			t.Error(err)
		}
	})
	return dcp
}

// ffaultAvailablePVs creates Retain PVs and marks them Available, as the PV controller
// would.
func ffaultAvailablePVs(t *testing.T, ctx context.Context, cs kubernetes.Interface, names ...string) {
	t.Helper()
	for _, name := range names {
		pv, err := cs.CoreV1().PersistentVolumes().Create(ctx, scenario.CSIPV(name, "ffault-spare", "1Gi", corev1.PersistentVolumeReclaimRetain), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pv.Status.Phase = corev1.VolumeAvailable
		if _, err := cs.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// downProxy is a TLS proxy in front of a control plane's API server. When the first
// PATCH of a PV has succeeded, before passing its answer on, it stops kube-apiserver and
// stops listening, closing every other connection: from then on the client's requests
// are refused, as by a dead server.
type downProxy struct {
	url        string
	kubeconfig string
	stopErr    error
}

func ffaultProxy(t *testing.T, dcp *controlplane.ControlPlane) *downProxy {
	t.Helper()
	backend, err := rest.TransportFor(dcp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(dcp.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = backend
	p := &downProxy{}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	down := false
	type connKey struct{}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			conns[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(conns, c)
		}
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isDown := down
		mu.Unlock()
		if isDown { // a connection that survived: drop it without an answer
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/persistentvolumes/") {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			p.stopErr = dcp.StopAPIServer()
			mu.Lock()
			down = true
			_ = srv.Listener.Close()
			mine := r.Context().Value(connKey{}).(net.Conn)
			for c := range conns {
				if c != mine {
					c.Close()
				}
			}
			mu.Unlock()
			w.Header().Set("Connection", "close")
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.url = srv.URL

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["down"] = &clientcmdapi.Cluster{Server: srv.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
	cfg.AuthInfos["down"] = &clientcmdapi.AuthInfo{} // the proxy authenticates to the API server
	cfg.Contexts["down"] = &clientcmdapi.Context{Cluster: "down", AuthInfo: "down"}
	cfg.CurrentContext = "down"
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig-proxy")
	if err := clientcmd.WriteToFile(*cfg, p.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

// ffaultCleanup removes the test's PVs, classes, claim and the Events recorded on them,
// and waits until the PVs are gone, so later tests audit a cluster without them.
func ffaultCleanup(t *testing.T, cs kubernetes.Interface, pvs, classes []string, claim string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceDefault).Delete(ctx, claim, metav1.DeleteOptions{})
		for _, name := range pvs {
			if err := cs.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting PV %s: %v", name, err)
			}
		}
		for _, name := range classes {
			if err := cs.StorageV1().StorageClasses().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting StorageClass %s: %v", name, err)
			}
		}
		for _, name := range append(pvs, classes...) {
			_ = cs.CoreV1().Events(metav1.NamespaceDefault).DeleteCollection(ctx, metav1.DeleteOptions{},
				metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		}
		env := &scenario.Env{CS: cs}
		for _, name := range pvs {
			if err := env.WaitGone(ctx, "PV "+name, fixGetter(cs, audit.ObjectRef{Kind: "PersistentVolume", Name: name})); err != nil {
				t.Error(err)
			}
		}
	})
}
