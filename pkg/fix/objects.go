package fix

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// objectClient reads, patches and deletes the objects of one kind in one namespace.
type objectClient struct {
	get    func(ctx context.Context, name string) (metav1.Object, error)
	patch  func(ctx context.Context, name string, body []byte, o metav1.PatchOptions) (metav1.Object, error)
	delete func(ctx context.Context, name string, o metav1.DeleteOptions) error
	// apiVersion is the object's group/version, for Events' involvedObject.
	apiVersion string
}

// typedClient is what every client-go typed client of a kind offers.
type typedClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

func wrap[T metav1.Object](c typedClient[T], apiVersion string) *objectClient {
	return &objectClient{
		get: func(ctx context.Context, name string) (metav1.Object, error) {
			return c.Get(ctx, name, metav1.GetOptions{})
		},
		patch: func(ctx context.Context, name string, body []byte, o metav1.PatchOptions) (metav1.Object, error) {
			return c.Patch(ctx, name, types.MergePatchType, body, o)
		},
		delete:     c.Delete,
		apiVersion: apiVersion,
	}
}

// clientFor returns the client of ref's kind: the kinds fixes change or depend on.
func clientFor(cs kubernetes.Interface, ref audit.ObjectRef) (*objectClient, error) {
	ns := ref.Namespace
	switch snapshot.Kind(ref.Kind) {
	case snapshot.PersistentVolumes:
		return wrap(cs.CoreV1().PersistentVolumes(), "v1"), nil
	case snapshot.PersistentVolumeClaims:
		return wrap(cs.CoreV1().PersistentVolumeClaims(ns), "v1"), nil
	case snapshot.Pods:
		return wrap(cs.CoreV1().Pods(ns), "v1"), nil
	case snapshot.StorageClasses:
		return wrap(cs.StorageV1().StorageClasses(), "storage.k8s.io/v1"), nil
	case snapshot.StatefulSets:
		return wrap(cs.AppsV1().StatefulSets(ns), "apps/v1"), nil
	case snapshot.Deployments:
		return wrap(cs.AppsV1().Deployments(ns), "apps/v1"), nil
	case snapshot.DaemonSets:
		return wrap(cs.AppsV1().DaemonSets(ns), "apps/v1"), nil
	}
	return nil, fmt.Errorf("this auditor cannot change objects of kind %s", ref.Kind)
}
