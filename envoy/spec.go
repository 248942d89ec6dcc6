package envoy

import (
	"fmt"
	"net/netip"
	"time"

	"google.golang.org/protobuf/proto"
)

// Spec is everything the data plane needs to know, already validated.
type Spec struct {
	// Proxy is the address of the agent-facing listener.
	Proxy netip.AddrPort
	// Destinations are the connector hosts, one MITM chain and one egress
	// cluster each, in a stable order.
	Destinations []Destination
	// Trust maps TrustSecret names to PEM root bundles.
	Trust map[string][]byte
	// Leaves maps host → minted certificate (PEM chain and key).
	Leaves map[string]LeafPEM
	// ProxyCert, when set, makes the agent-facing listener speak TLS
	// with this certificate (agents use HTTPS_PROXY=https://…).
	ProxyCert *LeafPEM
	// CheckTimeout bounds ext_authz calls; past it Envoy answers 503.
	CheckTimeout time.Duration
	// HoldTimeout bounds the Checks of requests to hosts whose
	// Destination.Holds is set (they may wait for an approval).
	HoldTimeout time.Duration
	// StreamIdleTimeout closes idle tunnels and streams.
	StreamIdleTimeout time.Duration
}

// Destination is one connector host reachable through the gateway.
type Destination struct {
	Connector string
	Host      string // DNS name, lower case
	Port      uint32 // upstream port (443)
	// Endpoints are the vetted upstream addresses served over EDS. Empty
	// means no upstream is currently reachable (Envoy answers 503).
	Endpoints []netip.AddrPort
	// Trust names the TrustSecret that verifies this upstream.
	Trust string
	// BufferBody sends request bodies (up to MaxBody, then partially) to
	// the decision service, for connectors whose actions read the body.
	BufferBody bool
	// Holds says a request to this host may wait for a human approval:
	// its Checks get HoldTimeout instead of CheckTimeout.
	Holds bool
}

// MaxBody is the most of a request body the decision service sees.
const MaxBody = 1 << 20

// LeafPEM is a certificate chain and its private key.
type LeafPEM struct {
	CertChain []byte
	Key       []byte
}

// Resources is one full set of xDS resources, by type.
type Resources struct {
	Listeners []proto.Message
	Routes    []proto.Message
	Clusters  []proto.Message
	Endpoints []proto.Message
	Secrets   []proto.Message
}

// Build turns a Spec into the full set of resources for a snapshot.
func Build(s Spec) (*Resources, error) {
	if s.CheckTimeout <= 0 || s.StreamIdleTimeout <= 0 {
		return nil, fmt.Errorf("envoy spec: timeouts must be positive")
	}
	if s.HoldTimeout < s.CheckTimeout {
		s.HoldTimeout = s.CheckTimeout
	}
	r := &Resources{}
	outer, err := proxyListener(s)
	if err != nil {
		return nil, err
	}
	r.Listeners = append(r.Listeners, outer)
	r.Routes = append(r.Routes, proxyRoutes(s))
	if len(s.Destinations) > 0 {
		// With no connector there is nothing to tunnel to: no internal
		// listener (Envoy rejects one without filter chains).
		inner, err := mitmListener(s)
		if err != nil {
			return nil, err
		}
		r.Listeners = append(r.Listeners, inner)
		r.Clusters = append(r.Clusters, mitmCluster())
	}
	for _, d := range s.Destinations {
		leaf, ok := s.Leaves[d.Host]
		if !ok {
			return nil, fmt.Errorf("envoy spec: no certificate for host %s", d.Host)
		}
		if _, ok := s.Trust[d.Trust]; !ok {
			return nil, fmt.Errorf("envoy spec: no trust bundle %q for host %s", d.Trust, d.Host)
		}
		r.Routes = append(r.Routes, mitmRoutes(d, s.HoldTimeout))
		c, err := egressCluster(d)
		if err != nil {
			return nil, err
		}
		r.Clusters = append(r.Clusters, c)
		r.Endpoints = append(r.Endpoints, endpoints(d))
		r.Secrets = append(r.Secrets, leafSecret(d.Host, leaf))
	}
	for _, name := range sortedKeys(s.Trust) {
		r.Secrets = append(r.Secrets, trustSecret(name, s.Trust[name]))
	}
	if s.ProxyCert != nil {
		r.Secrets = append(r.Secrets, certSecret(ProxySecret, *s.ProxyCert))
	}
	return r, nil
}
