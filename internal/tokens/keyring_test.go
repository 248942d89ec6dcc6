package tokens

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// The scenario of `bridle signing-key rotate`: the ring is rotated in its
// file while a gateway holding the old key may go on signing for grace.
func TestRotateWithGraceOnTheKeyFile(t *testing.T) {
	const grace = 5 * time.Minute
	dir := t.TempDir()
	running, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := running.KeyID()
	ring, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.RotateWithGrace(t0, grace); err != nil {
		t.Fatal(err)
	}
	// Until the restart the running gateway signs with the old key.
	lastOld := issue(t, running, request1, t0.Add(grace))
	restarted, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh := issue(t, restarted, request1, t0.Add(grace))
	steps := []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"a token the old key signed within grace verifies after the restart", lastOld, t0.Add(grace + time.Minute), nil},
		{"it verifies until its own expiry", lastOld, t0.Add(grace + TTL + Leeway - time.Second), nil},
		{"a token signed after the restart verifies", fresh, t0.Add(grace), nil},
		{"the old key verifies nothing past its Valid-Until", lastOld, t0.Add(grace + TTL + Leeway + 2*time.Second), ErrUnknownKey},
	}
	for _, st := range steps {
		if _, err := restarted.Verify(st.token, st.now); !errors.Is(err, st.want) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.want)
		}
	}
	if tokenKID(t, fresh) == oldKID || tokenKID(t, fresh) != ring.KeyID() {
		t.Errorf("new token has kid %s, want the new key %s (old %s)", tokenKID(t, fresh), ring.KeyID(), oldKID)
	}
	want := []RetiredKey{{KID: oldKID, ValidUntil: t0.Add(grace + TTL + Leeway + time.Second)}}
	if got := restarted.Retired(); len(got) != 1 || got[0] != want[0] {
		t.Errorf("Retired() = %v, want %v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file after rotation: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

func TestRotateDropsRetiredKeysPastTheirValidity(t *testing.T) {
	tests := []struct {
		name     string
		earlier  time.Duration // age of the earlier rotation at the next one
		wantKept bool
	}{
		{"keeps a retired key still within its Valid-Until", time.Minute, true},
		{"drops a retired key past its Valid-Until", TTL + Leeway + 2*time.Second, false},
		{"drops a retired key exactly at its Valid-Until", TTL + Leeway + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newRing(t)
			first := k.KeyID()
			if err := k.Rotate(t0); err != nil {
				t.Fatal(err)
			}
			second := k.KeyID()
			if err := k.Rotate(t0.Add(tt.earlier)); err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, r := range k.Retired() {
				kids = append(kids, r.KID)
			}
			if !slices.Contains(kids, second) {
				t.Errorf("the key retired just now is missing: %v", kids)
			}
			if got := slices.Contains(kids, first); got != tt.wantKept {
				t.Errorf("first key kept = %v, want %v (retired: %v)", got, tt.wantKept, kids)
			}
		})
	}
}

func TestRotateRefusesANegativeGrace(t *testing.T) {
	k := newRing(t)
	kid := k.KeyID()
	if err := k.RotateWithGrace(t0, -time.Second); err == nil || k.KeyID() != kid {
		t.Errorf("got %v and kid %s, want an error and the ring unchanged", err, k.KeyID())
	}
}

func TestLoadNeverCreatesAKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load created %s", KeyFile)
	}
}

func TestWriteFileWritesARingFromPEMReads(t *testing.T) {
	k := newRing(t)
	old := issue(t, k, request1, t0)
	if err := k.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ring.pem")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	back, err := FromPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.KeyID() != k.KeyID() {
		t.Errorf("kid %s, want %s", back.KeyID(), k.KeyID())
	}
	if _, err := back.Verify(old, t0.Add(time.Minute)); err != nil {
		t.Errorf("the retired key did not survive the file: %v", err)
	}
	if err := k.WriteFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: got %v, want fs.ErrExist", err)
	}
}
