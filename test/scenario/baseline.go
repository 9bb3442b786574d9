package scenario

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Setup prepares what every real cluster has before any incident: the scenario's
// StorageClasses, and the kube-system add-ons (a DNS Deployment, a kube-proxy DaemonSet)
// whose presence tells a kubectl dump of this cluster apart from a partial one.
func (e *Env) Setup(ctx context.Context) error {
	if err := e.Classes(ctx); err != nil {
		return err
	}
	labels := func(app string) map[string]string { return map[string]string{"k8s-app": app} }
	podSpec := corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		// No node here runs a kubelet; keep the add-on pods off the scenario's nodes.
		NodeSelector: map[string]string{"storage-auditor.dev/no-such-node": "true"},
	}
	dns := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels("kube-dns")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("kube-dns")}, Spec: podSpec},
		},
	}
	if _, err := e.CS.AppsV1().Deployments("kube-system").Create(ctx, dns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Deployment kube-system/coredns: %w", err)
	}
	proxy := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels("kube-proxy")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("kube-proxy")}, Spec: podSpec},
		},
	}
	if _, err := e.CS.AppsV1().DaemonSets("kube-system").Create(ctx, proxy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating DaemonSet kube-system/kube-proxy: %w", err)
	}
	return nil
}
