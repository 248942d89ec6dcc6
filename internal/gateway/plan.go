// Package gateway assembles a running Bridle from a config file: it is the
// one loader behind `bridle up` and `bridle validate` (so validate checks
// exactly what up would run), and it wires the control plane, the decision
// service, the access-log sink, the API and the supervised Envoy together.
package gateway

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/policies"
	"github.com/bridle-gw/bridle/xds"
)

// Timeouts Envoy applies on the decision path.
const (
	// checkTimeout: a Check takes well under a millisecond; past this
	// Envoy answers 503 (fail closed) instead of waiting.
	checkTimeout = 2 * time.Second
	// streamIdleTimeout closes tunnels and streams with no traffic.
	streamIdleTimeout = 5 * time.Minute
)

// Plan is a fully validated configuration, ready to be served. It is
// immutable.
type Plan struct {
	Config     *config.Config
	Connectors *connectors.Registry
	// Policy is the compiled permission rules; empty means default deny.
	Policy *policies.Set
}

// Hosts returns every connector host (defaults of built-in types
// included), in config order.
func (p *Plan) Hosts() []string {
	var out []string
	for _, c := range p.Connectors.Connectors() {
		out = append(out, c.Hosts()...)
	}
	return out
}

// settings returns the config entry of a connector.
func (p *Plan) settings(name string) config.Connector {
	for _, c := range p.Config.Connectors {
		if c.Name == name {
			return c
		}
	}
	return config.Connector{}
}

// targets lists what the resolver must resolve, per host.
func (p *Plan) targets() map[string]xds.Target {
	out := map[string]xds.Target{}
	for _, c := range p.Connectors.Connectors() {
		set := p.settings(c.Name())
		for _, h := range c.Hosts() {
			out[h] = xds.Target{Host: h, Dial: set.Upstream, AllowPrivate: set.UnsafeAllowPrivateUpstream}
		}
	}
	return out
}

// trust builds each connector's upstream root bundle: the system roots
// plus the connector's upstream_ca.
func (p *Plan) trust(system []byte) map[string][]byte {
	out := map[string][]byte{}
	for _, c := range p.Config.Connectors {
		out[envoy.TrustSecret(c.Name)] = xds.Bundle(system, c.UpstreamCA)
	}
	return out
}

// EnvoySpec is the data-plane shape for this plan.
func (p *Plan) EnvoySpec(proxy netip.AddrPort, leaves map[string]envoy.LeafPEM, eps map[string][]netip.AddrPort, system []byte) envoy.Spec {
	hold := p.Config.Approvals.Hold
	s := envoy.Spec{
		Proxy:        proxy,
		Trust:        p.trust(system),
		Leaves:       leaves,
		CheckTimeout: checkTimeout,
		// A held Check must outlive the hold, and so must the streams it
		// holds (inner request and outer tunnel), or Envoy cuts them first.
		HoldTimeout:       hold + checkTimeout,
		StreamIdleTimeout: max(streamIdleTimeout, hold+time.Minute),
	}
	for _, c := range p.Connectors.Connectors() {
		for _, h := range c.Hosts() {
			s.Destinations = append(s.Destinations, envoy.Destination{
				Connector: c.Name(),
				Host:      h,
				Port:      envoy.HTTPSPort,
				Endpoints: slices.Clone(eps[h]),
				Trust:     envoy.TrustSecret(c.Name()),
				// Buffer bodies (up to 1 MiB) only for connectors whose
				// route tables read them.
				BufferBody: len(c.BodyRoutes()) > 0,
				// Only hosts a require_approval rule can reach wait long.
				Holds: p.Policy.MayRequireApproval(c.Prefix()),
			})
		}
	}
	return s
}

// ProxyCertNames are the names the agent-facing listener's certificate
// carries when proxy_tls is on (nil otherwise): the configured
// proxy_names, "localhost", and the proxy's IP — or, when it listens on
// every address, this host's interface addresses. Envoys elsewhere (bridle
// serve) are reached by the names in proxy_names.
func (p *Plan) ProxyCertNames(proxy netip.AddrPort) []string {
	if !p.Config.Listen.ProxyTLS {
		return nil
	}
	names := append([]string{"localhost"}, p.Config.Listen.ProxyNames...)
	if ip := proxy.Addr(); ip.IsValid() && !ip.IsUnspecified() {
		names = append(names, ip.Unmap().String())
	} else {
		names = append(names, hostAddrs()...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// hostAddrs are the IP addresses of this host's interfaces.
func hostAddrs() []string {
	out := []string{"127.0.0.1", "::1"}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.Addr().Unmap().String())
		}
	}
	return out
}

// DecisionSnapshot is what the decision service needs from this plan;
// refused names the connector hosts that resolved only to private addresses.
func (p *Plan) DecisionSnapshot(refused map[string]bool) *extauthz.Snapshot {
	agents := map[string][][32]byte{}
	for _, a := range p.Config.Agents {
		agents[a.Name] = a.TokenSHA256s
	}
	snap := &extauthz.Snapshot{
		Policy:          p.Policy,
		Agents:          extauthz.NewAgents(agents),
		AgentLimits:     map[string]extauthz.Limit{},
		ConnectorLimits: map[string]*extauthz.Limit{},
		Connectors:      map[string]*connectors.Connector{},
		Refused:         refused,
	}
	for _, a := range p.Config.Agents {
		snap.AgentLimits[a.Name] = extauthz.Limit{Requests: a.RateLimit.Requests, Per: a.RateLimit.Per}
	}
	for _, c := range p.Connectors.Connectors() {
		snap.Connectors[c.Name()] = c
		if rl := p.settings(c.Name()).RateLimit; rl != nil {
			snap.ConnectorLimits[c.Name()] = &extauthz.Limit{Requests: rl.Requests, Per: rl.Per}
		}
	}
	return snap
}
