package main

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/api"
)

func newKillSwitchCmd() *cobra.Command {
	var agent, connector, reason string
	scope := func() (string, error) {
		switch {
		case agent != "" && connector != "":
			return "", fmt.Errorf("give --agent or --connector, not both")
		case agent != "":
			return "agent:" + agent, nil
		case connector != "":
			return "connector:" + connector, nil
		}
		return "all", nil
	}
	set := func(on bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			sc, err := scope()
			if err != nil {
				return err
			}
			c, err := newAPIClient(cmd)
			if err != nil {
				return err
			}
			method := "PUT"
			if !on {
				method = "DELETE"
			}
			var sw api.Switch
			if err := c.do(method, "/api/v1/killswitch", map[string]string{"scope": sc, "reason": reason, "who": whoami()}, &sw); err != nil {
				return err
			}
			state := "ON: matching traffic is refused (403 kill_switch)"
			if !on {
				state = "off"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kill switch %s is %s\n", sw.Scope, state)
			return nil
		}
	}
	cmd := &cobra.Command{
		Use:   "killswitch",
		Short: "Stop traffic now: for every agent, one agent, or one connector",
	}
	on := &cobra.Command{Use: "on", Short: "Turn a kill switch on", Args: cobra.NoArgs, RunE: set(true)}
	off := &cobra.Command{Use: "off", Short: "Turn a kill switch off", Args: cobra.NoArgs, RunE: set(false)}
	status := &cobra.Command{
		Use: "status", Short: "Show every kill switch and who changed it last", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(cmd)
			if err != nil {
				return err
			}
			var resp struct {
				Switches []api.Switch `json:"switches"`
			}
			if err := c.do("GET", "/api/v1/killswitch", nil, &resp); err != nil {
				return err
			}
			switches := resp.Switches
			if agent != "" || connector != "" {
				// Only the switches that would stop this agent or connector.
				switches = nil
				for _, s := range resp.Switches {
					if s.Scope == "all" || (agent != "" && s.Scope == "agent:"+agent) || (connector != "" && s.Scope == "connector:"+connector) {
						switches = append(switches, s)
					}
				}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCOPE\tSTATE\tSINCE\tWHO\tREASON")
			for _, s := range switches {
				state := "off"
				if s.On {
					state = "ON"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Scope, state, s.At.Local().Format(time.DateTime), s.Who, s.Reason)
			}
			if len(switches) == 0 {
				fmt.Fprintln(tw, "(none set)")
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if agent != "" || connector != "" {
				stopped := "not stopped"
				for _, s := range switches {
					if s.On {
						stopped = "STOPPED by " + s.Scope
						break
					}
				}
				who := strings.TrimSpace(prefixed("agent", agent) + " " + prefixed("connector", connector))
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", who, stopped)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{on, off} {
		c.Flags().StringVar(&agent, "agent", "", "only this agent")
		c.Flags().StringVar(&connector, "connector", "", "only this connector")
		c.Flags().StringVar(&reason, "reason", "", "why (recorded with who and when)")
	}
	status.Flags().StringVar(&agent, "agent", "", "only the switches that stop this agent (all, agent:NAME)")
	status.Flags().StringVar(&connector, "connector", "", "only the switches that stop this connector (all, connector:NAME)")
	cmd.AddCommand(on, off, status)
	return cmd
}

// whoami names the operator for the record.
func whoami() string {
	if u, err := user.Current(); err == nil {
		host, _ := os.Hostname()
		return "cli:" + u.Username + "@" + host
	}
	return "cli"
}

// prefixed is "kind NAME", or "" without a name.
func prefixed(kind, name string) string {
	if name == "" {
		return ""
	}
	return kind + " " + name
}
