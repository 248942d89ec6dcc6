package main

import (
	"context"

	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree. getenv is injected so tests control
// the environment.
func newRootCmd(ctx context.Context, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "bridle",
		Short:         "An Envoy-native egress gateway that keeps AI agents on policy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defaultConfig := getenv("BRIDLE_CONFIG")
	if defaultConfig == "" {
		defaultConfig = "bridle.yaml"
	}
	root.PersistentFlags().String("config", defaultConfig, "config file ($BRIDLE_CONFIG)")
	root.SetContext(ctx)
	root.AddCommand(
		newUpCmd(getenv),
		newServeCmd(),
		newVaultCmd(),
		newSigningKeyCmd(getenv),
		newKillSwitchCmd(),
		newPolicyCmd(),
		newLogsCmd(),
		newEnvoyCmd(),
		newApprovalsCmd(),
		newRunCmd(getenv),
		newValidateCmd(),
		newAgentCmd(),
	)
	return root
}

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}
