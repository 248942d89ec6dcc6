package connectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// redacted replaces every credential value in printed output.
const redacted = "[redacted]"

// CredentialSpec is a credential as configured: the header to set and its
// value, with ${secret:...} and ${env:...} already resolved by the caller.
// Printing it with fmt (any verb), slog or encoding/json shows the header
// and "[redacted]", never the value (DESIGN invariant 2).
type CredentialSpec struct {
	Header string // empty: the type's default header (see Connector.CredentialFor)
	Value  string // the full header value, e.g. "Bearer ghp_..."; used verbatim
}

// String redacts the value.
func (s CredentialSpec) String() string { return credentialString(s.Header) }

// GoString redacts the value for %#v.
func (s CredentialSpec) GoString() string { return s.String() }

// Format redacts the value for every verb (%x or %d would otherwise print
// the struct's fields).
func (s CredentialSpec) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue redacts the value for log/slog.
func (s CredentialSpec) LogValue() slog.Value { return credentialLogValue(s.Header) }

// MarshalJSON redacts the value.
func (s CredentialSpec) MarshalJSON() ([]byte, error) { return credentialJSON(s.Header) }

// Credential is the header a connector injects into an allowed request.
// Value is the only way to read the secret; every printed form redacts it.
type Credential struct {
	header string
	value  string
}

// Header returns the lower-case header name.
func (c Credential) Header() string { return c.header }

// Value returns the secret header value. It belongs in the Check response
// and nowhere else: not in logs, errors, metrics or the audit record.
func (c Credential) Value() string { return c.value }

// String redacts the value.
func (c Credential) String() string { return credentialString(c.header) }

// GoString redacts the value for %#v.
func (c Credential) GoString() string { return c.String() }

// Format redacts the value for every fmt verb.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue redacts the value for log/slog.
func (c Credential) LogValue() slog.Value { return credentialLogValue(c.header) }

// MarshalJSON redacts the value.
func (c Credential) MarshalJSON() ([]byte, error) { return credentialJSON(c.header) }

func credentialString(header string) string {
	return "Credential{" + header + ": " + redacted + "}"
}

func credentialLogValue(header string) slog.Value {
	return slog.GroupValue(slog.String("header", header), slog.String("value", redacted))
}

func credentialJSON(header string) ([]byte, error) {
	return json.Marshal(map[string]string{"header": header, "value": redacted})
}

// HeaderValue is a header name (lower case) and value.
type HeaderValue struct {
	Name, Value string
}

// forbiddenCredentialHeaders may not carry a credential: they frame the
// request, address the proxy, or belong to Bridle and Envoy.
var forbiddenCredentialHeaders = []string{
	"host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive",
	"te", "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection",
}

// compileCredential checks a CredentialSpec. Errors name the YAML key and
// never include the value.
func compileCredential(s CredentialSpec, defaultHeader string) (Credential, []error) {
	var errs []error
	h := strings.ToLower(strings.TrimSpace(s.Header))
	if h == "" {
		h = defaultHeader
	}
	switch {
	case h == "":
		errs = append(errs, errors.New("header: required for this connector type"))
	case !isToken(h):
		errs = append(errs, fmt.Errorf("header: %q is not a valid header name", s.Header))
	case strings.HasPrefix(h, "x-bridle-") || strings.HasPrefix(h, "x-envoy-"):
		errs = append(errs, fmt.Errorf("header: %q is reserved for Bridle and Envoy", h))
	default:
		for _, f := range forbiddenCredentialHeaders {
			if h == f {
				errs = append(errs, fmt.Errorf("header: %q cannot carry a credential", h))
			}
		}
	}
	if s.Value == "" {
		errs = append(errs, errors.New("value: required"))
	}
	for i := 0; i < len(s.Value); i++ {
		// CR, LF or NUL would let a value smuggle a second header.
		if c := s.Value[i]; c < 0x20 && c != '\t' || c == 0x7f {
			errs = append(errs, fmt.Errorf("value: contains a control character at byte %d (value not shown)", i))
			break
		}
	}
	return Credential{header: h, value: s.Value}, errs
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// CredentialFor returns the credential to inject for agent: the agent's own
// override when there is one, else the connector's credential. ok is false
// when neither is configured; the caller then denies (DESIGN §2 step 4).
func (c *Connector) CredentialFor(agent string) (Credential, bool) {
	if cred, ok := c.creds.agents[agent]; ok {
		return cred, true
	}
	if c.creds.base != nil {
		return *c.creds.base, true
	}
	return Credential{}, false
}

// credentialSet holds a connector's credentials. Connector keeps it behind
// a pointer so that even reflective printing of a Connector (fmt's fallback
// for a wrong verb, %!s(...)) shows an address, not the values.
type credentialSet struct {
	base   *Credential
	agents map[string]Credential
}

// CompanionHeaders returns the fixed headers the connector's API needs
// (e.g. anthropic-version), to be added only when the request lacks them
// (Envoy: ADD_IF_ABSENT). The slice is shared: do not modify it.
func (c *Connector) CompanionHeaders() []HeaderValue { return c.companions }

// StripHeaders returns the lower-case names of the agent-supplied headers
// that must never reach this connector's upstream (DESIGN invariant 3):
// authorization, proxy-authorization, cookie, x-api-key, the connector's
// credential headers (its own and every per-agent override's) and those of
// its type. The caller adds x-bridle-*. The slice is shared: do not modify
// it.
func (c *Connector) StripHeaders() []string { return c.strip }
