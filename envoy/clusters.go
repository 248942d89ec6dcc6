package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	internalv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	rawv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	upstreamConnectTimeout = 10 * time.Second
	upstreamIdleTimeout    = 60 * time.Second
)

// mitmCluster connects a terminated CONNECT to the internal TLS listener.
// The internal_upstream transport socket is what carries the CONNECT
// stream's shared filter state (agent id, authority) to that connection.
func mitmCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 MITMCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       dur(5 * time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: MITMCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{
						EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
							AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: MITMListener},
						},
					}},
				}},
			}}}},
		},
		TransportSocket: transportSocket("envoy.transport_sockets.internal_upstream", &internalv3.InternalUpstreamTransport{
			TransportSocket: transportSocket("envoy.transport_sockets.raw_buffer", &rawv3.RawBuffer{}),
		}),
	}
}

// egressCluster reaches one connector host's real upstream over TLS. The
// upstream identity is pinned: SNI is the host and the certificate must
// carry it as a DNS SAN, verified against the connector's trust bundle, so a
// credential injected for this host can only reach a peer proving to be
// it (DESIGN invariant 4). Addresses come over EDS from Bridle's resolver,
// which has already refused private ones (invariant 11).
func egressCluster(d Destination) (*clusterv3.Cluster, error) {
	return &clusterv3.Cluster{
		Name:                 EgressCluster(d.Host),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsSource(),
			ServiceName: EgressCluster(d.Host),
		},
		ConnectTimeout: dur(upstreamConnectTimeout),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
				CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: dur(upstreamIdleTimeout)},
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &httpv3.HttpProtocolOptions_AutoHttpConfig{
					HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				}},
			}),
		},
		TransportSocket: transportSocket("envoy.transport_sockets.tls", &tlsv3.UpstreamTlsContext{
			Sni: d.Host,
			CommonTlsContext: &tlsv3.CommonTlsContext{
				AlpnProtocols: []string{"h2", "http/1.1"},
				ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
					CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
						DefaultValidationContext: &tlsv3.CertificateValidationContext{
							MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
								SanType: tlsv3.SubjectAltNameMatcher_DNS,
								Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: d.Host}},
							}},
						},
						ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: d.Trust, SdsConfig: adsSource()},
					},
				},
			},
		}),
	}, nil
}

// endpoints is the EDS assignment for a host's cluster.
func endpoints(d Destination) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: EgressCluster(d.Host)}
	var lbs []*endpointv3.LbEndpoint
	for _, ap := range d.Endpoints {
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(ap.Addr().String(), uint32(ap.Port())),
		}}})
	}
	if len(lbs) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}
	}
	return cla
}

// leafSecret carries a MITM certificate and key. Secrets travel only over
// xDS (never into files Envoy reads).
func leafSecret(host string, leaf LeafPEM) *tlsv3.Secret { return certSecret(LeafSecret(host), leaf) }

// certSecret is a server certificate and key under name.
func certSecret(name string, leaf LeafPEM) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline(leaf.CertChain),
			PrivateKey:       inline(leaf.Key),
		}},
	}
}

// trustSecret is a root bundle for verifying an upstream.
func trustSecret(name string, pem []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inline(pem),
		}},
	}
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
