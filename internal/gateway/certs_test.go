package gateway

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/xds"
)

func TestLeavesAreRotatedBeforeExpiry(t *testing.T) {
	now := time.Now()
	ca, _, err := xds.NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	l := newLeafSet(ca)
	first, changed, err := l.ensure([]string{"api.github.com", "api.stripe.com"}, now)
	if err != nil || !changed || len(first) != 2 {
		t.Fatalf("first mint: %d leaves, changed=%v, %v", len(first), changed, err)
	}
	if _, changed, _ := l.ensure([]string{"api.github.com", "api.stripe.com"}, now.Add(time.Hour)); changed {
		t.Error("fresh leaves re-minted")
	}
	// With less than a third of the validity left, a new leaf is minted
	// while the old one is still valid.
	later := now.Add(xds.LeafValidity * 3 / 4)
	second, changed, _ := l.ensure([]string{"api.github.com", "api.stripe.com"}, later)
	if !changed || string(second["api.github.com"].CertChain) == string(first["api.github.com"].CertChain) {
		t.Fatal("expiring leaf not rotated")
	}
	blk, _ := pem.Decode(second["api.github.com"].CertChain)
	cert, _ := x509.ParseCertificate(blk.Bytes)
	if cert.NotAfter.Sub(later) < xds.LeafValidity-time.Minute {
		t.Errorf("rotated leaf expires %s after rotation", cert.NotAfter.Sub(later))
	}
	// A host removed from the config loses its leaf.
	third, changed, _ := l.ensure([]string{"api.github.com"}, later)
	if !changed || len(third) != 1 {
		t.Errorf("removed host kept: %d leaves", len(third))
	}
}

func TestCAPersistsAcrossStarts(t *testing.T) {
	dir := statedir.Dir(t.TempDir())
	a, err := loadOrCreateCA(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadOrCreateCA(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert.Equal(b.Cert) {
		t.Error("a second start made a new CA: agents would stop trusting the gateway")
	}
	if info, err := os.Stat(dir.Path("ca-key.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

// The proxy listener's certificate names exactly what proxy_tls asks for,
// verifies against the CA for each name, and rotates like the leaves.
func TestProxyCertificate(t *testing.T) {
	now := time.Now()
	ca, _, err := xds.NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	l := newLeafSet(ca)
	names := []string{"10.0.0.5", "bridle.internal.example", "localhost"}
	steps := []struct {
		name        string
		names       []string
		at          time.Time
		wantCert    bool
		wantChanged bool
	}{
		{"first mint", names, now, true, true},
		{"fresh: kept", names, now.Add(time.Hour), true, false},
		{"names changed: re-minted", names[1:], now.Add(time.Hour), true, true},
		{"a third of its validity left: rotated", names[1:], now.Add(xds.LeafValidity * 3 / 4), true, true},
		{"proxy_tls off: none", nil, now, false, true},
		{"still off: nothing changes", nil, now, false, false},
	}
	for _, st := range steps {
		pemCert, changed, err := l.ensureProxy(st.names, st.at)
		if err != nil || (pemCert != nil) != st.wantCert || changed != st.wantChanged {
			t.Fatalf("%s: cert %v, changed %v, %v", st.name, pemCert != nil, changed, err)
		}
		if pemCert == nil {
			continue
		}
		blk, _ := pem.Decode(pemCert.CertChain)
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range st.names {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, CurrentTime: st.at}); err != nil {
				t.Errorf("%s: certificate not valid for %s: %v", st.name, n, err)
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: "api.github.com", Roots: roots, CurrentTime: st.at}); err == nil {
			t.Errorf("%s: the proxy certificate is valid for a connector host", st.name)
		}
	}
}
