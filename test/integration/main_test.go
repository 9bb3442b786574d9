// Package integration reproduces the auditor's incidents on a real control plane (etcd,
// kube-apiserver, kube-controller-manager) and checks what the auditor reports about them,
// live and from a kubectl dump. It runs only with AUDITOR_INTEGRATION=1 (hack/test.sh sets
// it); `go test ./...` alone skips it.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	if os.Getenv("AUDITOR_INTEGRATION") != "1" {
		fmt.Println("skipping integration tests: set AUDITOR_INTEGRATION=1 (hack/test.sh does) to run them against a real control plane")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	// The API server's audit log shows every request the auditor makes (secrets_test.go).
	auditArgs, err := apiAuditLogArgs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "writing the audit policy:", err)
		return 1
	}
	defer os.RemoveAll(apiAuditDir) // after cp.Stop below: the API server writes there until then
	cp, err = controlplane.Start(ctx, controlplane.Options{ControllerManager: true, ExtraAPIServerArgs: auditArgs})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	fmt.Printf("control plane up in %s (%s)\n", time.Since(start).Round(time.Millisecond), cp.Kubeconfig)
	code := m.Run()
	removeBinary()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		code = 1
	}
	left, err := controlplane.Leftovers()
	if err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "control-plane processes left behind: %v %v\n", left, err)
		code = 1
	}
	return code
}
