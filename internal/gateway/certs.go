package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
