package envoy

import (
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// HTTPSPort is the only port a CONNECT to a connector host may target.
const HTTPSPort = 443

// Fallback bodies for the direct responses behind catch-all routes. They
// are only ever seen if the decision service wrongly allowed such a
// request: the route itself still refuses it.
const (
	noConnectorBody = `{"error":"this host has no connector","reason":"no_connector"}`
	misdirectedBody = `{"error":"the request's host differs from the tunnel's","reason":"misdirected"}`
)

// proxyRoutes is the route table of the agent-facing listener. Every route,
// including the catch-alls, calls the decision service, so every denial
// carries a decision id.
func proxyRoutes(s Spec) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: ProxyRoutes}
	for _, d := range s.Destinations {
		ctx := map[string]string{CtxConnector: d.Connector, CtxHost: d.Host}
		rc.VirtualHosts = append(rc.VirtualHosts,
			&routev3.VirtualHost{
				Name:    "connect:" + d.Host,
				Domains: []string{d.Host + ":" + strconv.Itoa(HTTPSPort)},
				Routes: []*routev3.Route{
					connectRoute(with(ctx, PhaseConnect)),
					refuseRoute(prefixMatch(), 403, noConnectorBody, phaseOnly(PhasePlain)),
				},
			},
			&routev3.VirtualHost{
				// Plain http:// to a connector host goes to the same TLS
				// upstream, so a credential only travels encrypted.
				Name:    "plain:" + d.Host,
				Domains: []string{d.Host, d.Host + ":80"},
				Routes: []*routev3.Route{
					refuseRoute(connectMatch(), 403, noConnectorBody, phaseOnly(PhaseConnect)),
					forwardRoute(d, with(ctx, PhasePlain), s.HoldTimeout),
				},
			})
	}
	rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
		Name:    "no_connector",
		Domains: []string{"*"},
		Routes: []*routev3.Route{
			refuseRoute(connectMatch(), 403, noConnectorBody, phaseOnly(PhaseConnect)),
			refuseRoute(prefixMatch(), 403, noConnectorBody, phaseOnly(PhasePlain)),
		},
	})
	return rc
}

// mitmRoutes is the route table of one host's TLS chain: that host goes to
// its own egress cluster; any other :authority (h2 coalescing, a forged
// Host) is misdirected.
func mitmRoutes(d Destination, hold time.Duration) *routev3.RouteConfiguration {
	ctx := map[string]string{CtxConnector: d.Connector, CtxHost: d.Host}
	return &routev3.RouteConfiguration{
		Name: MITMRoutes(d.Host),
		VirtualHosts: []*routev3.VirtualHost{
			{
				Name:    d.Host,
				Domains: []string{d.Host, d.Host + ":" + strconv.Itoa(HTTPSPort)},
				Routes:  []*routev3.Route{forwardRoute(d, with(ctx, PhaseRequest), hold)},
			},
			{
				Name:    "misdirected",
				Domains: []string{"*"},
				Routes:  []*routev3.Route{refuseRoute(prefixMatch(), 421, misdirectedBody, with(ctx, PhaseRequest))},
			},
		},
	}
}

func with(ctx map[string]string, phase string) map[string]string {
	out := make(map[string]string, len(ctx)+1)
	for k, v := range ctx {
		out[k] = v
	}
	out[CtxPhase] = phase
	return out
}

func phaseOnly(phase string) map[string]string { return map[string]string{CtxPhase: phase} }

func prefixMatch() *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
}

// connectMatch matches HTTP/1.1 CONNECT, which has no path.
func connectMatch() *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}}
}

// connectRoute terminates the CONNECT and sends its bytes to the internal
// TLS listener.
func connectRoute(ctx map[string]string) *routev3.Route {
	return &routev3.Route{
		Match: connectMatch(),
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: MITMCluster},
			Timeout:          dur(0),
			UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{
				UpgradeType:   "CONNECT",
				ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{},
			}},
		}},
		TypedPerFilterConfig: authzPerRoute(ctx, false, 0),
	}
}

// forwardRoute sends an allowed request to the host's egress cluster. The
// route timeout is off: model APIs stream for minutes; idle streams are
// bounded by the connection manager's stream idle timeout instead.
func forwardRoute(d Destination, ctx map[string]string, hold time.Duration) *routev3.Route {
	if !d.Holds {
		hold = 0
	}
	return &routev3.Route{
		Match: prefixMatch(),
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: EgressCluster(d.Host)},
			Timeout:          dur(0),
		}},
		TypedPerFilterConfig: authzPerRoute(ctx, d.BufferBody, hold),
	}
}

func refuseRoute(m *routev3.RouteMatch, status uint32, body string, ctx map[string]string) *routev3.Route {
	return &routev3.Route{
		Match: m,
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: status,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}},
		}},
		TypedPerFilterConfig: authzPerRoute(ctx, false, 0),
	}
}
