// Package chart renders the Helm chart in this directory with the Helm Go SDK, as `helm
// template` does, for the tests that lint it and apply it to a real API server. The
// chart itself is the YAML around this file; .helmignore keeps Go files out of it.
package chart

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// Dir is the chart's directory, found from this file so any package's test can use it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Release names one rendering: the release's name and namespace, the values given with
// --set/-f (merged over values.yaml), and the cluster's version ("v1.36.3"; empty means
// Helm's default).
type Release struct {
	Name        string
	Namespace   string
	Values      map[string]any
	KubeVersion string
}

// Rendered is a rendered release: its manifests in Helm's install order (one object
// each) and NOTES.txt.
type Rendered struct {
	Manifests []releaseutil.Manifest
	Notes     string
}

// Render renders the chart for r as `helm install --dry-run` does: values checked against
// values.schema.json, templates executed (a `fail` in them is an error), manifests split
// and sorted in install order. Hooks are an error: the chart has none.
func Render(r Release) (*Rendered, error) {
	ch, err := loader.Load(Dir())
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if r.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(r.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", r.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, the cluster is %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	vals, err := chartutil.ToRenderValues(ch, r.Values, chartutil.ReleaseOptions{Name: r.Name, Namespace: r.Namespace, IsInstall: true, Revision: 1}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	out := &Rendered{}
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			out.Notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart renders %d hooks; it is meant to have none", len(hooks))
	}
	out.Manifests = manifests
	return out, nil
}

// Find returns the rendered manifest of kind and name, or nil.
func (r *Rendered) Find(kind, name string) *releaseutil.Manifest {
	for i, m := range r.Manifests {
		if m.Head.Kind == kind && m.Head.Metadata != nil && m.Head.Metadata.Name == name {
			return &r.Manifests[i]
		}
	}
	return nil
}

// Kinds lists "Kind/name" of every manifest, in install order.
func (r *Rendered) Kinds() []string {
	out := make([]string, 0, len(r.Manifests))
	for _, m := range r.Manifests {
		name := ""
		if m.Head.Metadata != nil {
			name = m.Head.Metadata.Name
		}
		out = append(out, m.Head.Kind+"/"+name)
	}
	return out
}
