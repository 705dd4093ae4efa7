package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/assets"
)

func (a *app) assetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "asset", Short: "Read assets from the store"}
	var output string
	get := &cobra.Command{
		Use:     "get ID",
		Short:   "Show one asset: id, type, created_at, version, metadata, facts and transforms",
		Example: "  reprocess asset get 6ba7b810-9dad-11d1-80b4-00c04fd430c8\n  reprocess --store cassandra asset get 6ba7b810-9dad-11d1-80b4-00c04fd430c8 -o json | jq .facts",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := assets.ParseID(args[0])
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.Get(cmd.Context(), id)
			if errors.Is(err, assets.ErrNotFound) {
				return fmt.Errorf("asset %s not found", id)
			} else if err != nil {
				return err
			}
			return printAs(cmd.OutOrStdout(), output, v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "id\t%s\ntype\t%s\ncreated_at\t%s\nversion\t%d\n", v.ID, v.Type, v.CreatedAt.Format(time.RFC3339Nano), v.Version)
				printMap(tw, "metadata", v.Metadata)
				printMap(tw, "facts", v.Facts)
				printMap(tw, "transforms", v.Transforms)
			})
		},
	}
	get.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(get)
	return cmd
}

// printMap writes one "name.key\tvalue" line per entry, in key order.
func printMap[V any](w *tabwriter.Writer, name string, m map[string]V) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "%s.%s\t%v\n", name, k, m[k])
	}
}
