// Package tokens issues and verifies Bridle's decision tokens (DESIGN §3
// "Decision token", §4 invariant 5): ES256 JWTs that let an agent perform one
// action, once, shortly after it was allowed or approved.
//
// A token carries, in its header, the id (kid) of the key that signed it and,
// in its claims, action_request_id, action_spec_hash (hex SHA-256 of the
// action's RFC 8785 JSON), a random nonce, iat, exp (= iat + TTL) and sub
// (the agent). Verify checks everything a token can prove about itself:
// the algorithm (ES256 only), the signature by kid, the times within Leeway,
// and the shape of every claim. What it cannot check is the caller's:
//
//  1. Claims.Matches(agent, specHash) for the request being honoured, then
//  2. consuming the nonce atomically across replicas and honouring the token
//     only when that call reports it fresh. The issuer registers each nonce
//     for Claims.NonceTTL(iat) (redis.Nonces.Register), and only a
//     registered, unconsumed nonce is fresh (redis.Nonces.Use), so a store
//     that lost its data refuses its outstanding tokens instead of
//     accepting used ones again.
//
// One-time use is keyed on the nonce, never on the token string: ECDSA
// signatures are malleable ((r, s) and (r, n−s) both verify), so one token
// has several valid encodings, but all carry the same nonce.
//
// Nothing here logs, and no error contains a token or any part of one.
// The package imports nothing else of Bridle's.
package tokens

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// TTL is a token's lifetime: exp = iat + TTL (the reference product's
	// five minutes).
	TTL = 5 * time.Minute
	// Leeway is the clock skew tolerated between the issuing and the
	// verifying replica, on both iat and exp.
	Leeway = 30 * time.Second
	// nonceBytes is the nonce's entropy: 128 bits, so a nonce is never
	// reused by chance across all the tokens Bridle will ever issue.
	nonceBytes = 16
	// maxTokenLen bounds the input Verify looks at. Our tokens are about
	// 600 bytes; a cap keeps hostile input from costing base64 and JSON
	// work in proportion to its size.
	maxTokenLen = 4096
	// maxFieldLen bounds action_request_id and sub.
	maxFieldLen = 256
	alg         = "ES256"
)

// ErrInvalid is wrapped by every error Verify and Matches return: callers
// answer 403 token_invalid for any of them (and token_replayed when the
// nonce was already used, which is theirs to find out).
var ErrInvalid = errors.New("invalid decision token")

// Reasons a token is refused. Each wraps ErrInvalid; use errors.Is.
var (
	// ErrMalformed: not a compact JWS, bad base64 or JSON, a missing or
	// ill-formed claim or header, or a token longer than any we issue.
	ErrMalformed = reason("decision token malformed")
	// ErrAlgNone: the header says "alg": "none" (an unsigned token).
	ErrAlgNone = reason(`decision token algorithm "none" refused`)
	// ErrAlgNotAllowed: any algorithm other than ES256 — notably HS256
	// "signed" with our public key as the HMAC secret (the classic
	// algorithm-confusion attack).
	ErrAlgNotAllowed = reason("decision token algorithm not ES256")
	// ErrUnknownKey: the kid names no key of ours, or a retired key whose
	// tokens have all expired.
	ErrUnknownKey = reason("decision token signed by an unknown key")
	// ErrBadSignature: ES256 with a known kid, but the signature does not
	// verify (forged, or header or claims altered).
	ErrBadSignature = reason("decision token signature does not verify")
	// ErrExpired: now is past exp + Leeway.
	ErrExpired = reason("decision token expired")
	// ErrNotYetValid: iat is more than Leeway in the future.
	ErrNotYetValid = reason("decision token not yet valid")
	// ErrHashMismatch: the token is for another action (Matches).
	ErrHashMismatch = reason("decision token is for another action")
	// ErrOtherAgent: the token was issued to another agent (Matches).
	ErrOtherAgent = reason("decision token is for another agent")
)

type reasonError struct{ msg string }

func reason(msg string) error        { return &reasonError{msg} }
func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return ErrInvalid }
func malformed(detail string) error  { return fmt.Errorf("%w: %s", ErrMalformed, detail) }

// Claims are what a decision token asserts.
type Claims struct {
	ActionRequestID string    // action_request_id
	ActionSpecHash  string    // action_spec_hash: 64 lowercase hex digits
	Agent           string    // sub
	Nonce           string    // base64url (no padding) of 128 random bits
	IssuedAt        time.Time // iat, whole seconds
	ExpiresAt       time.Time // exp = iat + TTL
}

// Matches reports whether the token may be honoured for a request by agent
// whose action hashes to specHash: nil, ErrOtherAgent or ErrHashMismatch.
// Call it only on Claims that Verify returned. The hash is compared in
// constant time: it is not secret, but a constant-time compare leaves no
// timing signal to argue about.
func (c Claims) Matches(agent, specHash string) error {
	if c.Agent == "" || c.Agent != agent {
		return ErrOtherAgent
	}
	if c.ActionSpecHash == "" || subtle.ConstantTimeCompare([]byte(c.ActionSpecHash), []byte(specHash)) != 1 {
		return ErrHashMismatch
	}
	return nil
}

// NonceTTL is how long the caller must remember the nonce as used: until
// the last moment Verify could still accept the token (exp + Leeway), plus
// a second for rounding. A shorter memory would let a replay through.
func (c Claims) NonceTTL(now time.Time) time.Duration {
	return max(c.ExpiresAt.Add(Leeway+time.Second).Sub(now), time.Second)
}

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	ActionRequestID string           `json:"action_request_id"`
	ActionSpecHash  string           `json:"action_spec_hash"`
	Nonce           string           `json:"nonce"`
	Subject         string           `json:"sub"`
	IssuedAt        *jwt.NumericDate `json:"iat"`
	ExpiresAt       *jwt.NumericDate `json:"exp"`
}

// jwt.Claims, so the parser can decode into wireClaims. Validation is ours
// (see check), so only these two getters matter.
func (w *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return w.ExpiresAt, nil }
func (w *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return w.IssuedAt, nil }
func (w *wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (w *wireClaims) GetIssuer() (string, error)                   { return "", nil }
func (w *wireClaims) GetSubject() (string, error)                  { return w.Subject, nil }
func (w *wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// parser accepts only ES256 (so "none" and HS256 never reach a key), rejects
// non-canonical base64, and leaves claim validation to check, which knows
// our required claims and gives each failure its own error. A Parser holds
// no per-call state, so one serves every goroutine.
var parser = jwt.NewParser(
	jwt.WithValidMethods([]string{alg}),
	jwt.WithStrictDecoding(),
	jwt.WithoutClaimsValidation(),
)

// Issue signs a token for c.ActionRequestID, c.ActionSpecHash and c.Agent
// with the active key, and returns it with its full claims (the caller
// registers the nonce). It sets the nonce (fresh random), iat (now, whole
// seconds) and exp (iat + TTL) itself; c must leave them zero, so no caller
// can reuse a nonce or stretch a lifetime. Safe for concurrent use.
func (k *Keyring) Issue(c Claims, now time.Time) (string, Claims, error) {
	if c.Nonce != "" || !c.IssuedAt.IsZero() || !c.ExpiresAt.IsZero() {
		return "", Claims{}, errors.New("issuing decision token: nonce, iat and exp are set by Issue")
	}
	var n [nonceBytes]byte
	_, _ = rand.Read(n[:]) // never fails (crypto/rand since Go 1.24)
	iat := now.Truncate(time.Second)
	c.Nonce = base64.RawURLEncoding.EncodeToString(n[:])
	c.IssuedAt, c.ExpiresAt = iat, iat.Add(TTL)
	if err := checkFields(c); err != nil {
		return "", Claims{}, fmt.Errorf("issuing decision token: %w", err)
	}
	priv, kid := k.signer()
	if priv == nil {
		return "", Claims{}, errors.New("issuing decision token: keyring has no key (use Generate, FromPEM or LoadOrCreate)")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, &wireClaims{
		ActionRequestID: c.ActionRequestID,
		ActionSpecHash:  c.ActionSpecHash,
		Nonce:           c.Nonce,
		Subject:         c.Agent,
		IssuedAt:        jwt.NewNumericDate(c.IssuedAt),
		ExpiresAt:       jwt.NewNumericDate(c.ExpiresAt),
	})
	t.Header["kid"] = kid
	s, err := t.SignedString(priv)
	if err != nil {
		return "", Claims{}, fmt.Errorf("issuing decision token: signing: %w", err)
	}
	return s, c, nil
}

// Verify checks token's algorithm (ES256 only), its signature with the key
// its kid names, its times at now (Leeway either side) and the presence and
// shape of every claim, and returns its claims. On any failure it returns
// zero Claims, so a caller cannot act on a refused token by mistake, and an
// error wrapping ErrInvalid and one of the Err* reasons.
//
// A nil error does not make the token usable: the caller must still check
// Claims.Matches and mark the nonce used (see the package doc). Safe for
// concurrent use.
func (k *Keyring) Verify(token string, now time.Time) (Claims, error) {
	if token == "" || len(token) > maxTokenLen {
		return Claims{}, malformed("empty or too long")
	}
	var w wireClaims
	t, err := parser.ParseWithClaims(token, &w, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if pub := k.verifier(kid, now); pub != nil {
			return pub, nil
		}
		return nil, ErrUnknownKey
	})
	if err != nil {
		return Claims{}, classify(t, err)
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not understand must be refused.
		return Claims{}, malformed(`header has "crit"`)
	}
	c, err := check(&w, now)
	if err != nil {
		return Claims{}, err
	}
	return c, nil
}

// classify maps a parser error to our reasons. The parser's own messages are
// dropped on purpose: some quote parts of the input.
func classify(t *jwt.Token, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) || t == nil || t.Header == nil {
		return ErrMalformed
	}
	switch a, ok := t.Header["alg"].(string); {
	case !ok:
		return malformed("header has no alg")
	case a == "none":
		return ErrAlgNone
	case a != alg:
		return ErrAlgNotAllowed
	}
	switch {
	case errors.Is(err, ErrUnknownKey):
		return ErrUnknownKey
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrBadSignature
	}
	return ErrMalformed
}

// check turns verified wire claims into Claims, refusing missing or
// ill-formed ones and times outside the acceptance window.
func check(w *wireClaims, now time.Time) (Claims, error) {
	if w.IssuedAt == nil || w.ExpiresAt == nil {
		return Claims{}, malformed("iat or exp missing")
	}
	c := Claims{
		ActionRequestID: w.ActionRequestID,
		ActionSpecHash:  w.ActionSpecHash,
		Agent:           w.Subject,
		Nonce:           w.Nonce,
		IssuedAt:        w.IssuedAt.Time,
		ExpiresAt:       w.ExpiresAt.Time,
	}
	if err := checkFields(c); err != nil {
		return Claims{}, err
	}
	if now.Add(Leeway).Before(c.IssuedAt) {
		return Claims{}, ErrNotYetValid
	}
	if !now.Before(c.ExpiresAt.Add(Leeway)) {
		return Claims{}, ErrExpired
	}
	return c, nil
}

// checkFields checks the shape of every claim. It runs on Issue too, so
// Bridle never signs a token it would refuse.
func checkFields(c Claims) error {
	switch {
	case !printable(c.ActionRequestID):
		return malformed("action_request_id missing, too long or not printable")
	case !lowerHex64(c.ActionSpecHash):
		return malformed("action_spec_hash is not 64 lowercase hex digits")
	case !printable(c.Agent):
		return malformed("sub missing, too long or not printable")
	}
	n, err := base64.RawURLEncoding.Strict().DecodeString(c.Nonce)
	if err != nil || len(n) < nonceBytes || len(n) > 4*nonceBytes {
		return malformed("nonce is not base64url of 128 to 512 bits")
	}
	// A token living longer than TTL was not issued by this code, whatever
	// its signature says; refusing it bounds the damage of a leaked key.
	if life := c.ExpiresAt.Sub(c.IssuedAt); life <= 0 || life > TTL {
		return malformed("exp is not within TTL after iat")
	}
	return nil
}

func printable(s string) bool {
	if s == "" || len(s) > maxFieldLen {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func lowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// interface guard: the parser decodes into *wireClaims.
var _ jwt.Claims = (*wireClaims)(nil)
