package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	fakeclientset "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/storage-auditor/auditor/chart"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
	"github.com/storage-auditor/auditor/pkg/state/configmap"
	"github.com/storage-auditor/auditor/test/scenario"
)

// chartRelease is one release of the chart installed on the test control plane: its
// rendering, and a kubeconfig holding nothing but its ServiceAccount's token.
type chartRelease struct {
	name, namespace string
	rendered        *chart.Rendered
	fullname        string
	kubeconfig      string
}

// stateConfigMap is the release's state ConfigMap, as the chart names it.
func (r *chartRelease) stateConfigMap() string { return r.fullname + "-state" }

// TestChart installs the Helm chart's rendered objects on the real API server (which
// validates them, Pod Security "restricted" enforced on the release namespaces) and runs
// the auditor the chart would run, with nothing but the chart's ServiceAccount token:
// the ClusterRole is exactly what the live loader lists and is enough for a complete
// audit; the state Role lets the auditor keep its ConfigMap; serve answers /metrics with
// the Deployment's arguments; --fix fails per action without fix.enabled and applies with
// it.
func TestChart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cs := cp.Clientset()
	suffix := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	bin := buildAuditor(t)

	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	inst := newInstaller(t, ctx)
	inst.ensureServiceMonitorCRD(t, ctx)

	// Three releases: the defaults (CronJob, read-only); fixes on (CronJob) with the
	// dashboard; serve (Deployment) with fixes on, a ServiceMonitor, the dashboard and a
	// Slack Secret the chart makes.
	ro := inst.install(t, ctx, "ro", "chart-ro-"+suffix, sv.GitVersion, nil)
	fx := inst.install(t, ctx, "fx", "chart-fx-"+suffix, sv.GitVersion, map[string]any{
		"fix":     map[string]any{"enabled": true},
		"grafana": map[string]any{"dashboard": map[string]any{"enabled": true}},
	})
	srv := inst.install(t, ctx, "sv", "chart-sv-"+suffix, sv.GitVersion, map[string]any{
		"mode":           "deployment",
		"fix":            map[string]any{"enabled": true},
		"schedule":       "@every 1h",
		"serviceMonitor": map[string]any{"enabled": true},
		"grafana":        map[string]any{"dashboard": map[string]any{"enabled": true}},
		"slack":          map[string]any{"enabled": true, "webhookURL": "https://hooks.slack.com/services/T000/B000/chart-test"},
	})

	t.Run("the ClusterRole is exactly what the live loader lists", func(t *testing.T) {
		clusterWide, inNamespace := loaderLists(t)
		for _, r := range []*chartRelease{ro, fx, srv} {
			got := grants(t, getClusterRole(t, ctx, r.fullname+"-"+r.namespace+"-read").Rules)
			want := verbsOn(clusterWide, "get", "list")
			if !slices.Equal(got, want) {
				t.Errorf("%s: ClusterRole grants\n  %v\nthe live loader lists cluster-wide\n  %v", r.name, got, want)
			}
			// Kinds listed in one namespace only get a Role there, not a cluster-wide grant.
			for ns, resources := range inNamespace {
				role, err := cs.RbacV1().Roles(ns).Get(ctx, r.fullname+"-"+r.namespace+"-leases", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("%s: the loader lists %v in %s, and the chart has no Role there: %v", r.name, resources, ns, err)
				}
				if got, want := grants(t, role.Rules), verbsOn(resources, "get", "list"); !slices.Equal(got, want) {
					t.Errorf("%s: Role %s/%s grants %v, want %v", r.name, ns, role.Name, got, want)
				}
			}
			// Nothing else is bound to the ServiceAccount, anywhere.
			bound := boundRoles(t, ctx, r)
			want = []string{"ClusterRole/" + r.fullname + "-" + r.namespace + "-read", "Role/kube-system/" + r.fullname + "-" + r.namespace + "-leases",
				"Role/" + r.namespace + "/" + r.stateConfigMap()}
			if r == fx || r == srv {
				want = append(want, "ClusterRole/"+r.fullname+"-"+r.namespace+"-fix")
			}
			sort.Strings(want)
			if !slices.Equal(bound, want) {
				t.Errorf("%s: the ServiceAccount is bound to %v, want exactly %v", r.name, bound, want)
			}
			for _, role := range bound {
				checkNoSecretsNoWildcards(t, ctx, role)
			}
		}
		// The state Role: get and update of the one ConfigMap; create (RBAC cannot name
		// what does not exist yet).
		role, err := cs.RbacV1().Roles(ro.namespace).Get(ctx, ro.stateConfigMap(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"create configmaps", "get configmaps/" + ro.stateConfigMap(), "update configmaps/" + ro.stateConfigMap()}
		if got := grants(t, role.Rules); !slices.Equal(got, want) {
			t.Errorf("state Role grants %v, want %v", got, want)
		}
		// The fix ClusterRole writes only: patch, delete, and create of Events.
		for _, g := range grants(t, getClusterRole(t, ctx, fx.fullname+"-"+fx.namespace+"-fix").Rules) {
			verb, res, _ := strings.Cut(g, " ")
			if !(verb == "patch" || verb == "delete" || g == "create events") {
				t.Errorf("fix ClusterRole grants %s %s", verb, res)
			}
		}
		// And the token cannot read Secrets, not even the chart's Slack Secret.
		_, err = tokenClient(t, srv).CoreV1().Secrets(srv.namespace).Get(ctx, srv.fullname+"-slack", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("reading the Slack Secret with the auditor's token: %v, want forbidden", err)
		}
	})

	t.Run("a complete audit with only the chart's token", func(t *testing.T) {
		args := ro.cronJobArgs(t)
		for run := 1; run <= 2; run++ {
			code, stdout, stderr := runAuditor(t, ctx, bin, args...)
			if code != 0 {
				t.Fatalf("run %d: exit %d, want 0:\n%s", run, code, stderr)
			}
			var rep audit.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("run %d: the report is not JSON: %v\n%s", run, err, stdout)
			}
			if len(rep.Unreadable) > 0 {
				t.Errorf("run %d: unreadable with the chart's ClusterRole: %+v", run, rep.Unreadable)
			}
			for _, s := range rep.Skipped {
				t.Errorf("run %d: rule %s skipped: %s", run, s.Rule, s.Reason)
			}
			if strings.Contains(stderr, "state not kept") || strings.Contains(stderr, "forbidden") {
				t.Errorf("run %d: %s", run, stderr)
			}
			// The first run creates the state ConfigMap, the second reads and updates it
			// (get and update are limited to its name): it compares with the first.
			if run == 2 && rep.Changes == nil {
				t.Error("run 2 has no changes section: the state of run 1 was not read")
			}
		}
		cm, err := cs.CoreV1().ConfigMaps(ro.namespace).Get(ctx, ro.stateConfigMap(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the state ConfigMap was not written through the Role: %v", err)
		}
		for k, v := range configmap.Labels {
			if cm.Labels[k] != v {
				t.Errorf("state ConfigMap %s: label %s=%q, want %q", cm.Name, k, cm.Labels[k], v)
			}
		}
		if len(cm.Data)+len(cm.BinaryData) == 0 {
			t.Errorf("state ConfigMap %s holds nothing", cm.Name)
		}
	})

	t.Run("serve with the Deployment's arguments", func(t *testing.T) {
		if args := srv.containerArgs(t, "Deployment"); !slices.Contains(args, "--fix") || !slices.Contains(args, "--yes") {
			t.Errorf("deployment mode with fix.enabled: args %q lack --fix --yes", args)
		}
		serveWithChartArgs(t, bin, srv)
		if _, err := cs.CoreV1().ConfigMaps(srv.namespace).Get(ctx, srv.stateConfigMap(), metav1.GetOptions{}); err != nil {
			t.Errorf("serve did not keep its state in %s/%s: %v", srv.namespace, srv.stateConfigMap(), err)
		}
	})

	t.Run("fixes need fix.enabled", func(t *testing.T) {
		ns := "chart-fix-" + suffix
		claim := chartDriftScenario(t, ctx, cs, ns, suffix)
		scope := []string{"-n", ns, "--rules", "sts-template-drift"}
		action := "raise-claim-request  PersistentVolumeClaim/" + ns + "/" + claim

		// Read-only release: each action fails with forbidden, exit 5, the report is out.
		args := append(append(ro.cronJobArgs(t), "--fix", "--yes"), scope...)
		code, stdout, stderr := runAuditor(t, ctx, bin, args...)
		if code != 5 {
			t.Fatalf("read-only --fix: exit %d, want 5:\n%s", code, stderr)
		}
		var rep audit.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Findings) != 1 {
			t.Errorf("the report must still be written: %v, %d findings\n%s", err, len(rep.Findings), stdout)
		}
		if !fixResultLine(stderr, "failed", action) || !strings.Contains(stderr, `cannot patch resource "persistentvolumeclaims"`) ||
			!strings.Contains(stderr, "lack this permission") || strings.Contains(stderr, "panic") {
			t.Errorf("want a clear per-action failure for %s:\n%s", action, stderr)
		}
		pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil || pvc.Spec.Resources.Requests.Storage().String() != "1Gi" {
			t.Fatalf("the read-only run changed the claim: %v %v", err, pvc.Spec.Resources.Requests)
		}

		// fix.enabled: the chart's own arguments (--fix --yes) apply it, and record the Event.
		args = append(fx.cronJobArgs(t), scope...)
		if !slices.Contains(args, "--fix") || !slices.Contains(args, "--yes") {
			t.Fatalf("fix.enabled did not add --fix --yes: %q", args)
		}
		code, _, stderr = runAuditor(t, ctx, bin, args...)
		if code != 0 || !fixResultLine(stderr, "applied", action) {
			t.Fatalf("fix-enabled --fix: exit %d, want 0 and %s applied:\n%s", code, action, stderr)
		}
		pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil || pvc.Spec.Resources.Requests.Storage().String() != "2Gi" {
			t.Errorf("claim %s requests %v after the fix, want 2Gi (%v)", claim, pvc.Spec.Resources.Requests, err)
		}
		if !fixEvent(t, ctx, cs, ns, claim) {
			t.Errorf("no %s Event on %s/%s: the fix Role cannot create Events", "StorageAuditorFixed", ns, claim)
		}
	})
}

// waitDeleted waits until get reports the object gone; clean-up that cannot finish is
// logged, not failed: the test's verdict is already made.
func waitDeleted(t *testing.T, ctx context.Context, what string, get func(context.Context) error) {
	t.Helper()
	err := retry(ctx, func() error {
		if err := get(ctx); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s still exists (%v)", what, err)
		}
		return nil
	})
	if err != nil {
		t.Logf("clean-up: %v", err)
	}
}

// installer applies rendered objects with server-side apply and strict field
// validation, and remembers them for clean-up.
type installer struct {
	cs       kubernetes.Interface
	dyn      dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warningLog
}

// warningLog collects the API server's warnings (Pod Security's among them).
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func newInstaller(t *testing.T, ctx context.Context) *installer {
	t.Helper()
	rc := cp.RESTConfig()
	w := &warningLog{}
	rc.WarningHandler = w
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	cs := cp.Clientset()
	return &installer{cs: cs, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery())), warnings: w}
}

// apply server-side applies one YAML object and returns its resource client.
func (in *installer) apply(ctx context.Context, doc []byte) (*unstructured.Unstructured, dynamic.ResourceInterface, error) {
	obj := &unstructured.Unstructured{}
	if err := sigyaml.Unmarshal(doc, &obj.Object); err != nil {
		return nil, nil, err
	}
	gvk := obj.GroupVersionKind()
	m, err := in.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", gvk, err)
	}
	var ri dynamic.ResourceInterface = in.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = in.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, nil, err
	}
	out, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager: "storage-auditor-chart-test", Force: ptr.To(true), FieldValidation: metav1.FieldValidationStrict})
	return out, ri, err
}

// ensureServiceMonitorCRD installs the test's ServiceMonitor CRD unless the cluster has
// one, and removes it at the end if it installed it.
func (in *installer) ensureServiceMonitorCRD(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := in.mapper.RESTMapping(schemaGK("monitoring.coreos.com", "ServiceMonitor"), "v1"); err == nil {
		return
	}
	doc, err := os.ReadFile(filepath.Join("testdata", "chart", "servicemonitor-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd, ri, err := in.apply(ctx, doc)
	if err != nil {
		t.Fatalf("installing the ServiceMonitor CRD: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ri.Delete(ctx, crd.GetName(), metav1.DeleteOptions{})
	})
	if err := retry(ctx, func() error {
		in.mapper.Reset()
		_, err := in.mapper.RESTMapping(schemaGK("monitoring.coreos.com", "ServiceMonitor"), "v1")
		return err
	}); err != nil {
		t.Fatalf("the ServiceMonitor CRD is not served: %v", err)
	}
}

// install renders the chart for one release and applies every object: the namespace
// first, with Pod Security "restricted" enforced; then the objects in Helm's install
// order. Each workload's pod template is also created as a Pod (server dry run), which
// Pod Security admission refuses if the pod is not restricted. It writes a kubeconfig
// holding only the release's ServiceAccount token.
func (in *installer) install(t *testing.T, ctx context.Context, name, ns, kubeVersion string, values map[string]any) *chartRelease {
	t.Helper()
	rendered, err := chart.Render(chart.Release{Name: name, Namespace: ns, Values: values, KubeVersion: kubeVersion})
	if err != nil {
		t.Fatalf("rendering %s: %v", name, err)
	}
	r := &chartRelease{name: name, namespace: ns, rendered: rendered}
	if sa := rendered.Find("ServiceAccount", name+"-storage-auditor"); sa == nil {
		t.Fatalf("%s: no ServiceAccount %s-storage-auditor: %v", name, name, rendered.Kinds())
	}
	r.fullname = name + "-storage-auditor"
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
		"pod-security.kubernetes.io/audit": "restricted"}}}
	if _, err := in.cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Cluster-scoped and kube-system objects outlive the namespace: delete them all.
		for _, m := range rendered.Manifests {
			obj, ri, err := in.objectClient(m.Content)
			if err == nil && obj.GetNamespace() != ns {
				_ = ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
			}
		}
		_ = in.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		waitDeleted(t, ctx, "namespace "+ns, func(ctx context.Context) error {
			_, err := in.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err
		})
	})
	in.warnings.take()
	for _, m := range rendered.Manifests {
		if _, _, err := in.apply(ctx, []byte(m.Content)); err != nil {
			t.Fatalf("%s: applying %s (%s): %v\n%s", name, m.Head.Kind, m.Name, err, m.Content)
		}
	}
	if w := in.warnings.take(); len(w) > 0 {
		t.Errorf("%s: the API server warned while applying: %q", name, w)
	}
	for _, kind := range []string{"CronJob", "Deployment"} {
		m := rendered.Find(kind, r.fullname)
		if m == nil {
			continue
		}
		var wl struct {
			Spec struct {
				Template    *corev1.PodTemplateSpec `json:"template"`
				JobTemplate *struct {
					Spec struct {
						Template corev1.PodTemplateSpec `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		if err := sigyaml.Unmarshal([]byte(m.Content), &wl); err != nil {
			t.Fatal(err)
		}
		tpl := wl.Spec.Template
		if wl.Spec.JobTemplate != nil {
			tpl = &wl.Spec.JobTemplate.Spec.Template
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: r.fullname + "-psa", Namespace: ns, Labels: tpl.Labels}, Spec: tpl.Spec}
		if _, err := in.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("%s: the %s's pod is refused in a restricted namespace: %v", name, kind, err)
		}
	}
	tok, err := in.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, r.fullname, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(1800))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.kubeconfig = writeKubeconfig(t, tok.Status.Token)
	return r
}

// objectClient decodes a YAML object and returns the dynamic client of its resource.
func (in *installer) objectClient(doc string) (*unstructured.Unstructured, dynamic.ResourceInterface, error) {
	obj := &unstructured.Unstructured{}
	if err := sigyaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		return nil, nil, err
	}
	gvk := obj.GroupVersionKind()
	m, err := in.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return obj, in.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return obj, in.dyn.Resource(m.Resource), nil
}

// cronJobArgs are the CronJob container's arguments, run from here: the config file the
// chart mounts written to a temporary file, the report as JSON, the token's kubeconfig.
func (r *chartRelease) cronJobArgs(t *testing.T) []string {
	t.Helper()
	args := r.containerArgs(t, "CronJob")
	if args[0] != "run" || argAfter(args, "--fail-on") != "none" {
		t.Fatalf("CronJob args %q: want run --fail-on none", args)
	}
	for i := range args {
		if i > 0 && args[i-1] == "--output" {
			args[i] = "json"
		}
	}
	return append(args, "--kubeconfig", r.kubeconfig)
}

// containerArgs returns the args of the workload's container with --config pointing at
// the rendered config file.
func (r *chartRelease) containerArgs(t *testing.T, kind string) []string {
	t.Helper()
	m := r.rendered.Find(kind, r.fullname)
	if m == nil {
		t.Fatalf("%s: no %s rendered", r.name, kind)
	}
	var spec struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Template corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := sigyaml.Unmarshal([]byte(m.Content), &spec); err != nil {
		t.Fatal(err)
	}
	pod := spec.Spec.Template
	if kind == "CronJob" {
		pod = spec.Spec.JobTemplate.Spec.Template
	}
	args := slices.Clone(pod.Spec.Containers[0].Args)
	var cm corev1.ConfigMap
	if err := sigyaml.Unmarshal([]byte(r.rendered.Find("ConfigMap", r.fullname).Content), &cm); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "auditor.yaml")
	if err := os.WriteFile(cfg, []byte(cm.Data["auditor.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	i := slices.Index(args, "/etc/storage-auditor/auditor.yaml")
	if i < 1 || args[i-1] != "--config" {
		t.Fatalf("%s args %q do not read the mounted config", kind, args)
	}
	args[i] = cfg
	if got := argAfter(args, "--state-configmap"); got != r.namespace+"/"+r.stateConfigMap() {
		t.Fatalf("%s args: --state-configmap %q, want %s/%s", kind, got, r.namespace, r.stateConfigMap())
	}
	return args
}

func schemaGK(group, kind string) schema.GroupKind { return schema.GroupKind{Group: group, Kind: kind} }

func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// serveWithChartArgs runs `auditor serve` with the Deployment's arguments (listening on
// a free local port instead of :8080) and the release's token, waits for the start-up
// run to show in /metrics as complete, and stops it with SIGTERM.
func serveWithChartArgs(t *testing.T, bin string, r *chartRelease) {
	t.Helper()
	args := r.containerArgs(t, "Deployment")
	if args[0] != "serve" || !slices.Contains(args, "--run-on-start=true") {
		t.Fatalf("Deployment args %q: want serve --run-on-start=true", args)
	}
	// The chart's --listen (a port in the pod) is replaced by startServe's 127.0.0.1:0.
	i := slices.Index(args, "--listen")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("Deployment args %q: want --listen ADDR", args)
	}
	args = slices.Delete(args, i, i+2)
	// With fix.enabled serve applies safe fixes; keep them to the release's own namespace
	// so other tests' scenarios on the shared control plane are left as they are.
	args = append(args, "--kubeconfig", r.kubeconfig, "-n", r.namespace)
	s := startServe(t, bin, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, args[1:]...)
	// The run on start is done when /metrics says how it went.
	s.waitRuns(t, 1, time.Minute)
	metrics, err := s.get("/metrics")
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	for _, want := range []string{"\nstorage_auditor_last_run_success 1\n", "\nstorage_auditor_last_run_partial 0\n", "\nstorage_auditor_runs_total{result=\"success\"} 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q: the start-up run with the chart's token was not complete\n%s", strings.TrimSpace(want), s.log())
		}
	}
	if body, err := s.get("/healthz"); err != nil || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %q %v", body, err)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, s.log())
	}
	if strings.Contains(s.log(), "forbidden") {
		t.Errorf("serve logged a permission error:\n%s", s.log())
	}
}

// loaderLists runs the live loader against a fake clientset and records every LIST it
// makes: the resources it lists in all namespaces or cluster-wide, and those it lists in
// one namespace only. Every kind of snapshot.AllKinds must be among them.
func loaderLists(t *testing.T) (clusterWide []string, inNamespace map[string][]string) {
	t.Helper()
	fake := fakeclientset.NewClientset()
	var mu sync.Mutex
	all, one := map[string]bool{}, map[string]map[string]bool{}
	fake.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		gr := a.GetResource().GroupResource().String() // "pods", "storageclasses.storage.k8s.io"
		if a.GetNamespace() == "" {
			all[gr] = true
		} else {
			if one[a.GetNamespace()] == nil {
				one[a.GetNamespace()] = map[string]bool{}
			}
			one[a.GetNamespace()][gr] = true
		}
		return false, nil, nil
	})
	if _, err := live.Load(context.Background(), fake, "fake", live.Options{}); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for gr := range all {
		listed[strings.SplitN(gr, ".", 2)[0]] = true
	}
	inNamespace = map[string][]string{}
	for ns, set := range one {
		for gr := range set {
			listed[strings.SplitN(gr, ".", 2)[0]] = true
			inNamespace[ns] = append(inNamespace[ns], gr)
		}
		sort.Strings(inNamespace[ns])
	}
	for _, k := range snapshot.AllKinds {
		if !listed[k.Resource()] {
			t.Errorf("the live loader does not list %s (%s) of snapshot.AllKinds", k, k.Resource())
		}
	}
	if len(listed) != len(snapshot.AllKinds) {
		t.Errorf("the live loader lists %d resources, snapshot.AllKinds has %d kinds", len(listed), len(snapshot.AllKinds))
	}
	for gr := range all {
		clusterWide = append(clusterWide, gr)
	}
	sort.Strings(clusterWide)
	return clusterWide, inNamespace
}

// verbsOn lists "verb group-resource" for every verb and resource ("list pods",
// "get storageclasses.storage.k8s.io"), sorted: the shape grants returns.
func verbsOn(resources []string, verbs ...string) []string {
	var out []string
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, v+" "+r)
		}
	}
	sort.Strings(out)
	return out
}

// grants flattens RBAC rules to sorted "verb resource[.group][/name]" lines. Rules with
// non-resource URLs fail the test: the auditor needs none.
func grants(t *testing.T, rules []rbacv1.PolicyRule) []string {
	t.Helper()
	var out []string
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v grants non-resource URLs", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				gr := res
				if g != "" {
					gr += "." + g
				}
				for _, v := range r.Verbs {
					if len(r.ResourceNames) == 0 {
						out = append(out, v+" "+gr)
					}
					for _, n := range r.ResourceNames {
						out = append(out, v+" "+gr+"/"+n)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func getClusterRole(t *testing.T, ctx context.Context, name string) *rbacv1.ClusterRole {
	t.Helper()
	role, err := cp.Clientset().RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return role
}

// boundRoles lists every role bound to the release's ServiceAccount, anywhere:
// "ClusterRole/name" or "Role/namespace/name".
func boundRoles(t *testing.T, ctx context.Context, r *chartRelease) []string {
	t.Helper()
	cs := cp.Clientset()
	isSA := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Namespace == r.namespace && s.Name == r.fullname
		})
	}
	var out []string
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		if isSA(b.Subjects) {
			out = append(out, b.RoleRef.Kind+"/"+b.RoleRef.Name)
		}
	}
	rbs, err := cs.RbacV1().RoleBindings(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rbs.Items {
		if isSA(b.Subjects) {
			ref := b.RoleRef.Kind + "/" + b.Namespace + "/" + b.RoleRef.Name
			if b.RoleRef.Kind == "ClusterRole" {
				ref = "ClusterRole(in " + b.Namespace + ")/" + b.RoleRef.Name
			}
			out = append(out, ref)
		}
	}
	sort.Strings(out)
	return out
}

// checkNoSecretsNoWildcards fails on a rule of the bound role that names Secrets or uses
// "*" anywhere.
func checkNoSecretsNoWildcards(t *testing.T, ctx context.Context, ref string) {
	t.Helper()
	cs := cp.Clientset()
	var rules []rbacv1.PolicyRule
	parts := strings.Split(ref, "/")
	switch {
	case parts[0] == "ClusterRole" && len(parts) == 2:
		rules = getClusterRole(t, ctx, parts[1]).Rules
	case parts[0] == "Role" && len(parts) == 3:
		role, err := cs.RbacV1().Roles(parts[1]).Get(ctx, parts[2], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules = role.Rules
	default:
		t.Fatalf("unexpected binding %s", ref)
	}
	for _, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			if slices.Contains(list, "*") {
				t.Errorf("%s: rule %+v uses *", ref, r)
			}
		}
		if slices.ContainsFunc(r.Resources, func(s string) bool { return strings.HasPrefix(s, "secrets") }) {
			t.Errorf("%s: rule %+v names Secrets", ref, r)
		}
		for _, v := range r.Verbs {
			if v == "watch" || v == "escalate" || v == "bind" || v == "impersonate" || v == "deletecollection" {
				t.Errorf("%s: rule %+v grants %s", ref, r, v)
			}
		}
	}
}

// tokenClient is a clientset with the release's token only.
func tokenClient(t *testing.T, r *chartRelease) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", r.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// chartDriftScenario makes one finding with a safe fix in namespace ns: StatefulSet db's
// claim requests 1Gi under a 2Gi template, in a class that expands (sts-template-drift,
// raise-claim-request). It returns the claim's name. The class and the volume are
// deleted when the test ends.
func chartDriftScenario(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, suffix string) string {
	t.Helper()
	env := &scenario.Env{CS: cs, Log: t.Logf}
	class, pvName, claim := "chart-expand-"+suffix, "chart-db-0-"+suffix, "data-db-0"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		_ = cs.CoreV1().PersistentVolumes().Delete(ctx, pvName, metav1.DeleteOptions{})
		_ = cs.StorageV1().StorageClasses().Delete(ctx, class, metav1.DeleteOptions{})
		// The volume goes once its claim does (pv-protection): wait, so that no later
		// test's whole-cluster audit sees this one's leftovers.
		waitDeleted(t, ctx, "PersistentVolume "+pvName, func(ctx context.Context) error {
			_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
			return err
		})
	})
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	retain, immediate := corev1.PersistentVolumeReclaimRetain, storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: scenario.Driver,
		ReclaimPolicy: &retain, VolumeBindingMode: &immediate, AllowVolumeExpansion: ptr.To(true)}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, scenario.CSIPV(pvName, class, "1Gi", retain), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, scenario.Claim(ns, claim, class, "1Gi", pvName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitClaimBound(ctx, ns, claim); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, scenario.StatefulSet(ns, "db", 1, class, "2Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Let the StatefulSet controller settle, so the audit sees what the fix will see.
	if err := retry(ctx, func() error {
		st, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if st.Status.ObservedGeneration != st.Generation || st.Status.Replicas != 1 {
			return fmt.Errorf("StatefulSet db not settled: %+v", st.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return claim
}
