package xds

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestMintLeafIsTrustedForItsHostOnly(t *testing.T) {
	now := time.Now()
	ca, keyPEM, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.MintLeaf("api.github.com", now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatalf("leaf cert and key do not pair: %v", err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verify := func(host string, at time.Time) error {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	if err := verify("api.github.com", now); err != nil {
		t.Errorf("leaf does not verify for its host: %v", err)
	}
	for _, other := range []string{"github.com", "evil.api.github.com", "api.stripe.com"} {
		if verify(other, now) == nil {
			t.Errorf("leaf verifies for %s", other)
		}
	}
	if verify("api.github.com", now.Add(LeafValidity+time.Minute)) == nil {
		t.Error("leaf still valid after LeafValidity")
	}
	if cert.IsCA || len(cert.DNSNames) != 1 {
		t.Errorf("leaf IsCA=%v SANs=%v", cert.IsCA, cert.DNSNames)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("chain has %d certificates, want leaf + CA", len(pair.Certificate))
	}

	// The CA round-trips through its PEM files.
	again, err := ParseCA(ca.CertPEM, keyPEM, now)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("ParseCA: %v", err)
	}
	if _, err := again.MintLeaf("x.example", now); err != nil {
		t.Errorf("reloaded CA cannot sign: %v", err)
	}
}

func TestParseCARejectsBadInput(t *testing.T) {
	now := time.Now()
	ca, keyPEM, _ := NewCA(now)
	other, otherKey, _ := NewCA(now)
	cases := []struct {
		name      string
		cert, key []byte
		at        time.Time
	}{
		{"key of another CA", ca.CertPEM, otherKey, now},
		{"not PEM", []byte("hello"), keyPEM, now},
		{"key is a certificate", ca.CertPEM, other.CertPEM, now},
		{"expired", ca.CertPEM, keyPEM, now.Add(6 * 365 * 24 * time.Hour)},
	}
	for _, tc := range cases {
		if _, err := ParseCA(tc.cert, tc.key, tc.at); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	blk, _ := pem.Decode(keyPEM)
	if blk.Type != "EC PRIVATE KEY" {
		t.Errorf("CA key PEM type %q", blk.Type)
	}
}
