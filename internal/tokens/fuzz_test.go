package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzVerify seeds")

// fuzzRing is a ring with a key derived from a fixed string, so the committed
// seed tokens stay verifiable. It is a test key and signs nothing else.
func fuzzRing(t testing.TB) *Keyring {
	t.Helper()
	d := sha256.Sum256([]byte("bridle tokens fuzz test key"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKeyring(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzVerify feeds Verify arbitrary strings at t0. It must never panic,
// every refusal must wrap ErrInvalid, return zero Claims and not quote the
// input, and every acceptance must carry an ES256 signature that verifies
// with our key when checked without the JWT library.
func FuzzVerify(f *testing.F) {
	k := fuzzRing(f)
	for _, s := range seedTokens(f, k) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := k.Verify(token, t0)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if c != (Claims{}) {
				t.Fatalf("refused token returned claims %+v", c)
			}
			if len(token) >= 40 && strings.Contains(err.Error(), token) {
				t.Fatalf("error %q quotes the token", err)
			}
			return
		}
		if err := signedBy(&k.active.PublicKey, k.KeyID(), token); err != nil {
			t.Fatalf("accepted a token whose signature does not check independently: %v", err)
		}
		if err := checkFields(c); err != nil {
			t.Fatalf("accepted ill-formed claims %+v: %v", c, err)
		}
	})
}

// signedBy checks token's ES256 signature with crypto/ecdsa directly.
func signedBy(pub *ecdsa.PublicKey, kid, token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d segments", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return err
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		return err
	}
	if h.Alg != "ES256" || h.Kid != kid {
		return fmt.Errorf("header alg %q kid %q", h.Alg, h.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("signature of %d bytes: %v", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return errors.New("ecdsa.Verify says no")
	}
	return nil
}

// seedTokens are a valid token and one of each attack, all at t0.
func seedTokens(t testing.TB, k *Keyring) []string {
	t.Helper()
	good := issue(t, k, request1, t0)
	parts := strings.Split(good, ".")
	pubDER, err := x509.MarshalPKIXPublicKey(&k.active.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]any{"kid": k.KeyID()}
	return []string{
		good,
		issue(t, k, Claims{ActionRequestID: "r", ActionSpecHash: hashB, Agent: "a"}, t0.Add(-time.Minute)),
		issue(t, k, request1, t0.Add(-time.Hour)), // expired
		sign(t, jwt.SigningMethodES256, mustKey(t, elliptic.P256()), hdr, validClaims()),
		sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr, validClaims()),
		sign(t, jwt.SigningMethodHS256, pubDER, hdr, validClaims()),
		sign(t, jwt.SigningMethodES256, k.active, map[string]any{"kid": k.KeyID(), "crit": []string{"x"}}, validClaims()),
		sign(t, jwt.SigningMethodES256, k.active, hdr, with(validClaims(), "exp", 1e300)),
		sign(t, jwt.SigningMethodES256, k.active, hdr, with(validClaims(), "iat", -1e300)),
		parts[0] + "." + parts[1] + ".",
		parts[0] + "..",
		"..",
		"e30.e30.e30",
		"",
	}
}

// TestWriteFuzzCorpus rewrites the committed seeds with -update-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz/FuzzVerify")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedTokens(t, fuzzRing(t)) {
		body := "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFuzzCorpusHoldsAValidToken(t *testing.T) {
	k := fuzzRing(t)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzVerify", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed seeds (%v): run go test -run TestWriteFuzzCorpus -update-corpus", err)
	}
	accepted := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, _ := strings.Cut(strings.TrimSpace(string(b)), "\nstring(")
		s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := k.Verify(s, t0); err == nil {
			accepted++
		}
	}
	if accepted == 0 {
		t.Error("no committed seed verifies; the fuzzer would never explore the accepting path")
	}
}
