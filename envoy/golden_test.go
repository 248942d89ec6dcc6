package envoy

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testSpec(hosts ...[2]string) Spec {
	s := Spec{
		Proxy:             netip.MustParseAddrPort("127.0.0.1:3128"),
		Trust:             map[string][]byte{},
		Leaves:            map[string]LeafPEM{},
		CheckTimeout:      2 * time.Second,
		HoldTimeout:       27 * time.Second,
		StreamIdleTimeout: 5 * time.Minute,
	}
	for i, h := range hosts {
		connector, host := h[0], h[1]
		s.Destinations = append(s.Destinations, Destination{
			Connector: connector, Host: host, Port: HTTPSPort, Trust: TrustSecret(connector),
			Endpoints: []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), 443)},
			// GitHub reads GraphQL bodies: its routes buffer them; and it
			// may wait for an approval.
			BufferBody: connector == "github",
			Holds:      connector == "github",
		})
		s.Trust[TrustSecret(connector)] = []byte("<roots for " + connector + ">")
		s.Leaves[host] = LeafPEM{CertChain: []byte("<leaf for " + host + ">"), Key: []byte("<key for " + host + ">")}
	}
	return s
}

// TestBuildGolden renders the full resource set for a few configs and
// compares it with testdata/*.json (go test ./envoy -update rewrites them;
// review the diff).
func TestBuildGolden(t *testing.T) {
	proxyTLS := testSpec([2]string{"github", "api.github.com"})
	proxyTLS.ProxyCert = &LeafPEM{CertChain: []byte("<proxy cert>"), Key: []byte("<proxy key>")}
	cases := map[string]Spec{
		"proxy_tls":       proxyTLS,
		"no_connectors":   testSpec(),
		"one_connector":   testSpec([2]string{"github", "api.github.com"}),
		"multi_connector": testSpec([2]string{"github", "api.github.com"}, [2]string{"github", "uploads.github.com"}, [2]string{"stripe", "api.stripe.com"}),
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, map[string][]proto.Message{
				"listeners": r.Listeners, "routes": r.Routes, "clusters": r.Clusters,
				"endpoints": r.Endpoints, "secrets": r.Secrets,
			})
			golden(t, filepath.Join("testdata", name+".json"), got)
		})
	}
}

func TestBootstrapGolden(t *testing.T) {
	b, err := Bootstrap(BootstrapSpec{
		NodeID: "bridle-up", Cluster: "bridle",
		Admin: netip.MustParseAddrPort("127.0.0.1:9901"), XDS: netip.MustParseAddrPort("127.0.0.1:18000"),
		Authz: netip.MustParseAddrPort("127.0.0.1:18001"),
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "bootstrap.json"), normalize(t, b))
}

// render turns messages into stable, indented JSON (protojson's own output
// varies its whitespace on purpose).
func render(t *testing.T, groups map[string][]proto.Message) []byte {
	t.Helper()
	out := map[string][]json.RawMessage{}
	for k, ms := range groups {
		out[k] = []json.RawMessage{}
		for _, m := range ms {
			b, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = append(out[k], b)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return normalize(t, b)
}

func normalize(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact(t, b), "", "  "); err != nil {
		t.Fatal(err)
	}
	return append(buf.Bytes(), '\n')
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./envoy -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; run go test ./envoy -update and review the diff.\ngot:\n%s", path, got)
	}
}

// Every message Build produces passes the generated proto validation.
func TestBuildValidates(t *testing.T) {
	r, err := Build(testSpec([2]string{"github", "api.github.com"}, [2]string{"stripe", "api.stripe.com"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, group := range [][]proto.Message{r.Listeners, r.Routes, r.Clusters, r.Endpoints, r.Secrets} {
		for _, m := range group {
			v, ok := m.(interface{ ValidateAll() error })
			if !ok {
				t.Fatalf("%T has no ValidateAll", m)
			}
			if err := v.ValidateAll(); err != nil {
				t.Errorf("%T: %v", m, err)
			}
		}
	}
}

func TestBuildRejectsIncompleteSpecs(t *testing.T) {
	s := testSpec([2]string{"github", "api.github.com"})
	delete(s.Leaves, "api.github.com")
	if _, err := Build(s); err == nil {
		t.Error("built without a leaf certificate")
	}
	s = testSpec([2]string{"github", "api.github.com"})
	s.Trust = nil
	if _, err := Build(s); err == nil {
		t.Error("built without a trust bundle")
	}
	s = testSpec()
	s.CheckTimeout = 0
	if _, err := Build(s); err == nil {
		t.Error("built with no check timeout")
	}
}
