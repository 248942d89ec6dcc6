package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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
			log, err := newLogger(os.Stderr, logLevel, logFormat, getenv)
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
	cmd.Flags().StringVar(&logFormat, "log-format", "", logFormatHelp)
	cmd.Flags().DurationVar(&readyTimeout, "ready-timeout", 60*time.Second, "how long Envoy may take to become ready")
	return cmd
}

const logFormatHelp = "auto, text or json (default $BRIDLE_LOG_FORMAT, else auto: text on a terminal, one JSON object per line otherwise)"

// newLogger builds the gateway's logger onto out. In auto format, which is
// the default, a person at a terminal reads text and a log collector
// (journald, a container runtime, a file) gets JSON lines.
func newLogger(out *os.File, level, format string, getenv func(string) string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	format = cmp.Or(format, getenv("BRIDLE_LOG_FORMAT"), "auto")
	if format == "auto" {
		format = "json"
		if term.IsTerminal(int(out.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
}
