package controlplane

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// EnsureNamespace creates namespace name if it does not exist and makes sure it has its
// "default" ServiceAccount, without which the ServiceAccount admission plugin rejects
// pods there.
//
// kube-controller-manager creates that ServiceAccount within a second or so of the
// namespace; rather than waiting for it (and waiting forever when the control plane runs
// without a controller-manager), EnsureNamespace creates it itself. The controller treats
// an existing ServiceAccount as done, so the result is the same either way.
func EnsureNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if _, err := c.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ServiceAccount %s/default: %w", name, err)
	}
	return nil
}

// WaitForServiceAccount waits until ServiceAccount name exists in namespace ns, e.g. the
// "default" one that kube-controller-manager creates in every namespace.
func WaitForServiceAccount(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("waiting for ServiceAccount %s/%s: %w", ns, name, err)
	}
	return nil
}
