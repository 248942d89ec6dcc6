package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/gateway"
)

func newEnvoyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "envoy", Short: "Envoy helpers"}
	cmd.AddCommand(newEnvoyBootstrapCmd())
	return cmd
}

func newEnvoyBootstrapCmd() *cobra.Command {
	var nodeID, xdsAddr, authzAddr, adminAddr, proxyAddr, cluster string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Print the bootstrap for an Envoy that runs elsewhere (sidecar, gateway, another host)",
		Long: "Prints the static Envoy bootstrap pointing at Bridle's xDS and decision services. Everything\n" +
			"else (listeners, routes, certificates) comes over ADS. --proxy gives this Envoy its own agent\n" +
			"listener address, so several Envoys can share one control plane. Defaults come from the config's\n" +
			"listen addresses. Off loopback (or with listen.tls: always) the bootstrap holds a client certificate\n" +
			"for mutual TLS, minted from the state dir's CA: run it where `bridle serve` keeps its state, and treat\n" +
			"the output as a secret.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodeID == "" {
				return fmt.Errorf("--node-id is required: a name unique among the Envoys of this control plane")
			}
			req := gateway.BootstrapRequest{NodeID: nodeID, Cluster: cluster}
			for _, f := range []struct {
				name, val string
				dst       *netip.AddrPort
			}{{"--xds", xdsAddr, &req.XDS}, {"--authz", authzAddr, &req.Authz}, {"--admin", adminAddr, &req.Admin}, {"--proxy", proxyAddr, &req.Proxy}} {
				if f.val == "" {
					continue
				}
				ap, err := netip.ParseAddrPort(f.val)
				if err != nil || ap.Port() == 0 {
					return fmt.Errorf("%s %q: want ip:port with a fixed port", f.name, f.val)
				}
				*f.dst = ap
			}
			b, err := gateway.Bootstrap(configPath(cmd), req)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodeID, "node-id", "", "this Envoy's node id (required)")
	f.StringVar(&xdsAddr, "xds", "", "Bridle's xDS address (default: listen.xds)")
	f.StringVar(&authzAddr, "authz", "", "Bridle's decision service address (default: listen.authz)")
	f.StringVar(&adminAddr, "admin", "", "this Envoy's admin address (default: listen.envoy_admin)")
	f.StringVar(&proxyAddr, "proxy", "", "this Envoy's agent listener address (default: listen.proxy)")
	f.StringVar(&cluster, "cluster", "bridle", "Envoy's service cluster name")
	return cmd
}
