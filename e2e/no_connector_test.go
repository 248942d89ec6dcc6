package e2e

import (
	"net"
	"testing"
)

// CONNECT to a host without a connector is 403 no_connector and nothing is
// dialled: the would-be upstream (a listener the test owns) sees no
// connection.
func TestConnectToUnconfiguredHostIs403WithoutUpstreamContact(t *testing.T) {
	g, up := githubGateway(t)
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	contacted := make(chan struct{}, 1)
	go func() {
		if c, err := probe.Accept(); err == nil {
			c.Close()
			contacted <- struct{}{}
		}
	}()
	targets := []string{
		"example.com:443",
		probe.Addr().String(), // an IP literal
		"api.github.com:8443", // a connector host on another port
		"api.github.com:80",
	}
	for _, target := range targets {
		status, body, hdr := g.connectStatus(t, target, basicAuth(g.agent, g.token))
		if status != 403 {
			t.Errorf("%s: status %d, want 403: %s", target, status, body)
			continue
		}
		if d := decodeDeny(t, body); d.Reason != "no_connector" || d.DecisionID != hdr.Get("x-bridle-decision-id") {
			t.Errorf("%s: deny %+v", target, d)
		}
	}
	select {
	case <-contacted:
		t.Error("the gateway connected to an unconfigured address")
	default:
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests, want none", n)
	}
}
