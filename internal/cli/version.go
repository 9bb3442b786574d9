package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/storage-auditor/auditor/internal/version"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the auditor's version, commit, Go and client-go versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "":
				fmt.Fprintf(cmd.OutOrStdout(), "auditor %s\ncommit:    %s\ngo:        %s\nclient-go: %s\n", v.Version, v.Commit, v.Go, v.ClientGo)
				return nil
			}
			return usageError("-o: unknown output format %q (want json)", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	return cmd
}
