package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/xds"
)

// loadOrCreateCA reads the state dir's CA, creating it on first start
// (key 0600). The CA persists so agents keep trusting the same bundle.
func loadOrCreateCA(dir statedir.Dir, now time.Time) (*xds.CA, error) {
	certPath, keyPath := dir.Path("ca.pem"), dir.Path("ca-key.pem")
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		ca, keyPEM, err := xds.NewCA(now)
		if err != nil {
			return nil, err
		}
		if err := statedir.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := statedir.WriteFile(certPath, ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
		return ca, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading CA key: %w", err)
	}
	ca, err := xds.ParseCA(certPEM, keyPEM, now)
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w (move ca.pem and ca-key.pem away to create a new one; agents must then use the new bundle)", dir, err)
	}
	return ca, nil
}

// leafSet holds the current MITM leaf of every connector host and re-mints
// a leaf once a third of its validity is left, so Envoy always serves a
// certificate with hours to spare. Not safe for concurrent use: only the
// gateway's refresh loop touches it.
type leafSet struct {
	ca     *xds.CA
	byHost map[string]*xds.Leaf
	// proxy is the agent-facing listener's certificate (proxy_tls), and
	// proxyFor the names it was minted for.
	proxy    *xds.Leaf
	proxyFor string
}

func newLeafSet(ca *xds.CA) *leafSet { return &leafSet{ca: ca, byHost: map[string]*xds.Leaf{}} }

// ensure mints missing or expiring leaves for hosts and drops leaves of
// hosts no longer configured. changed reports whether anything differs.
func (l *leafSet) ensure(hosts []string, now time.Time) (map[string]envoy.LeafPEM, bool, error) {
	changed := false
	want := map[string]bool{}
	for _, h := range hosts {
		want[h] = true
		cur := l.byHost[h]
		if cur != nil && cur.NotAfter.Sub(now) > xds.LeafValidity/3 {
			continue
		}
		leaf, err := l.ca.MintLeaf(h, now)
		if err != nil {
			return nil, false, err
		}
		l.byHost[h] = leaf
		changed = true
	}
	for h := range l.byHost {
		if !want[h] {
			delete(l.byHost, h)
			changed = true
		}
	}
	out := make(map[string]envoy.LeafPEM, len(l.byHost))
	for h, leaf := range l.byHost {
		out[h] = envoy.LeafPEM{CertChain: leaf.CertPEM, Key: leaf.KeyPEM}
	}
	return out, changed, nil
}

// ensureProxy keeps the agent-facing listener's certificate for names (DNS
// names and IP addresses): minted when missing, when the names change (a
// reload) or when a third of its validity is left. With no names there is
// no proxy TLS and it returns nil.
func (l *leafSet) ensureProxy(names []string, now time.Time) (*envoy.LeafPEM, bool, error) {
	key := strings.Join(names, ",")
	if len(names) == 0 {
		changed := l.proxy != nil
		l.proxy, l.proxyFor = nil, ""
		return nil, changed, nil
	}
	changed := false
	if l.proxy == nil || l.proxyFor != key || l.proxy.NotAfter.Sub(now) <= xds.LeafValidity/3 {
		spec := xds.CertSpec{Name: "bridle proxy", Server: true, Validity: xds.LeafValidity}
		for _, n := range names {
			if ip, err := netip.ParseAddr(n); err == nil {
				spec.IPs = append(spec.IPs, ip)
			} else {
				spec.DNSNames = append(spec.DNSNames, n)
			}
		}
		leaf, err := l.ca.Mint(spec, now)
		if err != nil {
			return nil, false, fmt.Errorf("proxy certificate: %w", err)
		}
		l.proxy, l.proxyFor, changed = leaf, key, true
	}
	return &envoy.LeafPEM{CertChain: l.proxy.CertPEM, Key: l.proxy.KeyPEM}, changed, nil
}
