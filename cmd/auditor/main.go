// Command auditor audits the storage of a Kubernetes cluster: see `auditor --help`.
// Installed on PATH as kubectl-storage_audit it is the kubectl plugin `kubectl
// storage-audit`: the program name decides how help names it.
package main

import (
	"os"
	"path/filepath"

	"github.com/storage-auditor/auditor/internal/cli"
)

func main() {
	os.Exit(cli.MainAs(filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
