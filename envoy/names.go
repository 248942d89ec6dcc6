// Package envoy builds the Envoy 1.40 configuration Bridle serves: the
// bootstrap file and the listeners, routes, clusters, endpoints and secrets
// of an xDS snapshot. It is pure (no I/O) and imports nothing else of
// Bridle's, so the whole data-plane shape can be golden-tested.
//
// The chain (DESIGN §1–2, reference/envoy-design-notes.md §1):
//
//	agent_proxy (HTTP/1.1, CONNECT + absolute-form)
//	  ext_authz phase=connect|plain → set_filter_state(agent id, CONNECT authority)
//	  CONNECT to a connector host → mitm_internal → internal listener mitm_tls
//	  absolute-form http:// to a connector host → egress:<host> (TLS upstream)
//	mitm_tls: one TLS chain per connector host (SNI, SDS leaf)
//	  header_mutation (identity from filter state) → ext_authz phase=request
//	  → header_mutation (strip x-bridle-*) → router → egress:<host>
package envoy

// Resource names shared by the bootstrap, the snapshot and the decision
// service. Changing one is a compatibility break for running Envoys.
const (
	ProxyListener      = "agent_proxy"
	ProxyRoutes        = "agent_proxy_routes"
	MITMListener       = "mitm_tls"
	MITMCluster        = "mitm_internal"
	XDSCluster         = "bridle_xds"
	AuthzCluster       = "bridle_authz"
	ExtAuthzFilterName = "envoy.filters.http.ext_authz"

	// Filter state keys carried from the CONNECT stream to the internal
	// listener connection.
	FilterStateAgent     = "bridle.agent_id"
	FilterStateAuthority = "bridle.connect_authority"

	// Headers the inner header_mutation sets from filter state, after
	// removing any copy the agent sent.
	HeaderAgentID          = "x-bridle-agent-id"
	HeaderConnectAuthority = "x-bridle-connect-authority"

	// Context extension keys and phases seen by the decision service.
	CtxPhase     = "phase"
	CtxConnector = "connector"
	CtxHost      = "host"
	PhaseConnect = "connect"
	PhasePlain   = "plain"
	PhaseRequest = "request"

	// MetadataAgentID is the dynamic metadata key the connect-phase Check
	// returns and set_filter_state reads.
	MetadataAgentID = "agent_id"
)

// MITMRoutes names the route table of one connector host's TLS chain.
func MITMRoutes(host string) string { return "mitm_routes:" + host }

// EgressCluster names the upstream cluster of one connector host.
func EgressCluster(host string) string { return "egress:" + host }

// LeafSecret names the SDS secret holding a host's MITM certificate.
func LeafSecret(host string) string { return "leaf:" + host }

// ProxySecret names the SDS secret holding the agent-facing listener's
// certificate, when that listener speaks TLS. No connector host can
// collide with it: leaf secrets are prefixed.
const ProxySecret = "proxy-tls"

// TrustSecret names the SDS validation context used for a connector's
// upstream (system roots plus its upstream_ca, if any).
func TrustSecret(connector string) string { return "trust:" + connector }
