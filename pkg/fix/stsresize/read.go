package stsresize

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/snapshot/live"
)

// NotFound is returned by Read when the StatefulSet does not exist.
type NotFound struct{ Namespace, Name string }

func (e *NotFound) Error() string {
	return fmt.Sprintf("StatefulSet %s/%s not found; check the namespace and name (kubectl get statefulsets -n %s)", e.Namespace, e.Name, e.Namespace)
}

// Read fetches what Decide needs: the StatefulSet, its namespace's claims and pods (full
// objects), and a snapshot of the whole cluster — the class verdict needs every
// namespace's pods and the kube-system Leases, as `auditor run` reads them.
func Read(ctx context.Context, cs kubernetes.Interface, namespace, name string) (*Inputs, error) {
	st, err := cs.AppsV1().StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NotFound{Namespace: namespace, Name: name}
	}
	if err != nil {
		return nil, fmt.Errorf("reading StatefulSet %s/%s: %w", namespace, name, err)
	}
	in := &Inputs{StatefulSet: st}
	claims, err := cs.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing claims in %s: %w", namespace, err)
	}
	for i := range claims.Items {
		in.Claims = append(in.Claims, &claims.Items[i])
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	for i := range pods.Items {
		in.Pods = append(in.Pods, &pods.Items[i])
	}
	if in.Evidence, err = live.Load(ctx, cs, "resize", live.Options{}); err != nil {
		return nil, fmt.Errorf("reading the cluster to judge its StorageClasses: %w", err)
	}
	return in, nil
}
