package deploycheck

import (
	"net/netip"
	"os"
	"testing"

	"github.com/bridle-gw/bridle/envoy"
)

func TestZZGenerate(t *testing.T) {
	b, err := envoy.Bootstrap(envoy.BootstrapSpec{
		NodeID: "bridle-envoy", Cluster: "bridle",
		Admin: netip.MustParseAddrPort("0.0.0.0:9901"),
		XDS:   netip.MustParseAddrPort("172.31.250.10:18000"),
		Authz: netip.MustParseAddrPort("172.31.250.10:18001"),
	})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/compose-bootstrap.json", append(b, '\n'), 0o644)
	b, err = envoy.Bootstrap(envoy.BootstrapSpec{
		NodeID: "bridle-envoy", Cluster: "bridle",
		Admin: netip.MustParseAddrPort("127.0.0.1:9901"),
		XDS:   netip.MustParseAddrPort("10.0.0.1:18000"),
		Authz: netip.MustParseAddrPort("10.0.0.2:18001"),
	})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/k8s-bootstrap.json", append(b, '\n'), 0o644)
}
