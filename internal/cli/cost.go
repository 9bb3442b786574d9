package cli

import (
	"context"
	"encoding/json"
	"errors"
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
	clusters   clusterFlags
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

--contexts a,b or --all-contexts prices several clusters at once, as auditor run does:
a cost section per cluster, and -o json|yaml prints {"apiVersion", "kind":
"CostReportList", "items"} whose items are the clusters' CostReports (with an "error"
field, and no cost, for a cluster that could not be priced).

` + exitCodesHelp + "\n" + manyClustersExitHelp,
		Example: `  auditor cost
  auditor cost --config config/cost-aws.yaml -n shop,billing
  auditor cost --all-contexts -o json
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
	o.clusters.addFlags(f)
	return cmd
}

// costDocument is what auditor cost -o json|yaml prints.
type costDocument struct {
	APIVersion  string      `json:"apiVersion"`
	Kind        string      `json:"kind"`
	Cluster     string      `json:"cluster"`
	GeneratedAt time.Time   `json:"generatedAt"`
	Cost        *audit.Cost `json:"cost"`
	// Error says why a cluster has no cost (many clusters only: one cluster exits 2).
	Error string `json:"error,omitempty"`
}

// costListKind is the kind of auditor cost --contexts -o json|yaml.
const costListKind = "CostReportList"

// costList is what auditor cost --contexts|--all-contexts -o json|yaml prints.
type costList struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Items      []costDocument `json:"items"`
}

func (o *costOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	format, err := report.ParseFormat(o.output)
	if err != nil {
		return usageError("-o: %v", err)
	}
	if format == report.HTML {
		return usageError("-o html: the HTML page is the whole report; use auditor run -o html (its cost section has the charts)")
	}
	if o.clusters.many() {
		return o.runMany(ctx, stdin, stdout, stderr, format)
	}
	if _, err := o.clusters.resolve(&o.auditFlags); err != nil {
		return err
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
		return &exitError{code: ExitError, err: fmt.Errorf("no cost for %s: %s", rep.Cluster, noCostReason(rep))}
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

// noCostReason says why rep has no cost section.
func noCostReason(rep *audit.Report) string {
	for _, u := range rep.Unreadable {
		if u.Kind == "PersistentVolume" {
			return "PersistentVolumes could not be read (" + u.Reason + "): grant list on persistentvolumes"
		}
	}
	return "the input has no PersistentVolumes: include them in the dump (kubectl get pv,pvc,storageclasses -A -o yaml)"
}

// runMany is auditor cost --contexts/--all-contexts: the clusters are read and priced
// concurrently, then one output covers them all. A cluster that cannot be read or priced
// is printed to stderr ("cluster NAME: why") and stands in the output with its error.
func (o *costOptions) runMany(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, format report.Format) error {
	if !report.SupportsMulti(format) {
		return usageError("-o %s shows one cluster; with --contexts or --all-contexts use table, json, yaml or markdown", format)
	}
	a, err := o.prepareRules(stdin)
	if err != nil {
		return err
	}
	names, err := o.clusters.resolve(&o.auditFlags)
	if err != nil {
		return err
	}
	if err := checkWritable(o.outputFile); err != nil {
		return usageError("%v", err)
	}
	at := a.now()
	runs := a.auditEach(ctx, names, o.clusters.maxConcurrency, progressWriter(stderr), nil)
	reps := make([]*audit.Report, len(runs))
	codes := make([]int, len(runs))
	failed := 0
	for i, c := range runs {
		if c.err == nil && c.ar.res.Report.Cost == nil {
			c.err = errors.New(noCostReason(c.ar.res.Report))
		}
		if c.err != nil {
			failed++
			reps[i] = c.failedReport(at)
			fmt.Fprintf(stderr, "error: cluster %s: %s\n", c.name, reps[i].Error)
		} else {
			reps[i] = c.ar.res.Report
		}
		codes[i] = c.exitCode(0, false)
	}
	write := func(w io.Writer, ropts report.Options) error {
		switch format {
		case report.JSON, report.YAML:
			list := costList{APIVersion: audit.APIVersion, Kind: costListKind, Items: []costDocument{}}
			for _, rep := range reps {
				list.Items = append(list.Items, costDocument{APIVersion: audit.APIVersion, Kind: "CostReport", Cluster: rep.Cluster, GeneratedAt: rep.GeneratedAt, Cost: rep.Cost, Error: rep.Error})
			}
			if format == report.YAML {
				return report.WriteYAMLDocument(w, list)
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(list)
		case report.Markdown:
			return report.WriteMultiCostMarkdown(w, reps)
		case report.Table:
			return report.WriteMultiCostTable(w, reps, ropts)
		}
		return fmt.Errorf("unknown output format %q", format)
	}
	if o.outputFile != "" {
		err = writeFileAtomic(o.outputFile, func(w io.Writer) error { return write(w, report.Options{}) })
	} else {
		err = write(stdout, terminalOptions(stdout))
	}
	if err != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("writing the cost report: %w", err)}
	}
	switch code := worstExit(codes, failed); code {
	case ExitError:
		return &exitError{code: code, err: fmt.Errorf("no cluster could be priced (%d of %d failed; see above)", failed, len(runs))}
	case ExitOK:
		return nil
	default:
		return &exitError{code: code}
	}
}
