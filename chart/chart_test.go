package chart_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/storage-auditor/auditor/chart"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

// kubeVersion is the cluster version the unit tests render for (the chart needs 1.27+).
const kubeVersion = "v1.36.0"

const (
	release   = "audit"
	namespace = "storage"
	fullname  = "audit-storage-auditor"
)

// vals builds a values map from YAML, so test cases read like a values file.
func vals(t *testing.T, doc string) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &out); err != nil {
		t.Fatalf("test values: %v", err)
	}
	return out
}

func render(t *testing.T, values map[string]any) *chart.Rendered {
	t.Helper()
	r, err := chart.Render(chart.Release{Name: release, Namespace: namespace, Values: values, KubeVersion: kubeVersion})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// object decodes the rendered manifest kind/name into out, failing when it is missing.
func object(t *testing.T, r *chart.Rendered, kind, name string, out any) {
	t.Helper()
	m := r.Find(kind, name)
	if m == nil {
		t.Fatalf("no %s/%s rendered; have %v", kind, name, r.Kinds())
	}
	if err := sigyaml.UnmarshalStrict([]byte(m.Content), out); err != nil {
		t.Fatalf("%s/%s does not decode strictly as %T: %v\n%s", kind, name, out, err, m.Content)
	}
}

// lintProblems runs helm lint and returns its warnings and errors (info is fine: the
// chart has no icon).
func lintProblems(values map[string]any) []support.Message {
	var out []support.Message
	for _, m := range lint.All(chart.Dir(), values, namespace, false).Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m)
		}
	}
	return out
}

// The value sets the chart is meant for: each must lint clean and render.
var validValues = map[string]string{
	"defaults": ``,
	"deployment with ServiceMonitor, dashboard and a chart-made Slack Secret": `
mode: deployment
schedule: "@every 6h"
timeZone: Europe/Berlin
serviceMonitor: {enabled: true, labels: {release: prometheus}}
grafana: {dashboard: {enabled: true, annotations: {grafana_folder: Storage}}}
slack: {enabled: true, webhookURL: "https://hooks.slack.com/services/T0/B0/x", onlyChanges: true}
`,
	"deployment with safe fixes": `
mode: deployment
fix: {enabled: true}
`,
	"cronjob with every fix class, an existing Slack Secret and a bot": `
fix: {enabled: true, allow: [disruptive, destructive]}
config:
  fix: {allow: [pv-released-retained]}
grafana: {dashboard: {enabled: true}}
slack: {enabled: true, existingSecret: team-slack, channel: "#storage", minSeverity: warning}
extraArgs: ["--qps", "20"]
extraEnv: [{name: GOMEMLIMIT, value: 400MiB}]
tolerations: [{key: dedicated, operator: Exists}]
nodeSelector: {kubernetes.io/os: linux}
`,
}

func TestChartLint(t *testing.T) {
	for name, doc := range validValues {
		t.Run(name, func(t *testing.T) {
			v := vals(t, doc)
			if problems := lintProblems(v); len(problems) > 0 {
				t.Errorf("helm lint: %v", problems)
			}
			render(t, v) // lint mode skips `fail`: rendering proves the values agree
		})
	}

	// Typos and wrong values stop at the schema, naming the value.
	for _, c := range []struct{ name, values, want string }{
		{"mode typo", `mode: cron`, "at '/mode': value must be one of 'cronjob', 'deployment'"},
		{"pull policy case", `image: {pullPolicy: always}`, "at '/image/pullPolicy': value must be one of"},
		{"unknown top-level key", `schedul: "0 * * * *"`, "additional properties 'schedul' not allowed"},
		{"unknown nested key", `fix: {enable: true}`, "at '/fix': additional properties 'enable' not allowed"},
		{"unknown fix class", `fix: {enabled: true, allow: [safe]}`, "at '/fix/allow/0': value must be one of 'disruptive', 'destructive'"},
		{"config key typo", `config: {minSeverty: warning}`, "at '/config': additional properties 'minSeverty' not allowed"},
		{"config severity", `config: {failOn: high}`, "at '/config/failOn': value must be one of"},
		{"webhook without https", `slack: {enabled: true, webhookURL: "hooks.slack.com/x"}`, "at '/slack/webhookURL'"},
		{"string for a number", `cronjob: {backoffLimit: "2"}`, "at '/cronjob/backoffLimit': got string, want integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := vals(t, c.values)
			problems := lintProblems(v)
			if len(problems) == 0 || !strings.Contains(problems[0].Err.Error(), c.want) || problems[0].Severity != support.ErrorSev {
				t.Errorf("helm lint: %v\nwant an error containing %q", problems, c.want)
			}
			_, err := chart.Render(chart.Release{Name: release, Namespace: namespace, Values: v, KubeVersion: kubeVersion})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render error %v, want one containing %q", err, c.want)
			}
		})
	}

	// Values that are each valid but contradict each other stop the install with what to
	// change.
	for _, c := range []struct{ name, values, want string }{
		{"fix classes without fix", `fix: {allow: [disruptive]}`, "fix.allow is set but fix.enabled is false"},
		{"ServiceMonitor without metrics", `serviceMonitor: {enabled: true}`, "serviceMonitor.enabled needs mode: deployment"},
		{"Slack without a destination", `slack: {enabled: true}`, "slack.enabled needs a destination"},
		{"Slack settings while off", `slack: {webhookURL: "https://hooks.slack.com/x"}`, "slack.enabled is false"},
		{"channel without a token", `slack: {enabled: true, channel: "#s", webhookURL: "https://hooks.slack.com/x"}`, "slack.channel posts with a bot token"},
		{"two Secrets", `slack: {enabled: true, existingSecret: s, webhookURL: "https://hooks.slack.com/x"}`, "not both"},
		{"only changes without state", `{state: {enabled: false}, slack: {enabled: true, webhookURL: "https://hooks.slack.com/x", onlyChanges: true}}`, "slack.onlyChanges needs run-to-run state"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := chart.Render(chart.Release{Name: release, Namespace: namespace, Values: vals(t, c.values), KubeVersion: kubeVersion})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestChartValuesDocumented: every value in values.yaml carries a comment (on itself or,
// for the entries of a map such as resources.requests, on its parent).
func TestChartValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chart.Dir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string, parentCommented bool)
	walk = func(n *yaml.Node, path string, parentCommented bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			commented := k.HeadComment != "" || k.LineComment != "" || v.LineComment != ""
			p := strings.TrimPrefix(path+"."+k.Value, ".")
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
				walk(v, p, commented)
				continue
			}
			if !commented && !parentCommented {
				t.Errorf("values.yaml: %s (line %d) has no comment", p, k.Line)
			}
		}
	}
	walk(doc.Content[0], "", false)
}

// TestChartSchemaFollowsConfig: the schema of the config value names exactly the keys of
// the auditor's config file, so a key added to pkg/config is not refused by the chart.
func TestChartSchemaFollowsConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chart.Dir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			AdditionalProperties json.RawMessage           `json:"additionalProperties"`
			Properties           map[string]map[string]any `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	cfg := schema.Properties["config"]
	var inSchema, inFile []string
	for k := range cfg.Properties {
		inSchema = append(inSchema, k)
	}
	ft := reflect.TypeOf(config.File{})
	for i := range ft.NumField() {
		if tag, _, _ := strings.Cut(ft.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			inFile = append(inFile, tag)
		}
	}
	sort.Strings(inSchema)
	sort.Strings(inFile)
	if !slices.Equal(inSchema, inFile) || string(cfg.AdditionalProperties) != "false" {
		t.Errorf("schema config keys %v (additionalProperties %s), config.File has %v", inSchema, cfg.AdditionalProperties, inFile)
	}
}

// auditorContainer returns the one container of a pod spec.
func auditorContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "auditor" {
		t.Fatalf("want one container named auditor, have %+v", spec.Containers)
	}
	return spec.Containers[0]
}

// checkRestricted checks the pod against what the restricted Pod Security profile and
// the brief ask (the integration test has the API server enforce the profile too).
func checkRestricted(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	c := auditorContainer(t, spec)
	ps, cs := spec.SecurityContext, c.SecurityContext
	switch {
	case ps == nil || cs == nil:
		t.Fatal("no security context")
	case ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 || ps.RunAsGroup == nil || *ps.RunAsGroup != 65532:
		t.Errorf("pod must run as 65532:65532, non-root: %+v", ps)
	case ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod seccomp: %+v", ps.SeccompProfile)
	case cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem:
		t.Error("root file system must be read-only")
	case cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation:
		t.Error("privilege escalation must be off")
	case cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) > 0:
		t.Errorf("capabilities: %+v", cs.Capabilities)
	case spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken || spec.ServiceAccountName != fullname:
		t.Errorf("service account %q, automount %v", spec.ServiceAccountName, spec.AutomountServiceAccountToken)
	case c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero():
		t.Errorf("requests and limits of cpu and memory: %+v", c.Resources)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["config"] != "/etc/storage-auditor" || mounts["tmp"] != "/tmp" {
		t.Errorf("mounts %v", mounts)
	}
}

// argValue returns the value after flag in args, or "" when flag is absent.
func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func envRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func TestChartCronJob(t *testing.T) {
	r := render(t, nil)
	want := []string{"ServiceAccount/" + fullname, "ConfigMap/" + fullname,
		"ClusterRole/" + fullname + "-storage-read", "ClusterRoleBinding/" + fullname + "-storage-read",
		"Role/" + fullname + "-storage-leases", "Role/" + fullname + "-state",
		"RoleBinding/" + fullname + "-storage-leases", "RoleBinding/" + fullname + "-state", "CronJob/" + fullname}
	if got := r.Kinds(); !slices.Equal(got, want) {
		t.Errorf("rendered %v\nwant      %v", got, want)
	}
	var cj batchv1.CronJob
	object(t, r, "CronJob", fullname, &cj)
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || cj.Spec.Schedule != "0 6 * * *" || cj.Spec.TimeZone != nil {
		t.Errorf("CronJob spec: policy %s, schedule %q, time zone %v", cj.Spec.ConcurrencyPolicy, cj.Spec.Schedule, cj.Spec.TimeZone)
	}
	if *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 3 || *cj.Spec.JobTemplate.Spec.BackoffLimit != 1 {
		t.Errorf("history limits / backoffLimit: %+v", cj.Spec)
	}
	pod := cj.Spec.JobTemplate.Spec.Template
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s", pod.Spec.RestartPolicy)
	}
	checkRestricted(t, pod.Spec)
	c := auditorContainer(t, pod.Spec)
	wantArgs := []string{"run", "--output", "table", "--fail-on", "none", "--config", "/etc/storage-auditor/auditor.yaml",
		"--state-configmap", namespace + "/" + fullname + "-state"}
	if !slices.Equal(c.Args, wantArgs) || len(c.Command) > 0 {
		t.Errorf("args %q\nwant %q", c.Args, wantArgs)
	}
	if c.Image != "ghcr.io/storage-auditor/auditor:0.1.0" {
		t.Errorf("image %s, want the appVersion tag", c.Image)
	}

	// The config value is the auditor's config file, and the default one is valid.
	var cm corev1.ConfigMap
	object(t, r, "ConfigMap", fullname, &cm)
	if _, err := config.Parse("auditor.yaml", []byte(cm.Data["auditor.yaml"]), catalog.All()); err != nil {
		t.Errorf("the default config does not load: %v", err)
	}
	// A config change rolls the pods: the checksum annotation follows it.
	sum := pod.Annotations["checksum/config"]
	var cj2 batchv1.CronJob
	object(t, render(t, vals(t, `config: {minSeverity: warning}`)), "CronJob", fullname, &cj2)
	if sum == "" || cj2.Spec.JobTemplate.Spec.Template.Annotations["checksum/config"] == sum {
		t.Errorf("checksum/config %q does not follow the config", sum)
	}

	// Values reach the pod.
	r = render(t, vals(t, validValues["cronjob with every fix class, an existing Slack Secret and a bot"]))
	object(t, r, "CronJob", fullname, &cj)
	pod = cj.Spec.JobTemplate.Spec.Template
	c = auditorContainer(t, pod.Spec)
	tail := []string{"--slack-channel", "#storage", "--slack-min-severity", "warning", "--fix", "--yes", "--allow", "disruptive,destructive", "--qps", "20"}
	if !slices.Equal(c.Args[len(c.Args)-len(tail):], tail) {
		t.Errorf("args %q, want them to end with %q", c.Args, tail)
	}
	if ref := envRef(c, "SLACK_BOT_TOKEN"); ref == nil || ref.Name != "team-slack" || ref.Key != "bot-token" || envRef(c, "SLACK_WEBHOOK_URL") != nil {
		t.Errorf("bot token from the existing Secret: %+v", c.Env)
	}
	if r.Find("Secret", fullname+"-slack") != nil {
		t.Error("a Secret was created although slack.existingSecret names one")
	}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("tolerations %+v, nodeSelector %v", pod.Spec.Tolerations, pod.Spec.NodeSelector)
	}
}

func TestChartDeployment(t *testing.T) {
	r := render(t, vals(t, validValues["deployment with ServiceMonitor, dashboard and a chart-made Slack Secret"]))
	if r.Find("CronJob", fullname) != nil {
		t.Error("a CronJob in deployment mode")
	}
	var d appsv1.Deployment
	object(t, r, "Deployment", fullname, &d)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("one auditor, replaced not rolled: replicas %d, strategy %s", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	checkRestricted(t, d.Spec.Template.Spec)
	c := auditorContainer(t, d.Spec.Template.Spec)
	wantArgs := []string{"serve", "--schedule", "@every 6h", "--time-zone", "Europe/Berlin", "--listen", ":8080", "--run-on-start=true",
		"--config", "/etc/storage-auditor/auditor.yaml", "--state-configmap", namespace + "/" + fullname + "-state", "--slack-only-changes"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q\nwant %q", c.Args, wantArgs)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v, want GET /healthz on the metrics port", name, p)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v", c.Ports)
	}
	if ref := envRef(c, "SLACK_WEBHOOK_URL"); ref == nil || ref.Name != fullname+"-slack" || ref.Key != "webhook-url" {
		t.Errorf("webhook from the chart's Secret: %+v", c.Env)
	}
	if d.Spec.Template.Annotations["checksum/slack"] == "" {
		t.Error("no checksum/slack: a new webhook would not roll the pod")
	}
	var sec corev1.Secret
	object(t, r, "Secret", fullname+"-slack", &sec)
	if string(sec.Data["webhook-url"]) != "https://hooks.slack.com/services/T0/B0/x" {
		t.Errorf("Secret data %q", sec.Data)
	}
	var svc corev1.Service
	object(t, r, "Service", fullname, &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" || !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service %+v does not select the Deployment's pods (%v) on the metrics port", svc.Spec, d.Spec.Selector.MatchLabels)
	}
	var sm struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			Selector  struct{ MatchLabels map[string]string } `json:"selector"`
			Endpoints []struct{ Port, Path, Interval string } `json:"endpoints"`
		}
	}
	m := r.Find("ServiceMonitor", fullname)
	if m == nil {
		t.Fatalf("no ServiceMonitor: %v", r.Kinds())
	}
	if err := sigyaml.Unmarshal([]byte(m.Content), &sm); err != nil {
		t.Fatal(err)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" ||
		!reflect.DeepEqual(sm.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) || sm.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %+v", sm)
	}
}

// TestChartFixRBAC: the fix ClusterRole grows with the fix classes allowed, and without
// fix.enabled there is none.
func TestChartFixRBAC(t *testing.T) {
	if m := render(t, nil).Find("ClusterRole", fullname+"-storage-fix"); m != nil {
		t.Fatal("a fix ClusterRole without fix.enabled")
	}
	grants := func(doc string) []string {
		var role rbacv1.ClusterRole
		object(t, render(t, vals(t, doc)), "ClusterRole", fullname+"-storage-fix", &role)
		var out []string
		for _, r := range role.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, v+" "+strings.TrimPrefix(g+"/"+res, "/"))
					}
				}
			}
		}
		sort.Strings(out)
		return out
	}
	safe := []string{"create events", "patch persistentvolumeclaims", "patch persistentvolumes", "patch storage.k8s.io/storageclasses"}
	if got := grants(`fix: {enabled: true}`); !slices.Equal(got, safe) {
		t.Errorf("safe fixes grant %v, want %v", got, safe)
	}
	disruptive := append(slices.Clone(safe), "patch apps/daemonsets", "patch apps/deployments", "patch apps/statefulsets")
	sort.Strings(disruptive)
	if got := grants(`fix: {enabled: true, allow: [disruptive]}`); !slices.Equal(got, disruptive) {
		t.Errorf("disruptive fixes grant %v, want %v", got, disruptive)
	}
	all := append(slices.Clone(disruptive), "delete persistentvolumeclaims", "delete persistentvolumes", "delete pods")
	sort.Strings(all)
	if got := grants(`fix: {enabled: true, allow: [disruptive, destructive]}`); !slices.Equal(got, all) {
		t.Errorf("every fix class grants %v, want %v", got, all)
	}
}

// TestChartDashboard: the dashboard ConfigMap carries the JSON file as it is, with the
// sidecar's label (which values may replace).
func TestChartDashboard(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(chart.Dir(), "dashboards", "storage-auditor.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(file) {
		t.Fatal("dashboards/storage-auditor.json is not JSON")
	}
	if render(t, nil).Find("ConfigMap", fullname+"-dashboard") != nil {
		t.Error("a dashboard ConfigMap although grafana.dashboard.enabled is false")
	}
	var cm corev1.ConfigMap
	object(t, render(t, vals(t, `grafana: {dashboard: {enabled: true, namespace: monitoring, labels: {grafana_dashboard: "storage"}}}`)),
		"ConfigMap", fullname+"-dashboard", &cm)
	if cm.Data["storage-auditor.json"] != strings.TrimRight(string(file), "\n") {
		t.Error("the dashboard ConfigMap does not hold dashboards/storage-auditor.json verbatim")
	}
	if cm.Namespace != "monitoring" || cm.Labels["grafana_dashboard"] != "storage" {
		t.Errorf("namespace %s, labels %v", cm.Namespace, cm.Labels)
	}
}

// TestChartNotes: NOTES.txt names the objects of the release it describes.
func TestChartNotes(t *testing.T) {
	notes := render(t, nil).Notes
	for _, want := range []string{"kubectl -n storage logs job/", "create job --from=cronjob/" + fullname, "slack.existingSecret=", "fix.enabled=true"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	notes = render(t, vals(t, validValues["deployment with ServiceMonitor, dashboard and a chart-made Slack Secret"])).Notes
	for _, want := range []string{"port-forward svc/" + fullname + " 8080", "ServiceMonitor", "ConfigMap storage/" + fullname + "-dashboard", "incoming webhook"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt (deployment) lacks %q:\n%s", want, notes)
		}
	}
}
