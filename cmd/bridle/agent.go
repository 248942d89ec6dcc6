package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/statedir"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Manage agent identities"}
	cmd.AddCommand(newAgentAddCmd(), newAgentRotateCmd(), newAgentRevokeCmd())
	return cmd
}

// newAgentRotateCmd makes a second token for an agent. Config is the source
// of truth (GitOps): the command prints what to change, and the reload
// applies it with no gap — both hashes are valid until the old one is
// removed.
func newAgentRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate NAME",
		Short: "Make a new token for an agent; both stay valid until you remove the old hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidName(name) {
				return fmt.Errorf("agent name %q is not valid", name)
			}
			token, sum := statedir.NewToken()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "New token for agent %q (shown once; keep it secret):\n  %s\n\n", name, token)
			fmt.Fprintf(out, "In bridle.yaml, give the agent both hashes until it uses the new token:\n  token_sha256s: [\"<old hash>\", %q]\n", sum)
			fmt.Fprintf(out, "then remove the old one. Bridle reloads the file on save.\n")
			stateDir, err := config.PeekStateDir(configPath(cmd))
			if err != nil {
				return err
			}
			dir := statedir.Dir(stateDir)
			if _, err := dir.DevToken(name); err == nil {
				if err := dir.StoreDevToken(name, token); err != nil {
					return err
				}
				fmt.Fprintf(out, "The dev token stored for `bridle run --agent %s` was replaced.\n", name)
			}
			return nil
		},
	}
}

func newAgentRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Forget an agent's stored dev token and say how to revoke it in the config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			stateDir, err := config.PeekStateDir(configPath(cmd))
			if err != nil {
				return err
			}
			if err := statedir.Dir(stateDir).RemoveDevToken(name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed the stored token of %q (if any). Now delete the agent (or its hash) from bridle.yaml:\n"+
				"the reload refuses its token and cuts its open tunnels at their next request (407).\n", name)
			return nil
		},
	}
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
