package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/statedir"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Manage agent identities"}
	cmd.AddCommand(newAgentAddCmd())
	return cmd
}

func newAgentAddCmd() *cobra.Command {
	var noStore bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an agent token: print it once, and the token_sha256 line for bridle.yaml",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidName(name) {
				return fmt.Errorf("agent name %q: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit", name)
			}
			token, sum := statedir.NewToken()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Token for agent %q (shown once; keep it secret):\n  %s\n\n", name, token)
			fmt.Fprintf(out, "Add to bridle.yaml:\n  agents:\n    - name: %s\n      token_sha256: %q\n", name, sum)
			if noStore {
				return nil
			}
			stateDir, err := config.PeekStateDir(configPath(cmd))
			if err != nil {
				return err
			}
			dir := statedir.Dir(stateDir)
			if err := dir.StoreDevToken(name, token); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nStored for `bridle run --agent %s` in %s (dev use; --no-store to skip).\n", name, dir.Path("agents"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStore, "no-store", false, "do not keep the token in the state dir")
	return cmd
}
