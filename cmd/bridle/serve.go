package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/gateway"
)

func newServeCmd() *cobra.Command {
	var logLevel, logFormat, role string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane and decision service without starting Envoy",
		Long: "Runs xDS, ext_authz, the access-log sink and the API, and writes an Envoy bootstrap\n" +
			"to the state dir. Envoys are started by you (sidecars, gateways, another host).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(os.Stderr, logLevel, logFormat, os.Getenv)
			if err != nil {
				return err
			}
			tuneGC(os.Getenv)
			return gateway.Up(cmd.Context(), gateway.Options{
				ConfigPath:   configPath(cmd),
				Env:          os.LookupEnv,
				Out:          cmd.OutOrStdout(),
				Log:          log,
				ReadyTimeout: time.Minute,
				Role:         role,
			})
		},
	}
	cmd.Flags().StringVar(&role, "role", "all", "all, xds (control plane only) or authz (decision service, access logs and API)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "", logFormatHelp)
	return cmd
}
