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
