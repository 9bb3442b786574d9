package stsresize

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// HelmRelease names the Helm release that manages a StatefulSet; the zero value means
// no Helm marks were found.
type HelmRelease struct {
	Name, Namespace string
	Managed         bool // app.kubernetes.io/managed-by: Helm, or Helm's release annotations
}

// helmRelease reads Helm 3's ownership marks: the meta.helm.sh/release-* annotations
// (set on every object a release creates since Helm 3.2) and the managed-by label.
func helmRelease(st *appsv1.StatefulSet) HelmRelease {
	h := HelmRelease{Name: st.Annotations["meta.helm.sh/release-name"], Namespace: st.Annotations["meta.helm.sh/release-namespace"]}
	if h.Name == "" && st.Labels["app.kubernetes.io/managed-by"] == "Helm" {
		h.Name = st.Labels["app.kubernetes.io/instance"] // the chart convention; may be empty
	}
	if h.Namespace == "" {
		h.Namespace = st.Namespace
	}
	h.Managed = h.Name != "" || st.Labels["app.kubernetes.io/managed-by"] == "Helm"
	return h
}

// FollowUp is what the user must change where the StatefulSet is defined, or the next
// deployment of the old template fails: the API server refuses any volumeClaimTemplates
// change, so `helm upgrade` (or kubectl apply) with the old size is rejected too.
func (p *Plan) FollowUp() string {
	const refusal = "`spec: Forbidden: updates to statefulset spec for fields other than ...`"
	size := p.Size.String()
	if !p.Recreate {
		return fmt.Sprintf("The template already requests %s; nothing to change in charts or manifests.", size)
	}
	if p.Helm.Managed {
		release := "the release that installed it"
		if p.Helm.Name != "" {
			release = fmt.Sprintf("release %q (namespace %s)", p.Helm.Name, p.Helm.Namespace)
		}
		return fmt.Sprintf("Helm: %s manages this StatefulSet. Before the next helm upgrade, set the chart's size for volumeClaimTemplate %q to %s "+
			"(often persistence.size or <component>.persistence.size; `helm get values %s -n %s --all` shows the chart's keys), "+
			"or the upgrade fails with UPGRADE FAILED: cannot patch %q with kind StatefulSet: %s.",
			release, p.Template, size, orPlaceholder(p.Helm.Name, "<release>"), p.Helm.Namespace, p.Name, refusal)
	}
	return fmt.Sprintf("If a Helm chart, a kustomization or a manifest in Git defines this StatefulSet, set volumeClaimTemplate %q to %s there too: "+
		"applying the old template fails with %s.", p.Template, size, refusal)
}

func orPlaceholder(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}
