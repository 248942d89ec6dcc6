package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Role orders what an operator may do: viewer reads; member approves and
// denies; admin flips kill switches and manages agents; owner manages roles.
type Role int

// Roles, weakest first. The zero value is no role at all.
const (
	NoRole Role = iota
	Viewer
	Member
	Admin
	Owner
)

var roleNames = map[Role]string{Viewer: "viewer", Member: "member", Admin: "admin", Owner: "owner"}

func (r Role) String() string { return roleNames[r] }

// ParseRole reads a role name.
func ParseRole(s string) (Role, bool) {
	for r, n := range roleNames {
		if n == s {
			return r, true
		}
	}
	return NoRole, false
}

// Principal is who made an API call: an operator with a role, or an agent
// (which only ever sees its own records).
type Principal struct {
	Name  string
	Role  Role // NoRole for agents
	Agent bool
}

func (p Principal) String() string {
	if p.Agent {
		return "agent:" + p.Name
	}
	return fmt.Sprintf("%s:%s", p.Role, p.Name)
}

// Credential is one token hash and whose it is.
type Credential struct {
	SHA256    [32]byte
	Principal Principal
}

// Tokens authenticates bearer tokens. It is immutable and safe for
// concurrent use.
type Tokens struct{ creds []Credential }

// NewTokens indexes credentials.
func NewTokens(creds []Credential) *Tokens { return &Tokens{creds: creds} }

// Authenticate hashes the token and compares it with every stored hash in
// constant time, without early exit (as the proxy does for agents).
func (t *Tokens) Authenticate(token string) (Principal, bool) {
	if t == nil || token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range t.creds {
		if subtle.ConstantTimeCompare(sum[:], t.creds[i].SHA256[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, false
	}
	return t.creds[match].Principal, true
}

// authenticated resolves the caller from "Authorization: Bearer TOKEN".
type authFunc func(w http.ResponseWriter, r *http.Request, p Principal)

func (a *apiServer) authn(r *http.Request) (Principal, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return Principal{}, false
	}
	return a.tokens().Authenticate(strings.TrimSpace(tok))
}

// operator allows operators with at least role min.
func (a *apiServer) operator(min Role, h authFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authn(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="bridle"`)
			writeError(w, http.StatusUnauthorized, "authentication required: Authorization: Bearer <operator token> ($BRIDLE_OPERATOR_TOKEN)")
		case p.Agent || p.Role < min:
			writeError(w, http.StatusForbidden, fmt.Sprintf("this needs the %s role or higher", min))
		default:
			h(w, r, p)
		}
	})
}

// anyone allows agents and operators with at least role min; handlers
// scope what agents see.
func (a *apiServer) anyone(min Role, h authFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authn(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="bridle"`)
			writeError(w, http.StatusUnauthorized, "authentication required: Authorization: Bearer <agent or operator token>")
		case !p.Agent && p.Role < min:
			writeError(w, http.StatusForbidden, fmt.Sprintf("this needs the %s role or higher", min))
		default:
			h(w, r, p)
		}
	})
}
