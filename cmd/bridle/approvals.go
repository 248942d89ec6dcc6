package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/api"
)

func newApprovalsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "approvals", Short: "List, approve and deny actions waiting for a human"}
	var state string
	list := &cobra.Command{
		Use: "list", Short: "List approvals (pending by default)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(cmd)
			if err != nil {
				return err
			}
			var resp struct {
				Approvals []api.Approval `json:"approvals"`
			}
			if err := c.do("GET", "/api/v1/approvals?state="+url.QueryEscape(state), nil, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tAGENT\tACTION\tRULE\tCREATED\tEXPIRES\tDECIDER")
			for _, a := range resp.Approvals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.State, a.Agent, a.Action, a.Rule,
					a.CreatedAt.Local().Format(time.TimeOnly), a.ExpiresAt.Local().Format(time.TimeOnly), a.Decider)
			}
			if len(resp.Approvals) == 0 {
				fmt.Fprintln(tw, "(none)")
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&state, "state", "pending", "pending, approved, denied, expired, used, or empty for all")
	decide := func(approve bool) *cobra.Command {
		verb := "deny"
		if approve {
			verb = "approve"
		}
		var note string
		c := &cobra.Command{
			Use: verb + " ID", Short: verb + " a pending approval", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := newAPIClient(cmd)
				if err != nil {
					return err
				}
				var a api.Approval
				if err := c.do("POST", "/api/v1/approvals/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"note": note}, &a); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s by %s (%s for agent %s)\n", a.ID, a.State, a.Action, a.Decider, a.Connector, a.Agent)
				return nil
			},
		}
		c.Flags().StringVar(&note, "note", "", "why (recorded)")
		return c
	}
	cmd.AddCommand(list, decide(true), decide(false))
	return cmd
}
