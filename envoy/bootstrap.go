package envoy

import (
	"fmt"
	"net/netip"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	connmonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// BootstrapSpec says where an Envoy finds Bridle.
type BootstrapSpec struct {
	NodeID  string
	Cluster string
	// Proxy, when valid, is where this Envoy binds the agent listener; it
	// travels in the node metadata (several Envoys, one control plane).
	Proxy netip.AddrPort
	Admin netip.AddrPort
	XDS   netip.AddrPort
	Authz netip.AddrPort
	// TLS, when set, makes both control-plane clusters mutual TLS: Envoy
	// presents Cert/Key and accepts only a server certificate from CA with
	// the SAN ControlPlaneName. Required off loopback (DESIGN §6): xDS
	// carries the MITM private keys.
	TLS *BootstrapTLS
	// MaxConnections caps downstream connections (Envoy's overload
	// manager); agents are few, so this is a safety net, not a tuning knob.
	MaxConnections int
}

// Bootstrap renders the static Envoy bootstrap as JSON. Only the xDS and
// decision-service clusters are static: the decision service must stay
// reachable even if CDS were broken, and everything else comes over ADS.
func Bootstrap(s BootstrapSpec) ([]byte, error) {
	if s.NodeID == "" {
		return nil, fmt.Errorf("bootstrap: node id is required")
	}
	if s.MaxConnections <= 0 {
		s.MaxConnections = 50000
	}
	b := &bootstrapv3.Bootstrap{
		Node: node(s),
		Admin: &bootstrapv3.Admin{
			Address: socketAddress(s.Admin.Addr().String(), uint32(s.Admin.Port())),
		},
		BootstrapExtensions: []*corev3.TypedExtensionConfig{{
			Name:        "envoy.bootstrap.internal_listener",
			TypedConfig: mustAny(&internallistenerv3.InternalListener{}),
		}},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   corev3.ApiConfigSource_GRPC,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSCluster},
				}}},
			},
			CdsConfig: adsSource(),
			LdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{
				grpcCluster(XDSCluster, s.XDS, s.TLS),
				authzCluster(s.Authz, s.TLS),
			},
		},
		OverloadManager: &overloadv3.OverloadManager{
			ResourceMonitors: []*overloadv3.ResourceMonitor{{
				Name: "envoy.resource_monitors.global_downstream_max_connections",
				ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: mustAny(&connmonv3.DownstreamConnectionsConfig{
					MaxActiveDownstreamConnections: int64(s.MaxConnections),
				})},
			}},
		},
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

// BootstrapTLS is an Envoy's client identity for the control plane.
type BootstrapTLS struct {
	CA        []byte // PEM roots that signed the control plane's certificate
	CertChain []byte // PEM, the Envoy's client certificate then the CA
	Key       []byte // PEM
}

// ControlPlaneName is the SAN (and SNI) of the control plane's server
// certificate, pinned by every Envoy whatever address it dials.
const ControlPlaneName = "bridle-control-plane.internal"

// MetadataProxyAddress is the node metadata key carrying BootstrapSpec.Proxy
// (read by the control plane; the same string as xds.MetadataProxyAddress).
const MetadataProxyAddress = "bridle.proxy_address"

func node(s BootstrapSpec) *corev3.Node {
	n := &corev3.Node{Id: s.NodeID, Cluster: s.Cluster}
	if s.Proxy.IsValid() {
		n.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{
			MetadataProxyAddress: structpb.NewStringValue(s.Proxy.String()),
		}}
	}
	return n
}

// grpcCluster is a static HTTP/2 cluster to one of Bridle's gRPC servers,
// with keepalive so a dead control plane is noticed.
func grpcCluster(name string, addr netip.AddrPort, tls *BootstrapTLS) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       dur(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
							ConnectionKeepalive: &corev3.KeepaliveSettings{Interval: dur(30 * time.Second), Timeout: dur(5 * time.Second)},
						},
					},
				}},
			}),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: socketAddress(addr.Addr().String(), uint32(addr.Port())),
				}},
			}}}},
		},
	}
	if tls != nil {
		c.TransportSocket = transportSocket("envoy.transport_sockets.tls", &tlsv3.UpstreamTlsContext{
			Sni: ControlPlaneName,
			CommonTlsContext: &tlsv3.CommonTlsContext{
				AlpnProtocols:   []string{"h2"},
				TlsCertificates: []*tlsv3.TlsCertificate{{CertificateChain: inline(tls.CertChain), PrivateKey: inline(tls.Key)}},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa: inline(tls.CA),
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_DNS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: ControlPlaneName}},
					}},
				}},
			},
		})
	}
	return c
}

// authzCluster raises the circuit breakers: every in-flight Check counts as
// an active request, and the default (1024) would turn a burst into 503s.
func authzCluster(addr netip.AddrPort, tls *BootstrapTLS) *clusterv3.Cluster {
	c := grpcCluster(AuthzCluster, addr, tls)
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:           corev3.RoutingPriority_DEFAULT,
		MaxRequests:        wrapUint32(100000),
		MaxPendingRequests: wrapUint32(100000),
	}}}
	return c
}
