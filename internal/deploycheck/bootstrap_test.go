package deploycheck

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"

	// The other types the bootstrap packs into Any fields, as
	// envoy/bootstrap.go uses them; protojson resolves Any through the
	// global registry.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/gateway"
)

// A deployment's Envoy bootstrap is not a file in the repository: off
// loopback it carries the Envoy's client key for mutual TLS, minted from the
// deployment's own CA. The deployment files instead say which `bridle envoy
// bootstrap` command produces it; these helpers run that command's code on
// the deployment's config and check the result fits the files around it.

// bootstrapCommand is one `bridle envoy bootstrap` invocation found in a
// deployment file, flags by name, and where its output goes (after ">").
type bootstrapCommand struct {
	flags map[string]string
	out   string
}

// bootstrapCommands finds every `bridle envoy bootstrap` command (with its
// required --node-id) in text, following backslash-continued lines, in
// comments or shell.
func bootstrapCommands(text string) []bootstrapCommand {
	var cmds []bootstrapCommand
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.Contains(lines[i], "bridle envoy bootstrap") {
			continue
		}
		var b strings.Builder
		for ; i < len(lines); i++ {
			l := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(lines[i]), "#"))
			cont := strings.HasSuffix(l, `\`)
			b.WriteString(strings.TrimSuffix(l, `\`) + " ")
			if !cont {
				break
			}
		}
		_, rest, _ := strings.Cut(b.String(), "bridle envoy bootstrap")
		c := bootstrapCommand{flags: map[string]string{}}
		fields := strings.Fields(rest)
		for j := 0; j < len(fields); j++ {
			switch f := fields[j]; {
			case f == ">" && j+1 < len(fields):
				c.out = fields[j+1]
				j++
			case strings.HasPrefix(f, "--") && j+1 < len(fields):
				c.flags[f] = strings.Trim(fields[j+1], `"`)
				j++
			}
		}
		if _, ok := c.flags["--node-id"]; ok { // not prose that merely names the command
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// request turns a command's flags into the request `bridle envoy bootstrap`
// builds from them; vars stand in for shell variables ("$xds").
func (c bootstrapCommand) request(t *testing.T, vars map[string]string) gateway.BootstrapRequest {
	t.Helper()
	req := gateway.BootstrapRequest{NodeID: c.flags["--node-id"], Cluster: "bridle"}
	if v, ok := c.flags["--cluster"]; ok {
		req.Cluster = v
	}
	for flag, dst := range map[string]*netip.AddrPort{"--xds": &req.XDS, "--authz": &req.Authz, "--admin": &req.Admin, "--proxy": &req.Proxy} {
		v, ok := c.flags[flag]
		if !ok {
			continue
		}
		for name, val := range vars {
			v = strings.ReplaceAll(v, "$"+name, val)
		}
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			t.Fatalf("bridle envoy bootstrap %s %q: %v", flag, c.flags[flag], err)
		}
		*dst = ap
	}
	return req
}

var stateDirRE = regexp.MustCompile(`(?m)^state_dir:.*$`)

// renderBootstrap runs what `bridle envoy bootstrap` runs for a deployment
// config, with the state dir (where it finds or creates the CA) moved to a
// temporary directory, and parses the result as Envoy would: strict protojson
// with every Any resolved, then the proto's own validation rules.
func renderBootstrap(t *testing.T, configRel string, req gateway.BootstrapRequest) *bootstrapv3.Bootstrap {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := read(t, configRel)
	if !stateDirRE.Match(cfg) {
		t.Fatalf("%s sets no state_dir", configRel)
	}
	cfg = stateDirRE.ReplaceAll(cfg, []byte("state_dir: "+state))
	path := filepath.Join(dir, "bridle.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := gateway.Bootstrap(path, req)
	if err != nil {
		t.Fatalf("bridle envoy bootstrap for %s: %v", configRel, err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(out, &b); err != nil {
		t.Fatalf("the bootstrap for %s is not an Envoy bootstrap: %v", configRel, err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("the bootstrap for %s breaks Envoy's validation rules: %v", configRel, err)
	}
	return &b
}

// endpoint is the one address a static cluster of the bootstrap dials.
type endpoint struct {
	host string
	port uint16
}

// checkBootstrap checks the shape every Bridle bootstrap has: ADS over the
// xDS cluster, exactly the two control-plane clusters under the names
// package envoy uses, each on mutual TLS pinned to the control plane's name
// when wantTLS, the internal listener extension the MITM chain needs, and
// the default ports. It returns the clusters' endpoints by name and the admin
// address.
func checkBootstrap(t *testing.T, where string, b *bootstrapv3.Bootstrap, wantTLS bool) (map[string]endpoint, netip.AddrPort) {
	t.Helper()
	p := defaultPorts(t)
	if b.GetNode().GetId() == "" {
		t.Errorf("%s: node.id is empty", where)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_GRPC || len(ads.GetGrpcServices()) != 1 ||
		ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != envoy.XDSCluster {
		t.Errorf("%s: ADS does not use the static cluster %q over gRPC", where, envoy.XDSCluster)
	}
	for name, src := range map[string]*corev3.ConfigSource{
		"lds": b.GetDynamicResources().GetLdsConfig(), "cds": b.GetDynamicResources().GetCdsConfig(),
	} {
		if src.GetAds() == nil {
			t.Errorf("%s: %s does not come over ADS", where, name)
		}
	}
	var internal bool
	for _, ext := range b.GetBootstrapExtensions() {
		if ext.GetTypedConfig().MessageIs(&internallistenerv3.InternalListener{}) {
			internal = true
		}
	}
	if !internal {
		t.Errorf("%s: no internal_listener bootstrap extension (the MITM listener is internal)", where)
	}

	eps := map[string]endpoint{}
	for _, c := range b.GetStaticResources().GetClusters() {
		lbs := c.GetLoadAssignment().GetEndpoints()
		if len(lbs) != 1 || len(lbs[0].GetLbEndpoints()) != 1 {
			t.Errorf("%s: cluster %s should have one endpoint", where, c.GetName())
			continue
		}
		sa := lbs[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		eps[c.GetName()] = endpoint{host: sa.GetAddress(), port: uint16(sa.GetPortValue())}
		if wantTLS {
			checkClusterTLS(t, where, c.GetName(), c.GetTransportSocket())
		}
	}
	want := map[string]uint16{envoy.XDSCluster: p.xds, envoy.AuthzCluster: p.authz}
	if len(eps) != len(want) {
		t.Errorf("%s: static clusters %v, want exactly %q and %q", where, keys(eps), envoy.XDSCluster, envoy.AuthzCluster)
	}
	for name, port := range want {
		ep, ok := eps[name]
		switch {
		case !ok:
			t.Errorf("%s: no static cluster %q", where, name)
		case ep.port != port:
			t.Errorf("%s: cluster %s dials port %d, want %d (Bridle's default)", where, name, ep.port, port)
		}
	}

	sa := b.GetAdmin().GetAddress().GetSocketAddress()
	ip, err := netip.ParseAddr(sa.GetAddress())
	admin := netip.AddrPortFrom(ip, uint16(sa.GetPortValue()))
	if err != nil || admin.Port() != p.admin {
		t.Errorf("%s: admin listens on %s:%d, want an IP and port %d (Bridle's default)", where, sa.GetAddress(), sa.GetPortValue(), p.admin)
	}
	return eps, admin
}

// checkClusterTLS checks a control-plane cluster presents a client
// certificate and accepts only the control plane's name: the Envoy ↔ Bridle
// hop off loopback is mutual TLS (DESIGN §6).
func checkClusterTLS(t *testing.T, where, cluster string, ts *corev3.TransportSocket) {
	t.Helper()
	var ctx tlsv3.UpstreamTlsContext
	if ts == nil || ts.GetTypedConfig().UnmarshalTo(&ctx) != nil {
		t.Errorf("%s: cluster %s talks to Bridle without TLS, but the control plane is off loopback", where, cluster)
		return
	}
	common := ctx.GetCommonTlsContext()
	if ctx.GetSni() != envoy.ControlPlaneName || len(common.GetTlsCertificates()) == 0 {
		t.Errorf("%s: cluster %s: SNI %q with %d client certificates, want SNI %s and a client certificate",
			where, cluster, ctx.GetSni(), len(common.GetTlsCertificates()), envoy.ControlPlaneName)
	}
	var pinned bool
	for _, m := range common.GetValidationContext().GetMatchTypedSubjectAltNames() {
		pinned = pinned || m.GetMatcher().GetExact() == envoy.ControlPlaneName
	}
	if !pinned || common.GetValidationContext().GetTrustedCa() == nil {
		t.Errorf("%s: cluster %s does not verify Bridle's certificate (CA and SAN %s)", where, cluster, envoy.ControlPlaneName)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
