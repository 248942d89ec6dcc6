package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	t0       = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	hashA    = strings.Repeat("ab", 32)
	hashB    = strings.Repeat("cd", 32)
	request1 = Claims{ActionRequestID: "act_1", ActionSpecHash: hashA, Agent: "ci-bot"}
)

func newRing(t testing.TB) *Keyring {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t testing.TB, k *Keyring, c Claims, now time.Time) string {
	t.Helper()
	tok, issued, err := k.Issue(c, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	// The claims Issue returns (whose nonce the caller registers) are
	// exactly those the token carries.
	got, err := k.Verify(tok, now)
	same := got.IssuedAt.Equal(issued.IssuedAt) && got.ExpiresAt.Equal(issued.ExpiresAt)
	got.IssuedAt, got.ExpiresAt = issued.IssuedAt, issued.ExpiresAt
	if err != nil || !same || got != issued {
		t.Fatalf("Issue returned %+v, the token verifies as %+v, %v", issued, got, err)
	}
	return tok
}

// validClaims is the claim set Issue would produce at t0, as a map a test
// can alter before signing it itself.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"action_request_id": "act_1", "action_spec_hash": hashA, "sub": "ci-bot",
		"nonce": base64.RawURLEncoding.EncodeToString(make([]byte, 16)),
		"iat":   t0.Unix(), "exp": t0.Add(TTL).Unix(),
	}
}

// sign signs claims with method and key under header (kid and extras).
func sign(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for h, v := range header {
		tok.Header[h] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// segment base64url-encodes v as JSON.
func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func with(c jwt.MapClaims, key string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, x := range c {
		out[k] = x
	}
	if v == nil {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

func TestVerifyRefusesEveryAttack(t *testing.T) {
	k := newRing(t)
	kid := k.KeyID()
	good := issue(t, k, request1, t0)
	parts := strings.Split(good, ".")
	pubDER, err := x509.MarshalPKIXPublicKey(&k.active.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es := jwt.SigningMethodES256
	hdr := map[string]any{"kid": kid}

	cases := []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"accepts a token it issued", good, t0, nil},
		{"refuses a signature by another key under our kid", sign(t, es, other, hdr, validClaims()), t0, ErrBadSignature},
		{"refuses claims altered after signing", parts[0] + "." + segment(t, with(validClaims(), "action_spec_hash", hashB)) + "." + parts[2], t0, ErrBadSignature},
		{"refuses a signature taken from another token", parts[0] + "." + parts[1] + "." + strings.Split(issue(t, k, request1, t0), ".")[2], t0, ErrBadSignature},
		{"refuses a token with no signature", parts[0] + "." + parts[1] + ".", t0, ErrBadSignature},
		{"refuses alg none", segment(t, map[string]any{"alg": "none", "kid": kid, "typ": "JWT"}) + "." + parts[1] + ".", t0, ErrAlgNone},
		{"refuses alg none signed by the library's none method", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr, validClaims()), t0, ErrAlgNone},
		{"refuses HS256 keyed with our public key PEM", sign(t, jwt.SigningMethodHS256, pubPEM, hdr, validClaims()), t0, ErrAlgNotAllowed},
		{"refuses HS256 keyed with our public key DER", sign(t, jwt.SigningMethodHS256, pubDER, hdr, validClaims()), t0, ErrAlgNotAllowed},
		{"refuses ES384", sign(t, jwt.SigningMethodES384, mustKey(t, elliptic.P384()), hdr, validClaims()), t0, ErrAlgNotAllowed},
		{"refuses an algorithm nobody knows", segment(t, map[string]any{"alg": "XS1", "kid": kid}) + "." + parts[1] + "." + parts[2], t0, ErrAlgNotAllowed},
		{"refuses a header without alg", segment(t, map[string]any{"kid": kid}) + "." + parts[1] + "." + parts[2], t0, ErrMalformed},
		{"refuses an expired token", good, t0.Add(TTL + Leeway + time.Second), ErrExpired},
		{"refuses a token exactly at exp plus leeway", good, t0.Add(TTL + Leeway), ErrExpired},
		{"accepts an expired token within the leeway", good, t0.Add(TTL + Leeway - time.Second), nil},
		{"refuses a token issued more than the leeway in the future", good, t0.Add(-Leeway - time.Second), ErrNotYetValid},
		{"accepts a token issued within the leeway in the future", good, t0.Add(-Leeway + time.Second), nil},
		{"refuses an unknown kid", sign(t, es, other, map[string]any{"kid": "0123456789abcdef"}, validClaims()), t0, ErrUnknownKey},
		{"refuses a token without kid", sign(t, es, k.active, nil, validClaims()), t0, ErrUnknownKey},
		{"refuses a token signed by another keyring", issue(t, newRing(t), request1, t0), t0, ErrUnknownKey},
		{"refuses a crit header", sign(t, es, k.active, map[string]any{"kid": kid, "crit": []string{"exp"}}, validClaims()), t0, ErrMalformed},
		{"refuses the empty string", "", t0, ErrMalformed},
		{"refuses one segment", "abc", t0, ErrMalformed},
		{"refuses two segments", parts[0] + "." + parts[1], t0, ErrMalformed},
		{"refuses four segments", good + ".x", t0, ErrMalformed},
		{"refuses bad base64 in the header", "!!." + parts[1] + "." + parts[2], t0, ErrMalformed},
		{"refuses padded base64", parts[0] + "=." + parts[1] + "." + parts[2], t0, ErrMalformed},
		{"refuses a header that is not JSON", base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], t0, ErrMalformed},
		{"refuses claims that are not an object", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + "." + parts[2], t0, ErrMalformed},
		{"refuses a token longer than any we issue", good + strings.Repeat("A", maxTokenLen), t0, ErrMalformed},
		{"refuses a string iat", sign(t, es, k.active, hdr, with(validClaims(), "iat", "yesterday")), t0, ErrMalformed},
	}
	// Correctly signed by our key, but with a claim missing or ill-formed:
	// only a bug or a stolen key could produce these.
	for _, c := range []struct {
		name, claim string
		value       any
	}{
		{"refuses a signed token without action_request_id", "action_request_id", nil},
		{"refuses a signed token without action_spec_hash", "action_spec_hash", nil},
		{"refuses a signed token with an uppercase hash", "action_spec_hash", strings.ToUpper(hashA)},
		{"refuses a signed token with a short hash", "action_spec_hash", hashA[:63]},
		{"refuses a signed token without sub", "sub", nil},
		{"refuses a signed token with a control character in sub", "sub", "ci\nbot"},
		{"refuses a signed token without nonce", "nonce", nil},
		{"refuses a signed token with a 64-bit nonce", "nonce", base64.RawURLEncoding.EncodeToString(make([]byte, 8))},
		{"refuses a signed token with a nonce that is not base64url", "nonce", "++++++++++++++++++++++++"},
		{"refuses a signed token without iat", "iat", nil},
		{"refuses a signed token without exp", "exp", nil},
		{"refuses a signed token living longer than TTL", "exp", t0.Add(TTL + time.Second).Unix()},
		{"refuses a signed token that expires before it is issued", "exp", t0.Add(-time.Second).Unix()},
	} {
		cases = append(cases, struct {
			name  string
			token string
			now   time.Time
			want  error
		}{c.name, sign(t, es, k.active, hdr, with(validClaims(), c.claim, c.value)), t0, ErrMalformed})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := k.Verify(c.token, c.now)
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if got.Agent != "ci-bot" || got.ActionSpecHash != hashA || got.ActionRequestID != "act_1" {
					t.Errorf("got claims %+v", got)
				}
				return
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want %v (wrapping ErrInvalid)", err, c.want)
			}
			if got != (Claims{}) {
				t.Errorf("refused token returned claims %+v; want zero", got)
			}
			if c.token != "" && strings.Contains(err.Error(), c.token[:min(len(c.token), 20)]) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func mustKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIssuedTokensCarryTheContractClaims(t *testing.T) {
	k := newRing(t)
	now := t0.Add(1500 * time.Millisecond)
	tok := issue(t, k, request1, now)
	var header map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	if header["alg"] != "ES256" || header["kid"] != k.KeyID() {
		t.Errorf("header %v: want alg ES256 and kid %s", header, k.KeyID())
	}
	c, err := k.Verify(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt.Equal(t0.Add(time.Second)) || c.ExpiresAt.Sub(c.IssuedAt) != TTL {
		t.Errorf("iat %s exp %s: want iat = now in whole seconds, exp = iat + 5m", c.IssuedAt, c.ExpiresAt)
	}
	if n, err := base64.RawURLEncoding.DecodeString(c.Nonce); err != nil || len(n) < 16 {
		t.Errorf("nonce %q: want base64url of at least 128 bits", c.Nonce)
	}
	other, _ := k.Verify(issue(t, k, request1, now), now)
	if other.Nonce == c.Nonce {
		t.Error("two tokens share a nonce")
	}
	if ttl := c.NonceTTL(now); ttl < c.ExpiresAt.Add(Leeway).Sub(now) {
		t.Errorf("NonceTTL %s ends before the token stops verifying", ttl)
	}
}

func TestIssueRefusesWhatVerifyWouldRefuse(t *testing.T) {
	k := newRing(t)
	for _, c := range []struct {
		name   string
		claims Claims
	}{
		{"refuses a caller-chosen nonce", Claims{ActionRequestID: "a", ActionSpecHash: hashA, Agent: "x", Nonce: "abc"}},
		{"refuses a caller-chosen expiry", Claims{ActionRequestID: "a", ActionSpecHash: hashA, Agent: "x", ExpiresAt: t0.Add(time.Hour)}},
		{"refuses a missing agent", Claims{ActionRequestID: "a", ActionSpecHash: hashA}},
		{"refuses a missing request id", Claims{ActionSpecHash: hashA, Agent: "x"}},
		{"refuses a hash that is not hex SHA-256", Claims{ActionRequestID: "a", ActionSpecHash: "sha256:abc", Agent: "x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if tok, _, err := k.Issue(c.claims, t0); err == nil {
				t.Errorf("issued %d-byte token; want an error", len(tok))
			}
		})
	}
}

func TestMatchesBindsTheTokenToOneAgentAndAction(t *testing.T) {
	k := newRing(t)
	c, err := k.Verify(issue(t, k, request1, t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name, agent, hash string
		want              error
	}{
		{"matches its own agent and action", "ci-bot", hashA, nil},
		{"refuses another action's hash", "ci-bot", hashB, ErrHashMismatch},
		{"refuses a hash differing in the last digit", "ci-bot", hashA[:63] + "c", ErrHashMismatch},
		{"refuses an empty hash", "ci-bot", "", ErrHashMismatch},
		{"refuses another agent", "other-bot", hashA, ErrOtherAgent},
		{"refuses another agent even with the right hash", "ci-bot2", hashA, ErrOtherAgent},
	} {
		t.Run(m.name, func(t *testing.T) {
			err := c.Matches(m.agent, m.hash)
			if !errors.Is(err, m.want) || (m.want != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("got %v, want %v", err, m.want)
			}
		})
	}
	if err := (Claims{}).Matches("", ""); err == nil {
		t.Error("zero Claims matched the empty agent and hash")
	}
}

func TestRotationKeepsOldTokensValidUntilTheyExpire(t *testing.T) {
	k := newRing(t)
	oldKID := k.KeyID()
	old := issue(t, k, request1, t0)
	rotatedAt := t0.Add(time.Minute)
	if err := k.Rotate(rotatedAt); err != nil {
		t.Fatal(err)
	}
	if k.KeyID() == oldKID {
		t.Fatal("Rotate kept the kid")
	}
	fresh := issue(t, k, request1, rotatedAt)
	steps := []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"new tokens verify under the new key", fresh, rotatedAt, nil},
		{"old tokens still verify right after rotation", old, rotatedAt, nil},
		{"old tokens verify until their own expiry plus leeway", old, t0.Add(TTL + Leeway - time.Second), nil},
		{"old tokens expire as usual", old, t0.Add(TTL + Leeway), ErrExpired},
		{"the old key verifies nothing once its last token could have expired", old, rotatedAt.Add(TTL + Leeway + 2*time.Second), ErrUnknownKey},
	}
	for _, st := range steps {
		if _, err := k.Verify(st.token, st.now); !errors.Is(err, st.want) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.want)
		}
	}
	if h := tokenKID(t, fresh); h != k.KeyID() {
		t.Errorf("new token has kid %s, want %s", h, k.KeyID())
	}
	// A second rotation long after drops the first key altogether.
	if err := k.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, still := k.keys[oldKID]; still {
		t.Error("a retired key past its validity survived the next rotation")
	}
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func BenchmarkIssue(b *testing.B) {
	k := newRing(b)
	for b.Loop() {
		if _, _, err := k.Issue(request1, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := newRing(b)
	tok := issue(b, k, request1, t0)
	for b.Loop() {
		if _, err := k.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRefusesForgery(b *testing.B) {
	k := newRing(b)
	tok := sign(b, jwt.SigningMethodES256, mustKey(b, elliptic.P256()), map[string]any{"kid": k.KeyID()}, validClaims())
	for b.Loop() {
		if _, err := k.Verify(tok, t0); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestTheZeroKeyringIssuesNothingAndVerifiesNothing(t *testing.T) {
	var k Keyring
	if _, _, err := k.Issue(request1, t0); err == nil {
		t.Error("the zero Keyring issued a token")
	}
	if _, err := k.Verify(issue(t, newRing(t), request1, t0), t0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("got %v, want ErrUnknownKey", err)
	}
}
