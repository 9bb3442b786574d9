package integration

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// grantedToken creates service account ns/name, a ClusterRole name with rules bound to
// it, and returns a 10-minute token for it. Objects left by an earlier run (-count=2) are
// reused; the role and binding are deleted after the test.
func grantedToken(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	created := func(what string, err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", what, name, err)
		}
	}
	_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	created("ClusterRole", err)
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	created("ServiceAccount", err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}},
	}, metav1.CreateOptions{})
	created("ClusterRoleBinding", err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", ns, name, err)
	}
	return tok.Status.Token
}

// listRules grants list on every kind the auditor reads, except denied.
func listRules(denied ...snapshot.Kind) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, k := range snapshot.AllKinds {
		skip := false
		for _, d := range denied {
			skip = skip || d == k
		}
		if !skip {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{apiGroup(k)}, Resources: []string{k.Resource()}, Verbs: []string{"list"}})
		}
	}
	return rules
}
