// Command reprocess reprocesses asset metadata without downtime: it walks
// the assets of a store, emits one event per asset id to Kafka, and applies
// versioned transforms to each, while production keeps writing.
//
// Run `reprocess --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/reprocess/reprocess/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "reprocess:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// app is what every command gets: the loaded configuration and a logger.
type app struct {
	cfg config.Config
	log *slog.Logger
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "reprocess",
		Short: "Reprocess asset metadata in Cassandra while production keeps writing",
		Long: `reprocess walks asset metadata by (type, time bucket, shard) partitions,
emits one event per asset id to Kafka, and applies versioned transforms that
write only the cells they own.

With no configuration it uses an embedded store (.reprocess/data) and an
in-process Kafka broker, so every command works on a bare machine.

Configuration comes from, in rising precedence: defaults, a YAML file
(--config or REPROCESS_CONFIG), REPROCESS_* environment variables (the key
in upper case with _ for each dot, e.g. REPROCESS_STORE_BACKEND), and flags.
See every key and its effective value with 'reprocess config print'.`,
		Example: `  reprocess demo                        # seed an embedded store and walk it
  reprocess seed --count 100000 --days 30
  reprocess --store cassandra --cassandra-hosts 127.0.0.1:9042 schema apply
  REPROCESS_LOG_LEVEL=debug reprocess partitions --type image`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			a.cfg, a.log = cfg, cfg.Logger()
			return nil
		},
	}
	root.SetVersionTemplate("reprocess {{.Version}}\n")
	config.AddFlags(root.PersistentFlags())
	root.AddCommand(
		a.configCmd(),
		a.schemaCmd(),
		a.seedCmd(),
		a.trafficCmd(),
		a.partitionsCmd(),
		a.demoCmd(),
		a.planCmd(),
		a.runCmd(),
		a.scanCmd(),
		a.workerCmd(),
		a.dlqCmd(),
		a.jobCmd(),
		a.serveCmd(),
		a.sstableCmd(),
		a.assetCmd(),
	)
	return root
}
