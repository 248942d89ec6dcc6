package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/xds"
)

// controlPlaneTLS is the TLS of Bridle's own listeners: mutual TLS for
// xDS and authz (Envoy presents a client certificate from Bridle's CA),
// server TLS for the API. Off loopback it is always on (DESIGN §6).
type controlPlaneTLS struct {
	ca     *xds.CA
	server tls.Certificate
	pool   *x509.CertPool
}

func newControlPlaneTLS(ca *xds.CA, l config.Listen, now time.Time) (*controlPlaneTLS, error) {
	spec := xds.CertSpec{Name: xds.ControlPlaneName, DNSNames: []string{xds.ControlPlaneName, "localhost"},
		Server: true, Validity: xds.ControlPlaneValidity}
	for _, a := range []string{l.XDS, l.Authz, l.API} {
		if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().IsUnspecified() {
			spec.IPs = append(spec.IPs, ap.Addr())
		}
	}
	leaf, err := ca.Mint(spec, now)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("control-plane certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &controlPlaneTLS{ca: ca, server: cert, pool: pool}, nil
}

// grpcConfig requires a client certificate issued by Bridle's CA for
// clientAuth (MITM leaves are serverAuth only and cannot be used).
func (c *controlPlaneTLS) grpcConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}
}

// apiConfig serves the API over TLS; callers authenticate with tokens.
func (c *controlPlaneTLS) apiConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.server}, MinVersion: tls.VersionTLS12}
}

// envoyClient mints an Envoy's client identity for its bootstrap.
func envoyClient(ca *xds.CA, nodeID string, now time.Time) (*envoy.BootstrapTLS, error) {
	leaf, err := ca.Mint(xds.CertSpec{Name: "envoy:" + nodeID, Client: true, Validity: xds.ControlPlaneValidity}, now)
	if err != nil {
		return nil, err
	}
	return &envoy.BootstrapTLS{CA: ca.CertPEM, CertChain: leaf.CertPEM, Key: leaf.KeyPEM}, nil
}

// BootstrapRequest names an Envoy that runs elsewhere and where it finds
// Bridle. Zero addresses default to the config's listen addresses.
type BootstrapRequest struct {
	NodeID, Cluster          string
	XDS, Authz, Admin, Proxy netip.AddrPort
}

// Bootstrap renders the bootstrap `bridle envoy bootstrap` prints. When the
// control plane uses TLS it embeds a client certificate minted from the
// state dir's CA, so it must run where that CA is.
func Bootstrap(configPath string, req BootstrapRequest) ([]byte, error) {
	// Only listen addresses and the state dir are needed: credentials'
	// environment variables need not be set where this runs.
	cfg, err := config.LoadEnv(configPath, func(string) (string, bool) { return "", true })
	if cfg == nil {
		return nil, err
	}
	pick := func(a netip.AddrPort, def string) (netip.AddrPort, error) {
		if a.IsValid() {
			return a, nil
		}
		ap, err := netip.ParseAddrPort(def)
		if err != nil || ap.Port() == 0 {
			return ap, fmt.Errorf("address %q needs a fixed port for a remote Envoy", def)
		}
		return ap, nil
	}
	spec := envoy.BootstrapSpec{NodeID: req.NodeID, Cluster: req.Cluster, Proxy: req.Proxy}
	if spec.XDS, err = pick(req.XDS, cfg.Listen.XDS); err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	if spec.Authz, err = pick(req.Authz, cfg.Listen.Authz); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	if spec.Admin, err = pick(req.Admin, cfg.Listen.EnvoyAdmin); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.Listen.ControlPlaneTLS() || !spec.XDS.Addr().IsLoopback() || !spec.Authz.Addr().IsLoopback() {
		ca, err := loadOrCreateCA(statedir.Dir(cfg.StateDir), time.Now())
		if err != nil {
			return nil, err
		}
		if spec.TLS, err = envoyClient(ca, req.NodeID, time.Now()); err != nil {
			return nil, err
		}
	}
	return envoy.Bootstrap(spec)
}
