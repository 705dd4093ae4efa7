package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "config",
		Short:   "Inspect the configuration",
		Example: "  reprocess config print\n  reprocess --config prod.yaml config print -o json",
	}
	var output string
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration, secrets redacted",
		Long: `Print the configuration as the binary sees it after defaults, the file,
REPROCESS_* variables and flags, with passwords shown as REDACTED. Every key
printed can be set in the file, as REPROCESS_<KEY> or with --set key=value.`,
		Example: `  reprocess config print
  REPROCESS_LAYOUT_SHARDS=16 reprocess config print --output json
  reprocess --config prod.yaml config print`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := a.cfg.Redacted().Map()
			switch output {
			case "yaml":
				return yaml.NewEncoder(cmd.OutOrStdout()).Encode(m)
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			return fmt.Errorf("--output: want yaml or json, got %q", output)
		},
	}
	print.Flags().StringVarP(&output, "output", "o", "yaml", "yaml or json")
	cmd.AddCommand(print)
	return cmd
}
