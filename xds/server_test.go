package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
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
	good := func(NodeInfo) (*envoy.Resources, error) { return r, nil }
	if err := s.Update(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	if err := s.ensureNode(NodeInfo{ID: "envoy-1"}); err != nil {
		t.Fatal(err)
	}

	// A route table nobody references makes the snapshot inconsistent, and
	// Update refuses it: the node keeps its version.
	bad := *r
	bad.Routes = append(append([]proto.Message{}, r.Routes[1:]...), r.Routes[len(r.Routes)-1])
	if _, err := Snapshot("2", &bad); err == nil {
		t.Error("inconsistent snapshot accepted")
	}
	if err := s.Update(t.Context(), func(NodeInfo) (*envoy.Resources, error) { return &bad, nil }); err == nil {
		t.Error("Update accepted an inconsistent snapshot")
	}
	got, err := s.cache.GetSnapshot("envoy-1")
	if err != nil || got.GetVersion(resource.ListenerType) != "1" {
		t.Errorf("node version after a refused update: %v %v", got, err)
	}
}

// Each node gets its own proxy listener address from its metadata.
func TestNodesGetTheirOwnProxyAddress(t *testing.T) {
	s := NewServer(t.Context(), slog.New(slog.DiscardHandler))
	seen := map[string]netip.AddrPort{}
	s.Update(t.Context(), func(n NodeInfo) (*envoy.Resources, error) {
		seen[n.ID] = n.Proxy
		return envoy.Build(envoy.Spec{Proxy: n.Proxy, CheckTimeout: time.Second, StreamIdleTimeout: time.Minute})
	})
	a := &corev3.Node{Id: "a", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{MetadataProxyAddress: structpb.NewStringValue("127.0.0.1:4001")}}}
	if err := s.ensureNode(nodeInfo(a)); err != nil {
		t.Fatal(err)
	}
	if err := s.ensureNode(nodeInfo(&corev3.Node{Id: "b"})); err != nil {
		t.Fatal(err)
	}
	if seen["a"] != netip.MustParseAddrPort("127.0.0.1:4001") || seen["b"].IsValid() {
		t.Errorf("node proxies %v", seen)
	}
}

// A node whose last stream closed is forgotten: no snapshot rebuilt for it.
func TestNodesAreForgottenWhenTheirStreamsClose(t *testing.T) {
	s := NewServer(t.Context(), slog.New(slog.DiscardHandler))
	builds := 0
	s.Update(t.Context(), func(NodeInfo) (*envoy.Resources, error) {
		builds++
		return envoy.Build(envoy.Spec{Proxy: netip.MustParseAddrPort("127.0.0.1:1"), CheckTimeout: time.Second, StreamIdleTimeout: time.Minute})
	})
	s.mu.Lock()
	s.streams[1], s.streams[2] = "pod-a", "pod-a"
	s.mu.Unlock()
	s.ensureNode(NodeInfo{ID: "pod-a"})
	s.forgetStream(1)
	if _, ok := s.nodes["pod-a"]; !ok {
		t.Fatal("forgotten while a stream is still open")
	}
	s.forgetStream(2)
	if _, ok := s.nodes["pod-a"]; ok {
		t.Fatal("still known after its last stream closed")
	}
	if _, err := s.cache.GetSnapshot("pod-a"); err == nil {
		t.Error("its snapshot was kept")
	}
}
