package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A request whose Host differs from the CONNECT target is 421 misdirected,
// decided by ext_authz (so it has a decision id), and never forwarded: the
// credential of one host cannot be sent to another.
func TestInnerHostMismatchIs421WithoutUpstreamContact(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	other := newUpstream(t, "api.stripe.com")
	g := startGateway(t, gatewayOpts{connectors: []connector{
		{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer gh"},
		{name: "stripe", typ: "stripe", host: "api.stripe.com", up: other, credHeader: "Authorization", credValue: "Bearer sk"},
	}})
	cases := []struct {
		name string
		args []string
	}{
		{"Host header of another connector", []string{"-H", "Host: api.stripe.com", "https://api.github.com/v1/charges"}},
		{"Host header of an unknown host", []string{"-H", "Host: evil.example", "https://api.github.com/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := g.curl(append([]string{"-x", g.agentProxy().String()}, tc.args...)...)
			if status != 421 {
				t.Fatalf("status %d, want 421: %s", status, body)
			}
			if d := decodeDeny(t, body); d.Reason != "misdirected" || d.DecisionID != hdr.Get("x-bridle-decision-id") {
				t.Errorf("deny %+v", d)
			}
		})
	}
	t.Run("SNI of another connector inside a CONNECT tunnel", func(t *testing.T) {
		status := connectWithSNI(t, g, "api.github.com:443", "api.stripe.com")
		if status != 421 {
			t.Errorf("status %d, want 421", status)
		}
	})
	if n := len(up.Seen()) + len(other.Seen()); n != 0 {
		t.Errorf("upstreams saw %d requests, want none", n)
	}
}

// connectWithSNI opens a CONNECT tunnel to target, then speaks TLS with a
// different SNI and Host, as a confused or malicious client would.
func connectWithSNI(t *testing.T, g *gateway, target, sni string) int {
	t.Helper()
	conn, err := dialConnect(g, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: sni, RootCAs: g.caPool, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through tunnel: %v", err)
	}
	fmt.Fprintf(tc, "GET /v1/charges HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("421 without a JSON body: %v", resp.Header)
	}
	return resp.StatusCode
}
