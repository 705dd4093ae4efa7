package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets/cassandra"
)

func (a *app) schemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Create or show the Cassandra schema",
		Long: `The Cassandra store needs a keyspace with four tables: assets,
assets_by_type_bucket (the paging index), jobs and checkpoints. 'schema apply'
creates whatever is missing and is safe to run again; with
store.cassandra.apply_schema (the default) every start does the same.
The embedded store needs no schema.`,
		Example: "  reprocess --store cassandra schema print\n  reprocess --store cassandra --cassandra-hosts 10.0.0.5:9042 schema apply",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "apply",
		Short:   "Create the keyspace and tables where missing (idempotent)",
		Example: `  reprocess --store cassandra --cassandra-hosts 10.0.0.5:9042 --keyspace media schema apply`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.Store.Backend != "cassandra" {
				return fmt.Errorf("schema apply is for store.backend=cassandra (now %q); the embedded store needs no schema", a.cfg.Store.Backend)
			}
			c := a.cfg.Store.Cassandra
			if err := cassandra.ApplySchema(cmd.Context(), c); err != nil {
				return err
			}
			a.log.Info("schema applied", "hosts", c.Hosts, "keyspace", c.Keyspace)
			return nil
		},
	}, &cobra.Command{
		Use:     "print",
		Short:   "Print the CQL that apply runs",
		Example: "  reprocess --keyspace media schema print > schema.cql",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := a.cfg.Store.Cassandra
			for _, stmt := range cassandra.Schema(c.Keyspace, c.Replication) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s;\n\n", stmt)
			}
			return nil
		},
	})
	return cmd
}
