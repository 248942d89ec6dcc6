package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/config"
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
			"listen addresses.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodeID == "" {
				return fmt.Errorf("--node-id is required: a name unique among the Envoys of this control plane")
			}
			cfg, err := config.LoadEnv(configPath(cmd), func(string) (string, bool) { return "x", true })
			if cfg == nil {
				return err
			}
			pick := func(flag, def string) (netip.AddrPort, error) {
				if flag == "" {
					flag = def
				}
				ap, err := netip.ParseAddrPort(flag)
				if err != nil || ap.Port() == 0 {
					return ap, fmt.Errorf("address %q: want ip:port with a fixed port", flag)
				}
				return ap, nil
			}
			spec := envoy.BootstrapSpec{NodeID: nodeID, Cluster: cluster}
			if spec.XDS, err = pick(xdsAddr, cfg.Listen.XDS); err != nil {
				return fmt.Errorf("--xds: %w", err)
			}
			if spec.Authz, err = pick(authzAddr, cfg.Listen.Authz); err != nil {
				return fmt.Errorf("--authz: %w", err)
			}
			if spec.Admin, err = pick(adminAddr, cfg.Listen.EnvoyAdmin); err != nil {
				return fmt.Errorf("--admin: %w", err)
			}
			if proxyAddr != "" {
				if spec.Proxy, err = pick(proxyAddr, ""); err != nil {
					return fmt.Errorf("--proxy: %w", err)
				}
			}
			b, err := envoy.Bootstrap(spec)
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
