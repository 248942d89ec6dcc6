package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// With listen.tls: always (automatic off loopback), Envoy and Bridle talk
// mutual TLS: the bootstrap carries Envoy's client certificate, traffic
// flows, and a client without a certificate from Bridle's CA gets nothing
// from the decision service; the API is HTTPS.
func TestControlPlaneMutualTLS(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		serve:      true,
		listenTLS:  "always",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer x"}},
	})
	bootstrap := filepath.Join(g.dir, ".bridle", "envoy-bootstrap.json")
	b, _ := os.ReadFile(bootstrap)
	if !strings.Contains(string(b), "envoy.transport_sockets.tls") || !strings.Contains(string(b), "bridle-control-plane.internal") {
		t.Fatal("the bootstrap has no mutual TLS to the control plane")
	}
	if !strings.Contains(g.out.String(), "  api     https://"+g.eps.API) {
		t.Errorf("the banner does not give the API's https URL:\n%s", g.out.String())
	}
	startEnvoy(t, bootstrap)
	if s, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/a/b"); s != 200 {
		t.Fatalf("through the mTLS-configured Envoy: %d %s", s, body)
	}

	caPEM, _ := os.ReadFile(filepath.Join(g.dir, ".bridle", "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	check := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(g.eps.Authz, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{})
		return err
	}
	if err := check(insecure.NewCredentials()); err == nil {
		t.Error("a plaintext client got a Check answer")
	}
	if err := check(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "bridle-control-plane.internal"})); err == nil {
		t.Error("a TLS client without a client certificate got a Check answer")
	}
	// xDS carries the MITM keys: a client without a certificate from
	// Bridle's CA is refused in the handshake (TLS 1.3 reports it on the
	// first read), not left waiting.
	if conn, err := tls.Dial("tcp", g.eps.XDS, &tls.Config{RootCAs: pool, ServerName: "bridle-control-plane.internal"}); err == nil {
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("xDS accepted a TLS client without a client certificate (read: %v)", err)
		}
	}
	out := g.bridleCLI(t, "killswitch", "status")
	if !strings.Contains(out, "SCOPE") {
		t.Errorf("CLI over the HTTPS API: %s", out)
	}
}
