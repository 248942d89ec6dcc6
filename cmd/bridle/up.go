package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/envoy/proc"
	"github.com/bridle-gw/bridle/internal/gateway"
)

func newUpCmd(getenv func(string) string) *cobra.Command {
	var envoyFlag, logLevel, logFormat string
	var readyTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the gateway: control plane, decision service and a supervised Envoy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			tuneGC(getenv)
			bin, err := proc.Find(envoyFlag, getenv)
			if err != nil {
				return err
			}
			return gateway.Up(cmd.Context(), gateway.Options{
				ConfigPath:   configPath(cmd),
				EnvoyBinary:  bin,
				Env:          os.LookupEnv,
				Out:          cmd.OutOrStdout(),
				Log:          log,
				ReadyTimeout: readyTimeout,
			})
		},
	}
	cmd.Flags().StringVar(&envoyFlag, "envoy", "", "Envoy binary (default $BRIDLE_ENVOY, then envoy on PATH)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	cmd.Flags().DurationVar(&readyTimeout, "ready-timeout", 60*time.Second, "how long Envoy may take to become ready")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
