package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rules and explain them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every rule with its default severity and title",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listRules(cmd.OutOrStdout(), cmd.Root().DisplayName(), output, catalog.All())
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or markdown")
	explain := &cobra.Command{
		Use:   "explain RULE-ID",
		Short: "Print a rule's documentation: what it means, why it matters, how to fix it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range catalog.All() {
				if r.ID == args[0] {
					_, err := io.WriteString(cmd.OutOrStdout(), r.Markdown())
					return err
				}
			}
			return usageError("unknown rule %q; `auditor rules list` shows the IDs", args[0])
		},
	}
	cmd.AddCommand(list, explain)
	return cmd
}

type ruleJSON struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Category string   `json:"category"`
	Reads    []string `json:"reads"`
	Params   []param  `json:"params"`
}

type param struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default"`
	Doc     string `json:"doc"`
}

// listRules prints the catalogue; prog is how the footer names the program.
func listRules(w io.Writer, prog, output string, rs []*rules.Rule) error {
	switch output {
	case "json":
		out := make([]ruleJSON, 0, len(rs))
		for _, r := range rs {
			j := ruleJSON{ID: r.ID, Title: r.Title, Severity: r.Severity.String(), Category: string(r.Category), Params: []param{}}
			for _, k := range r.Reads {
				j.Reads = append(j.Reads, string(k))
			}
			for _, p := range r.Params {
				j.Params = append(j.Params, param{p.Name, string(p.Type), p.Default, p.Doc})
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "markdown":
		fmt.Fprintln(w, "| ID | severity | category | title |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, r := range rs {
			fmt.Fprintf(w, "| [`%s`](%s.md) | %s | %s | %s |\n", r.ID, r.ID, r.Severity, r.Category, r.Title)
		}
		return nil
	case "table":
		rows := make([][]string, 0, len(rs))
		for _, r := range rs {
			rows = append(rows, []string{r.ID, r.Severity.String(), string(r.Category), r.Title})
		}
		if err := report.Columns(w, 120, 0, []string{"ID", "SEVERITY", "CATEGORY", "TITLE"}, rows); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%d rules. `%s rules explain ID` prints a rule's documentation.\n", len(rs), prog)
		return nil
	}
	return usageError("-o: unknown output format %q (want table, json or markdown)", output)
}
