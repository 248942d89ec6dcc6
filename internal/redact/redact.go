// Package redact hides the values of sensitive parameters in request paths
// before they are logged or stored.
package redact

import "strings"

// Redacted replaces the value of every sensitive parameter.
const Redacted = "REDACTED"

// Name fragments that make a parameter sensitive. A name is compared after
// percent-decoding, lowercasing and dropping every character that is not an
// ASCII letter or digit, so "X-Api-Key", "x_api_key", "apiKey" and
// "%61pi_key" all read "apikey".
var (
	// sensitiveStems are distinctive enough to match anywhere in the name
	// ("accesstoken", "clientsecret", "xamzsecuritytoken").
	sensitiveStems = []string{
		"token", "secret", "passw", "pwd", "signature", "credential", "apikey",
		"session", "jwt", "assertion", "privatekey", "hmac", "cookie", "bearer",
		"authorization", "csrf", "xsrf", "ticket", "verifier",
	}
	// sensitiveSuffixes are short words that would match too much inside
	// other words ("author", "keyword"), so they must end the name:
	// "key", "x_api_key", "sig", "code", "auth_code", "oauth", "otp".
	sensitiveSuffixes = []string{"key", "keys", "sig", "sign", "code", "auth", "pass", "otp", "pin"}
)

// Path returns the request path with the value of every sensitive
// query or matrix (";name=value") parameter replaced by Redacted; names and
// every other byte are kept, so the log still says which parameters were
// sent.
//
// It errs towards redacting too much, because a leaked value cannot be taken
// back:
//   - A sensitive value runs to the next '&' (the next '/' or '?' for a matrix
//     parameter in the path), not to the next ';' or '#', since some servers
//     read those as part of the value.
//   - A new parameter may start after any of '&', ';', '?' or '#' in the
//     query, so a token hidden in a nested URL ("?next=/cb?code=X") or after
//     a ';' is still found.
//
// Values inside percent-encoded nested URLs are not decoded and stay as
// they are. Path is idempotent and never panics.
func Path(p string) string {
	if !strings.ContainsAny(p, "?;") || !strings.Contains(p, "=") {
		return p // fast path: nothing that could be a parameter
	}
	var b strings.Builder
	b.Grow(len(p) + 16)
	i := 0
	for i < len(p) && p[i] != '?' { // the path, with its matrix parameters
		b.WriteByte(p[i])
		i++
		if p[i-1] == ';' {
			i = redactParam(&b, p, i, false)
		}
	}
	for i < len(p) { // the query: p[i] is always a separator here
		b.WriteByte(p[i])
		i = redactParam(&b, p, i+1, true)
	}
	return b.String()
}

// redactParam copies the parameter starting at p[i] into b, redacting its
// value if its name is sensitive, and returns the index of the byte after
// it.
func redactParam(b *strings.Builder, p string, i int, inQuery bool) int {
	nameEnd := i
	for nameEnd < len(p) && p[nameEnd] != '=' && !endsName(p[nameEnd], inQuery) {
		nameEnd++
	}
	b.WriteString(p[i:nameEnd])
	if nameEnd == len(p) || p[nameEnd] != '=' {
		return nameEnd // no value
	}
	b.WriteByte('=')
	valStart := nameEnd + 1
	if sensitiveName(p[i:nameEnd]) {
		end := valStart
		for end < len(p) && !endsSensitiveValue(p[end], inQuery) {
			end++
		}
		if end > valStart {
			b.WriteString(Redacted)
		}
		return end
	}
	end := valStart
	for end < len(p) && !endsName(p[end], inQuery) {
		end++
	}
	b.WriteString(p[valStart:end])
	return end
}

func isQuerySep(c byte) bool { return c == '&' || c == ';' || c == '?' || c == '#' }

// endsName reports whether c ends a parameter name or a non-sensitive value
// (and may start the next parameter).
func endsName(c byte, inQuery bool) bool {
	if inQuery {
		return isQuerySep(c)
	}
	return c == ';' || c == '/' || c == '?'
}

// endsSensitiveValue reports whether c ends a sensitive value: only the
// separators every server agrees on.
func endsSensitiveValue(c byte, inQuery bool) bool {
	if inQuery {
		return c == '&'
	}
	return c == '/' || c == '?'
}

// sensitiveName reports whether a raw (still percent-encoded) parameter
// name looks like it carries a secret.
func sensitiveName(raw string) bool {
	n := compactName(raw)
	if n == "" {
		return false
	}
	for _, s := range sensitiveStems {
		if strings.Contains(n, s) {
			return true
		}
	}
	for _, s := range sensitiveSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// compactName percent-decodes raw (leniently: malformed escapes stay as
// they are) and keeps only its ASCII letters, lowercased, and digits.
func compactName(raw string) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			out = append(out, c)
		case 'A' <= c && c <= 'Z':
			out = append(out, c+'a'-'A')
		}
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
