//go:build bench

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bridle-gw/bridle/envoy"
)

// ceilingSpec is what the no-ext_authz Envoy needs to reach the upstream.
type ceilingSpec struct {
	Proxy, Admin, Upstream netip.AddrPort
	Host, Connector        string
	UpstreamCA             []byte // PEM
	Leaf                   envoy.LeafPEM
}

// ceilingBootstrap renders a static Envoy bootstrap that is Bridle's own
// data-plane config (envoy.Build, the same builders Bridle's xDS serves)
// with the decision service taken out: no ext_authz filter, no per-route
// ext_authz settings, no gRPC access log (its sink is the decision
// service's cluster). RDS, EDS and SDS are inlined, since there is no
// control plane. Every other filter — identity header_mutation,
// set_filter_state, the x-bridle-* strip, the router — and every listener,
// route, cluster and TLS setting stays as Bridle configures it, so the
// difference between this rung and the next is the ext_authz round trip.
func ceilingBootstrap(s ceilingSpec) ([]byte, error) {
	trust := envoy.TrustSecret(s.Connector)
	res, err := envoy.Build(envoy.Spec{
		Proxy: s.Proxy,
		Destinations: []envoy.Destination{{
			Connector: s.Connector, Host: s.Host, Port: envoy.HTTPSPort,
			Endpoints: []netip.AddrPort{s.Upstream}, Trust: trust,
		}},
		Trust:             map[string][]byte{trust: s.UpstreamCA},
		Leaves:            map[string]envoy.LeafPEM{s.Host: s.Leaf},
		CheckTimeout:      time.Second,
		StreamIdleTimeout: 5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	routes := map[string]*routev3.RouteConfiguration{}
	for _, m := range res.Routes {
		rc := m.(*routev3.RouteConfiguration)
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				r.TypedPerFilterConfig = nil
			}
		}
		routes[rc.Name] = rc
	}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, m := range res.Endpoints {
		cla := m.(*endpointv3.ClusterLoadAssignment)
		endpoints[cla.ClusterName] = cla
	}
	secrets := map[string]*tlsv3.Secret{}
	for _, m := range res.Secrets {
		sec := m.(*tlsv3.Secret)
		secrets[sec.Name] = sec
	}

	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: "bench-ceiling", Cluster: "bench"},
		Admin: &bootstrapv3.Admin{Address: sockAddr(s.Admin)},
		BootstrapExtensions: []*corev3.TypedExtensionConfig{{
			Name:        "envoy.bootstrap.internal_listener",
			TypedConfig: mustAny(&internallistenerv3.InternalListener{}),
		}},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{},
	}
	for _, m := range res.Listeners {
		l := m.(*listenerv3.Listener)
		for _, fc := range l.FilterChains {
			if err := inlineChainTLS(fc, secrets); err != nil {
				return nil, err
			}
			for _, f := range fc.Filters {
				if err := withoutAuthz(f, routes); err != nil {
					return nil, err
				}
			}
		}
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	}
	for _, m := range res.Clusters {
		c := m.(*clusterv3.Cluster)
		if err := staticCluster(c, endpoints, secrets); err != nil {
			return nil, err
		}
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

// withoutAuthz removes ext_authz and the access log from an HTTP connection
// manager and inlines its route table.
func withoutAuthz(f *listenerv3.Filter, routes map[string]*routev3.RouteConfiguration) error {
	m := &hcmv3.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
		return fmt.Errorf("filter %s: %w", f.Name, err)
	}
	var kept []*hcmv3.HttpFilter
	for _, hf := range m.HttpFilters {
		if hf.Name != envoy.ExtAuthzFilterName {
			kept = append(kept, hf)
		}
	}
	m.HttpFilters = kept
	m.AccessLog = nil
	m.AccessLogOptions = nil
	name := m.GetRds().GetRouteConfigName()
	rc, ok := routes[name]
	if !ok {
		return fmt.Errorf("route table %q not built", name)
	}
	m.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(m)}
	return nil
}

// inlineChainTLS replaces an SDS certificate reference by the certificate.
func inlineChainTLS(fc *listenerv3.FilterChain, secrets map[string]*tlsv3.Secret) error {
	ts := fc.GetTransportSocket()
	if ts == nil {
		return nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return fmt.Errorf("chain %s: %w", fc.Name, err)
	}
	cc := ctx.CommonTlsContext
	for _, ref := range cc.TlsCertificateSdsSecretConfigs {
		sec, ok := secrets[ref.Name]
		if !ok {
			return fmt.Errorf("chain %s: no secret %s", fc.Name, ref.Name)
		}
		cc.TlsCertificates = append(cc.TlsCertificates, sec.GetTlsCertificate())
	}
	cc.TlsCertificateSdsSecretConfigs = nil
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}
	return nil
}

// staticCluster turns an EDS cluster with an SDS trust bundle into a static
// one with the same endpoints and the same verification (SNI, SAN, roots).
func staticCluster(c *clusterv3.Cluster, endpoints map[string]*endpointv3.ClusterLoadAssignment, secrets map[string]*tlsv3.Secret) error {
	if c.GetType() != clusterv3.Cluster_EDS {
		return nil
	}
	cla, ok := endpoints[c.GetEdsClusterConfig().GetServiceName()]
	if !ok {
		return fmt.Errorf("cluster %s: no endpoints", c.Name)
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	c.EdsClusterConfig = nil
	c.LoadAssignment = cla
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	combined := ctx.CommonTlsContext.GetCombinedValidationContext()
	if combined == nil {
		return fmt.Errorf("cluster %s: no combined validation context", c.Name)
	}
	sec, ok := secrets[combined.GetValidationContextSdsSecretConfig().GetName()]
	if !ok {
		return fmt.Errorf("cluster %s: no trust secret", c.Name)
	}
	vc := proto.Clone(combined.DefaultValidationContext).(*tlsv3.CertificateValidationContext)
	vc.TrustedCa = sec.GetValidationContext().GetTrustedCa()
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}
	return nil
}

func sockAddr(ap netip.AddrPort) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ap.Addr().String(),
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(ap.Port())},
	}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // a generated message always marshals
	}
	return a
}

// mintLeaf makes a throwaway CA and a P-256 leaf for host (the key type
// Bridle's CA mints), and returns the leaf chain and the CA's PEM.
func mintLeaf(host string) (envoy.LeafPEM, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return envoy.LeafPEM{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench ceiling CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return envoy.LeafPEM{}, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return envoy.LeafPEM{}, nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return envoy.LeafPEM{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return envoy.LeafPEM{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	return envoy.LeafPEM{CertChain: chain, Key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}, caPEM, nil
}
