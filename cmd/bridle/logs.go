package main

import (
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/api"
)

func newLogsCmd() *cobra.Command {
	var agent, connector, action, decision, since string
	var follow bool
	var limit int
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the decisions the gateway made, one line per request (newest last)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"agent": agent, "connector": connector, "action": action, "decision": decision, "since": since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", fmt.Sprint(limit))
			out := cmd.OutOrStdout()
			if !follow {
				page, err := fetchTraffic(c, q)
				if err != nil {
					return err
				}
				printTraffic(out, reverse(page.Records), true)
				return nil
			}
			q.Set("follow", "1")
			header := true
			for {
				page, err := fetchTraffic(c, q)
				if err != nil {
					return err
				}
				printTraffic(out, page.Records, header)
				header = false
				q.Set("cursor", page.NextCursor)
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new decisions")
	f.StringVar(&agent, "agent", "", "only this agent")
	f.StringVar(&connector, "connector", "", "only this connector")
	f.StringVar(&action, "action", "", "only this action (a trailing * matches a prefix)")
	f.StringVar(&decision, "decision", "", "allow or deny (a held or pending request is a deny)")
	f.StringVar(&since, "since", "", "RFC 3339 time or a duration ago (15m)")
	f.IntVar(&limit, "limit", 50, "how many to show (at most 1000)")
	return cmd
}

type trafficPage struct {
	Records    []api.TrafficRecord `json:"records"`
	NextCursor string              `json:"next_cursor"`
}

func fetchTraffic(c *apiClient, q url.Values) (trafficPage, error) {
	var p trafficPage
	err := c.do("GET", "/api/v1/traffic?"+q.Encode(), nil, &p)
	return p, err
}

func reverse(rs []api.TrafficRecord) []api.TrafficRecord {
	out := make([]api.TrafficRecord, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

// printTraffic writes a readable table: time, agent, decision, status,
// action, method host path, reason/rule, latency.
func printTraffic(w io.Writer, rs []api.TrafficRecord, header bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "TIME\tAGENT\tDECISION\tSTATUS\tACTION\tREQUEST\tWHY\tLATENCY")
	}
	for _, r := range rs {
		why := r.Reason
		if r.Rule != "" {
			why += " (" + r.Rule + ")"
		}
		if r.Approver != "" {
			why += ", approved by " + r.Approver
			if !r.ApprovedAt.IsZero() {
				why += " at " + r.ApprovedAt.Local().Format("15:04:05")
			}
		}
		status, latency := "-", "-"
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		if r.DurationMS > 0 {
			latency = fmt.Sprintf("%.1fms", r.DurationMS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s%s\t%s\t%s\n", r.Time.Local().Format("15:04:05.000"), r.Agent, r.Decision,
			status, r.Action, r.Method, r.Host, r.Path, why, latency)
	}
	tw.Flush()
}
