//go:build tools

// Package tools pins the control-plane commands that hack/k8s-binaries.sh builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)
