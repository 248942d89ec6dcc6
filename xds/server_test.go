package xds

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/bridle-gw/bridle/envoy"
)

func TestSnapshotOfBuiltResourcesIsConsistent(t *testing.T) {
	r, err := envoy.Build(envoy.Spec{
		Proxy:             netip.MustParseAddrPort("127.0.0.1:3128"),
		Destinations:      []envoy.Destination{{Connector: "gh", Host: "api.github.com", Port: 443, Trust: envoy.TrustSecret("gh")}},
		Trust:             map[string][]byte{envoy.TrustSecret("gh"): []byte("roots")},
		Leaves:            map[string]envoy.LeafPEM{"api.github.com": {CertChain: []byte("c"), Key: []byte("k")}},
		CheckTimeout:      time.Second,
		StreamIdleTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Snapshot("1", r)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.GetResources(resource.SecretType)); n != 2 {
		t.Errorf("%d secrets, want leaf + trust", n)
	}
	s := NewServer(t.Context(), slog.New(slog.DiscardHandler))
	if err := s.Update(t.Context(), r); err != nil {
		t.Fatal(err)
	}

	// A route table nobody references makes the snapshot inconsistent, and
	// Update refuses it.
	r.Routes = append(r.Routes, r.Routes[len(r.Routes)-1])
	r.Routes = r.Routes[1:]
	if _, err := Snapshot("2", r); err == nil {
		t.Error("inconsistent snapshot accepted")
	}
	if err := s.Update(t.Context(), r); err == nil {
		t.Error("Update accepted an inconsistent snapshot")
	}
}
