package envoy

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// requestHeadersTimeout bounds how long a client may take to send request
// headers (slowloris); agents send headers immediately.
const requestHeadersTimeout = 10 * time.Second

func wrapBool(b bool) *wrapperspb.BoolValue { return wrapperspb.Bool(b) }

// hcm holds the settings both HTTP connection managers share: RDS, path
// normalisation, and nothing added to or changed in the agent's request
// beyond what Bridle decides.
func hcm(prefix, routes string, codec hcmv3.HttpConnectionManager_CodecType, idle time.Duration, filters []*hcmv3.HttpFilter) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: prefix,
		CodecType:  codec,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routes,
			ConfigSource:    adsSource(),
		}},
		HttpFilters:           filters,
		StreamIdleTimeout:     dur(idle),
		RequestHeadersTimeout: dur(requestHeadersTimeout),
		// The path the decision service parses is exactly the path Envoy
		// forwards: dot segments resolved, slashes merged, and %2F kept
		// as data inside a segment, never turned into a separator.
		NormalizePath:                wrapBool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		// Be a transparent proxy: no x-forwarded-for, no generated
		// x-request-id, upstream server headers passed through.
		SkipXffAppend:              true,
		GenerateRequestId:          wrapBool(false),
		ServerHeaderTransformation: hcmv3.HttpConnectionManager_PASS_THROUGH,
		AccessLog:                  accessLog(prefix),
	}
}

// proxyListener is the agent-facing HTTP/1.1 listener: CONNECT for HTTPS
// and absolute-form requests for plain HTTP.
func proxyListener(s Spec) (*listenerv3.Listener, error) {
	m := hcm(ProxyListener, ProxyRoutes, hcmv3.HttpConnectionManager_HTTP1, s.StreamIdleTimeout, []*hcmv3.HttpFilter{
		extAuthzFilter("proxy", s.CheckTimeout, false),
		setFilterStateFilter(),
		stripFilter(),
		routerFilter(),
	})
	m.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "CONNECT"}}
	// Python's http.client (requests, urllib3, httpx's sync path) sends
	// "CONNECT host:443 HTTP/1.0"; Envoy answers HTTP/1.0 with 426 unless
	// it is accepted. A 1.0 request without a Host matches no connector.
	m.HttpProtocolOptions = &corev3.Http1ProtocolOptions{AllowAbsoluteUrl: wrapBool(true), AcceptHttp_10: true}
	// Log when a tunnel opens, not only when it closes.
	m.AccessLogOptions = &hcmv3.HttpConnectionManager_HcmAccessLogOptions{FlushLogOnTunnelSuccessfullyEstablished: true}
	chain := &listenerv3.FilterChain{
		Filters: []*listenerv3.Filter{networkFilter("envoy.filters.network.http_connection_manager", m)},
	}
	if s.ProxyCert != nil {
		// Agents on other hosts: their Proxy-Authorization (the agent
		// token) travels inside TLS. HTTP/1.1 only, as without TLS.
		chain.TransportSocket = serverTLS(ProxySecret, "http/1.1")
	}
	return &listenerv3.Listener{
		Name:         ProxyListener,
		Address:      socketAddress(s.Proxy.Addr().String(), uint32(s.Proxy.Port())),
		FilterChains: []*listenerv3.FilterChain{chain},
	}, nil
}

// serverTLS terminates TLS with the certificate of an SDS secret.
func serverTLS(secret string, alpn ...string) *corev3.TransportSocket {
	return transportSocket("envoy.transport_sockets.tls", &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: alpn,
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
				Name: secret, SdsConfig: adsSource(),
			}},
		},
	})
}

// mitmListener is the internal listener CONNECT tunnels land on. Only
// connector hosts have a filter chain, chosen by SNI; any other SNI, or
// none, matches nothing and the connection is closed.
func mitmListener(s Spec) (*listenerv3.Listener, error) {
	l := &listenerv3.Listener{
		Name:              MITMListener,
		ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       "envoy.filters.listener.tls_inspector",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
		}},
	}
	for _, d := range s.Destinations {
		m := hcm("mitm", MITMRoutes(d.Host), hcmv3.HttpConnectionManager_AUTO, s.StreamIdleTimeout, []*hcmv3.HttpFilter{
			identityFilter(),
			extAuthzFilter("mitm", s.CheckTimeout, true),
			stripFilter(),
			routerFilter(),
		})
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Name:             "dst:" + d.Host,
			FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{d.Host}},
			TransportSocket:  serverTLS(LeafSecret(d.Host), "h2", "http/1.1"),
			Filters:          []*listenerv3.Filter{networkFilter("envoy.filters.network.http_connection_manager", m)},
		})
	}
	return l, nil
}

func networkFilter(name string, cfg proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(cfg)}}
}

func transportSocket(name string, cfg proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: name, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(cfg)}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func wrapUint32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
