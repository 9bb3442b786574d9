// Command auditor audits the storage of a Kubernetes cluster: see `auditor --help`.
package main

import (
	"os"

	"github.com/storage-auditor/auditor/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
