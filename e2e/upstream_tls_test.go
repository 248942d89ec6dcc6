package e2e

import (
	"testing"
)

// Bridle's connection to a connector's upstream verifies the upstream: a
// certificate for another name, or from a CA the connector does not trust,
// fails the handshake, so the agent gets an error and the credential is
// never sent anywhere.
func TestUpstreamTLSIsVerified(t *testing.T) {
	genuine := newUpstream(t, "api.github.com")
	tests := []struct {
		name string
		up   func() *upstream
	}{
		{"certificate for another name", func() *upstream {
			return newUpstream(t, "impostor.example") // its CA is the connector's upstream_ca
		}},
		{"certificate from an untrusted CA", func() *upstream {
			up := newUpstream(t, "api.github.com")
			forged := *up
			forged.caPEM = genuine.caPEM // the connector trusts another CA
			return &forged
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := tt.up()
			g := startGateway(t, gatewayOpts{
				connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
					credHeader: "Authorization", credValue: "Bearer ${env:E2E_GITHUB_TOKEN}"}},
				env: []string{"E2E_GITHUB_TOKEN=" + secretCredential},
			})
			status, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api")
			if status != 503 && status != 502 {
				t.Errorf("status %d (%s), want 502/503: the upstream's certificate must be refused", status, body)
			}
			if n := len(up.Seen()); n != 0 {
				t.Errorf("the upstream received %d request(s): %+v", n, up.Seen())
			}
		})
	}
}
