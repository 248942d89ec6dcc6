package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/gateway"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config with the same loader `bridle up` uses; print every error with file:line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := gateway.Validate(configPath(cmd), os.LookupEnv)
			if err != nil {
				for _, e := range flatten(err) {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return exitCode(1)
			}
			c := plan.Config
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d agent(s), %d connector(s), %d host(s), %d policy rule(s))\n",
				c.File, len(c.Agents), len(c.Connectors), len(plan.Hosts()), len(plan.Policy.Rules()))
			if c.Listen.ControlPlaneTLS() {
				fmt.Fprintln(cmd.OutOrStdout(), "control plane: mutual TLS between Envoy and Bridle, HTTPS API (off loopback or listen.tls: always)")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "control plane: plain TCP, allowed because xds, authz and api listen on loopback")
			}
			switch ap, err := netip.ParseAddrPort(c.Listen.Proxy); {
			case c.Listen.ProxyTLS:
				fmt.Fprintf(cmd.OutOrStdout(), "proxy: TLS (agents use HTTPS_PROXY=https://…; certificate names %v)\n", plan.ProxyCertNames(ap))
			case err == nil && !ap.Addr().IsLoopback():
				fmt.Fprintf(cmd.OutOrStdout(), "warning: the proxy listens on %s, off loopback, without TLS: agent tokens cross the network in clear; set listen.proxy_tls: true, or keep agents on this host or on a private network\n", c.Listen.Proxy)
			}
			if ap, err := netip.ParseAddrPort(c.Listen.EnvoyAdmin); err == nil && !ap.Addr().IsLoopback() {
				fmt.Fprintf(cmd.OutOrStdout(), "warning: Envoy's admin interface listens on %s, off loopback, in plain HTTP with no authentication: whoever reaches it can stop Envoy and read its config; keep it on loopback or on a network only Bridle and operators reach\n", c.Listen.EnvoyAdmin)
			}
			if plan.Policy.Empty() {
				fmt.Fprintln(cmd.OutOrStdout(), "warning: no policy files: every request will be denied (default_deny)")
			}
			return nil
		},
	}
}

// flatten unwraps errors.Join trees into one error per line.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
