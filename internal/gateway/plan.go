// Package gateway assembles a running Bridle from a config file: it is the
// one loader behind `bridle up` and `bridle validate` (so validate checks
// exactly what up would run), and it wires the control plane, the decision
// service, the access-log sink, the API and the supervised Envoy together.
package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/config"
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

// Plan is a fully validated configuration, ready to be served.
type Plan struct {
	Config *config.Config
}

// Load reads the config file and runs every check `bridle up` relies on
// that the config package cannot make alone. All problems are returned at
// once, each naming file:line:col.
func Load(path string, env func(string) (string, bool)) (*Plan, error) {
	cfg, err := config.LoadEnv(path, env)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, c := range cfg.Connectors {
		if c.Upstream == "" || c.UnsafeAllowPrivateUpstream {
			continue
		}
		host, _, _ := net.SplitHostPort(c.Upstream)
		if ip, err := netip.ParseAddr(host); err == nil {
			if err := xds.VetAddr(ip); err != nil {
				errs = append(errs, cfg.Errorf(pathf("connectors[%d].upstream", i),
					"%v; set unsafe_allow_private_upstream: true on this connector to allow it", err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Plan{Config: cfg}, nil
}

// Hosts returns every connector host, in config order.
func (p *Plan) Hosts() []string {
	var out []string
	for _, c := range p.Config.Connectors {
		out = append(out, c.Hosts...)
	}
	return out
}

// targets lists what the resolver must resolve, per host.
func (p *Plan) targets() map[string]xds.Target {
	out := map[string]xds.Target{}
	for _, c := range p.Config.Connectors {
		for _, h := range c.Hosts {
			out[h] = xds.Target{Host: h, Dial: c.Upstream, AllowPrivate: c.UnsafeAllowPrivateUpstream}
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
	s := envoy.Spec{
		Proxy:             proxy,
		Trust:             p.trust(system),
		Leaves:            leaves,
		CheckTimeout:      checkTimeout,
		StreamIdleTimeout: streamIdleTimeout,
	}
	for _, c := range p.Config.Connectors {
		for _, h := range c.Hosts {
			s.Destinations = append(s.Destinations, envoy.Destination{
				Connector: c.Name,
				Host:      h,
				Port:      envoy.HTTPSPort,
				Endpoints: slices.Clone(eps[h]),
				Trust:     envoy.TrustSecret(c.Name),
			})
		}
	}
	return s
}

// DecisionSnapshot is what the decision service needs from this plan.
func (p *Plan) DecisionSnapshot() *extauthz.Snapshot {
	agents := map[string][][32]byte{}
	for _, a := range p.Config.Agents {
		agents[a.Name] = a.TokenSHA256s
	}
	snap := &extauthz.Snapshot{Agents: extauthz.NewAgents(agents), Connectors: map[string]*extauthz.Connector{}}
	for _, c := range p.Config.Connectors {
		ec := &extauthz.Connector{Name: c.Name, Hosts: map[string]bool{}}
		for _, h := range c.Hosts {
			ec.Hosts[h] = true
		}
		if c.Credential != nil {
			ec.Credential = &extauthz.Header{Name: c.Credential.Header, Value: c.Credential.Value}
		}
		snap.Connectors[c.Name] = ec
	}
	return snap
}

func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
