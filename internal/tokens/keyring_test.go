package tokens

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateGeneratesAPrivateKeyOnceAndReusesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(k.KeyID()) {
		t.Errorf("kid %q: want 16 lowercase hex digits", k.KeyID())
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != k.KeyID() {
		t.Errorf("second boot has kid %s, want %s", again.KeyID(), k.KeyID())
	}
	if _, err := again.Verify(issue(t, k, request1, t0), t0); err != nil {
		t.Errorf("a token from the first boot does not verify after the second: %v", err)
	}
}

func TestLoadOrCreateRefusesAKeyOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("got %v, want a refusal that says chmod 600", err)
	}
}

func TestConcurrentFirstBootsAgreeOnOneKey(t *testing.T) {
	dir := t.TempDir()
	kids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Go(func() {
			k, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.KeyID()
		})
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("boots disagree on the key: %v", kids)
		}
	}
}

func TestRotationOfAFileBackedRingSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := issue(t, k, request1, t0)
	if err := k.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	restarted, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.KeyID() != k.KeyID() {
		t.Errorf("after restart the active kid is %s, want the rotated %s", restarted.KeyID(), k.KeyID())
	}
	if _, err := restarted.Verify(old, t0.Add(TTL)); err != nil {
		t.Errorf("a token of the retired key does not verify after restart: %v", err)
	}
	if _, err := restarted.Verify(old, t0.Add(TTL+Leeway+2*time.Second)); !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrExpired) {
		t.Errorf("got %v past the retired key's validity", err)
	}
}

func TestFromPEM(t *testing.T) {
	ec := mustKey(t, elliptic.P256())
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	p384, _ := x509.MarshalPKCS8PrivateKey(mustKey(t, elliptic.P384()))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(&mustKey(t, elliptic.P256()).PublicKey)
	block := func(typ string, der []byte, headers map[string]string) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der, Headers: headers}))
	}
	until := map[string]string{"Valid-Until": t0.Format(time.RFC3339)}
	cases := []struct {
		name, pem string
		ok        bool
	}{
		{"reads a PKCS#8 P-256 key", block("PRIVATE KEY", pkcs8, nil), true},
		{"reads a SEC 1 P-256 key", block("EC PRIVATE KEY", sec1, nil), true},
		{"reads a key followed by a retired public key", block("PRIVATE KEY", pkcs8, nil) + block("PUBLIC KEY", pubDER, until), true},
		{"refuses a P-384 key", block("PRIVATE KEY", p384, nil), false},
		{"refuses an RSA key", block("PRIVATE KEY", rsaDER, nil), false},
		{"refuses a retired key without Valid-Until", block("PRIVATE KEY", pkcs8, nil) + block("PUBLIC KEY", pubDER, nil), false},
		{"refuses two private keys", block("PRIVATE KEY", pkcs8, nil) + block("EC PRIVATE KEY", sec1, nil), false},
		{"refuses only a public key", block("PUBLIC KEY", pubDER, until), false},
		{"refuses a certificate", block("CERTIFICATE", pubDER, nil), false},
		{"refuses trailing junk", block("PRIVATE KEY", pkcs8, nil) + "secret-ish junk", false},
		{"refuses an empty value", "", false},
		{"refuses a corrupt key", block("PRIVATE KEY", pkcs8[:20], nil), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := FromPEM([]byte(c.pem))
			if c.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, c.ok)
			}
			if err != nil && (strings.Contains(err.Error(), "junk") || strings.Contains(err.Error(), "MII")) {
				t.Errorf("error %q quotes the input", err)
			}
			if err == nil {
				if _, err := k.Verify(issue(t, k, request1, t0), t0); err != nil {
					t.Errorf("ring from PEM cannot verify its own token: %v", err)
				}
			}
		})
	}
}

func TestPublicPEMHoldsNoPrivateKey(t *testing.T) {
	k := newRing(t)
	if err := k.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	out := string(k.PublicPEM())
	if strings.Contains(out, "PRIVATE") || strings.Count(out, "BEGIN PUBLIC KEY") != 2 || !strings.Contains(out, "Valid-Until") {
		t.Errorf("PublicPEM:\n%s\nwant two public keys, the retired one with Valid-Until", out)
	}
}
