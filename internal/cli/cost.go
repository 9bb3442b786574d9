package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

type costOptions struct {
	auditFlags
	output     string
	outputFile string
}

func newCostCmd() *cobra.Command {
	o := &costOptions{}
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Print what the cluster's storage costs a month, and how much of it is waste",
		Long: `Audit like auditor run, but print only the cost section: the monthly provisioned cost
in each currency, by namespace, StorageClass and workload, the waste (released, available,
unused volumes and retained StatefulSet ordinals, each volume counted once) and the most
expensive wasted volumes.

Prices come from the config file's cost section (first match wins: a StorageClass name,
or a provisioner plus StorageClass parameters), then the shipped defaults for AWS EBS,
GCE PD and Azure managed disks; see docs/cost.md. Volumes no price matches (hostPath,
local, NFS, unknown provisioners) cost nothing and are counted as unpriced. Amounts in
different currencies are never added together.

-o json prints {"apiVersion", "kind": "CostReport", "cluster", "generatedAt", "cost"},
the cost object being the same as in auditor run -o json.

` + exitCodesHelp,
		Example: `  auditor cost
  auditor cost --config config/cost-aws.yaml -n shop,billing
  auditor cost --from-file examples/incident-cluster.yaml -o markdown`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.auditFlags.addFlags(f)
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json, yaml or markdown")
	f.StringVar(&o.outputFile, "output-file", "", "write the cost report to this file instead of stdout (replaced atomically)")
	return cmd
}

// costDocument is what auditor cost -o json|yaml prints.
type costDocument struct {
	APIVersion  string      `json:"apiVersion"`
	Kind        string      `json:"kind"`
	Cluster     string      `json:"cluster"`
	GeneratedAt time.Time   `json:"generatedAt"`
	Cost        *audit.Cost `json:"cost"`
}

func (o *costOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	format, err := report.ParseFormat(o.output)
	if err != nil {
		return usageError("-o: %v", err)
	}
	a, err := o.prepare(stdin)
	if err != nil {
		return err
	}
	progress := progressWriter(stderr)
	ar, err := a.audit(ctx, readOptions{progress: progress, progressLine: progress != io.Discard && format == report.Table && o.outputFile == ""})
	if err != nil {
		return err
	}
	rep := ar.res.Report
	if rep.Cost == nil {
		why := "the input has no PersistentVolumes: include them in the dump (kubectl get pv,pvc,storageclasses -A -o yaml)"
		for _, u := range rep.Unreadable {
			if u.Kind == "PersistentVolume" {
				why = "PersistentVolumes could not be read (" + u.Reason + "): grant list on persistentvolumes"
			}
		}
		return &exitError{code: ExitError, err: fmt.Errorf("no cost for %s: %s", rep.Cluster, why)}
	}
	doc := costDocument{APIVersion: audit.APIVersion, Kind: "CostReport", Cluster: rep.Cluster, GeneratedAt: rep.GeneratedAt, Cost: rep.Cost}
	write := func(w io.Writer) error {
		switch format {
		case report.JSON:
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(doc)
		case report.YAML:
			return report.WriteYAMLDocument(w, doc)
		case report.Markdown:
			return report.WriteCostMarkdown(w, rep.Cost)
		}
		return report.WriteCostTable(w, rep.Cost, terminalOptions(w))
	}
	if o.outputFile != "" {
		err = writeFileAtomic(o.outputFile, write)
	} else {
		err = write(stdout)
	}
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("writing the cost report: %w", err)}
	}
	if ar.res.Partial {
		return &exitError{code: ExitPartial}
	}
	return nil
}
