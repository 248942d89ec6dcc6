package extauthz

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// maxProxyAuthorization bounds what we parse; real values are < 200 bytes.
const maxProxyAuthorization = 4096

// Credentials is what an agent presented in Proxy-Authorization.
type Credentials struct {
	User  string // agent name claimed, may be empty
	Token string
}

// Errors from ParseProxyAuthorization. They never contain the header value.
var (
	ErrNoCredentials = errors.New("no Proxy-Authorization header")
	ErrBadScheme     = errors.New("Proxy-Authorization scheme must be Basic or Bearer")
	ErrMalformed     = errors.New("malformed Proxy-Authorization header")
)

// ParseProxyAuthorization reads a Proxy-Authorization value. Accepted:
//
//	Basic base64(agent:token)   the user part names the token's agent
//	Basic base64(:token)        no name: the token alone identifies the agent
//	Basic base64(token:)        the token as the user (http://TOKEN@proxy)
//	Bearer token
func ParseProxyAuthorization(v string) (Credentials, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Credentials{}, ErrNoCredentials
	}
	if len(v) > maxProxyAuthorization {
		return Credentials{}, ErrMalformed
	}
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return Credentials{}, ErrMalformed
	}
	rest = strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if !validToken(rest) {
			return Credentials{}, ErrMalformed
		}
		return Credentials{Token: rest}, nil
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Credentials{}, ErrMalformed
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Credentials{}, ErrMalformed
		}
		if pass == "" {
			user, pass = "", user
		}
		if !validToken(pass) || strings.ContainsAny(user, "\x00\r\n") {
			return Credentials{}, ErrMalformed
		}
		return Credentials{User: user, Token: pass}, nil
	default:
		return Credentials{}, ErrBadScheme
	}
}

// validToken accepts printable ASCII without spaces: tokens Bridle issues
// are base32, and anything else is a client error worth rejecting early.
func validToken(t string) bool {
	if t == "" || len(t) > 512 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// Agents authenticates tokens. It is immutable; a reload builds a new one.
type Agents struct {
	names  map[string]bool
	hashes []tokenHash
	held   map[heldToken]bool
}

// heldToken is an agent and the fingerprint of one of its tokens.
type heldToken struct{ agent, fp string }

type tokenHash struct {
	sum   [32]byte
	agent string
}

// NewAgents indexes agents by name and token hash.
func NewAgents(agents map[string][][32]byte) *Agents {
	a := &Agents{names: make(map[string]bool, len(agents)), held: map[heldToken]bool{}}
	for name, sums := range agents {
		a.names[name] = true
		for _, s := range sums {
			a.hashes = append(a.hashes, tokenHash{sum: s, agent: name})
			a.held[heldToken{name, fingerprintOf(s)}] = true
		}
	}
	return a
}

// Holds reports whether agent still has the token of fingerprint fp: a
// token removed from the config (revoked) cuts the tunnels it opened at
// their next request.
func (a *Agents) Holds(agent, fp string) bool { return a.held[heldToken{agent, fp}] }

// Exists reports whether an agent of that name is configured; removing an
// agent from the config cuts its open tunnels at their next request.
func (a *Agents) Exists(name string) bool { return a.names[name] }

// Authenticate returns the agent the credentials belong to. The token is
// hashed with SHA-256 and compared against every stored hash in constant
// time, without early exit, so timing reveals nothing about which hash (or
// how much of one) matched. The claimed user, if any, must be that agent.
func (a *Agents) Authenticate(c Credentials) (string, bool) {
	agent, _, ok := a.authenticate(c)
	return agent, ok
}

// authenticate is Authenticate, also naming the token it matched (for the
// tunnel identity), from the hash it computed anyway.
func (a *Agents) authenticate(c Credentials) (string, credentialRef, bool) {
	sum := sha256.Sum256([]byte(c.Token))
	match := -1
	for i := range a.hashes {
		if subtle.ConstantTimeCompare(sum[:], a.hashes[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", "", false
	}
	agent := a.hashes[match].agent
	if c.User != "" && c.User != agent {
		return "", "", false
	}
	return agent, credentialRef(string(credAgentToken) + ":" + fingerprintOf(sum)), true
}

// A tunnel carries from its CONNECT who opened it, and with what: Envoy
// copies the connect-phase Check's value into every request of the tunnel
// (agent-sent copies removed first). The value is AGENT#t:FP for an agent
// token and AGENT#d:FP for a decision token, FP being the first 8 bytes of
// the credential's SHA-256 in hex (of an agent token: a prefix of the hash
// in the config). The request phase then checks that the agent still holds
// that token, and holds a tunnel opened with a decision token to that
// token's one action.
type credentialRef string

const (
	credAgentToken    = 't'
	credDecisionToken = 'd'
	fingerprintLen    = 8
)

// fingerprint names a credential without revealing it.
func fingerprint(secret string) string { return fingerprintOf(sha256.Sum256([]byte(secret))) }

// fingerprintOf is the fingerprint of a credential of SHA-256 sum.
func fingerprintOf(sum [32]byte) string { return hex.EncodeToString(sum[:fingerprintLen]) }

func newCredentialRef(kind byte, secret string) credentialRef {
	return credentialRef(string(kind) + ":" + fingerprint(secret))
}

func (r credentialRef) kind() byte {
	if r == "" {
		return 0
	}
	return r[0]
}

func (r credentialRef) fp() string {
	if len(r) < 2 {
		return ""
	}
	return string(r[2:])
}

// TunnelIdentity is the identity Envoy carries into the tunnel of a
// CONNECT authenticated by an agent token: what the x-bridle-agent-id
// header of a request-phase Check holds (for load tools that send Checks
// without Envoy).
func TunnelIdentity(agent, token string) string {
	return carried(agent, newCredentialRef(credAgentToken, token))
}

// carried is the identity a CONNECT hands to its tunnel.
func carried(agent string, r credentialRef) string { return agent + "#" + string(r) }

// parseCarried reads the identity a tunnel carries; anything else is no
// identity.
func parseCarried(v string) (string, credentialRef, bool) {
	i := strings.LastIndexByte(v, '#')
	if i <= 0 {
		return "", "", false
	}
	agent, r := v[:i], credentialRef(v[i+1:])
	if len(r) != 2+2*fingerprintLen || r[1] != ':' || (r[0] != credAgentToken && r[0] != credDecisionToken) {
		return "", "", false
	}
	for _, c := range []byte(r.fp()) { // lower-case hex, as fingerprint writes it
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	return agent, r, true
}
