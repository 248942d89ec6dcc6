package connectors

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxSegments bounds the number of path segments of a request. It is far
// above any API route; the cap keeps the work per request bounded.
const maxSegments = 256

// target is a request-target split into its parts.
type target struct {
	path  string   // raw path without the query, still percent-encoded
	query string   // raw query without '?'
	segs  []string // percent-decoded segments of path
}

// parseTarget reads the request-target exactly as Envoy forwards it (origin
// form, query included). Envoy has already normalised "." and ".." segments
// and merged slashes; this function does not rely on that and rejects what is
// left rather than resolve it itself.
//
// The path is split on literal '/' only, then each segment is
// percent-decoded, so "%2F" is data inside one segment and never a
// separator: "/repos/a%2Fb" has one segment "a/b" after "repos", never
// three. Segments are kept apart, never re-joined, before matching.
//
// buf is scratch space for the segments so a short path costs no allocation.
func parseTarget(raw string, buf []string) (target, error) {
	if raw == "" || raw[0] != '/' {
		return target{}, fmt.Errorf("%w: request target must start with /", ErrInvalidPath)
	}
	var t target
	t.path = raw
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		t.path, t.query = raw[:i], raw[i+1:]
	}
	if err := checkPathBytes(t.path); err != nil {
		return target{}, err
	}
	segs := buf[:0]
	rest := t.path[1:]
	if rest == "" {
		t.segs = segs
		return t, nil
	}
	for {
		if len(segs) == maxSegments {
			return target{}, fmt.Errorf("%w: more than %d segments", ErrInvalidPath, maxSegments)
		}
		seg, tail, more := strings.Cut(rest, "/")
		dec, err := decodeSegment(seg)
		if err != nil {
			return target{}, err
		}
		segs = append(segs, dec)
		if !more {
			break
		}
		rest = tail
	}
	t.segs = segs
	return t, nil
}

// checkPathBytes rejects bytes no client should send raw and that servers
// read in different ways: controls, space, '#', '\' (some servers treat it as
// '/') and non-ASCII bytes (must be percent-encoded).
func checkPathBytes(p string) error {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '#' || c == '\\' {
			return fmt.Errorf("%w: byte 0x%02x at %d", ErrInvalidPath, c, i)
		}
	}
	return nil
}

// decodeSegment percent-decodes one path segment and refuses segments an
// upstream could resolve as a directory step: "." and "..", also spelled
// "%2E%2E", and also when hidden behind an encoded slash or backslash
// ("a%2F..%2Fb"), since some servers decode those into separators before
// routing. Decoded control bytes and invalid UTF-8 are refused too.
func decodeSegment(seg string) (string, error) {
	if seg == "." || seg == ".." {
		return "", fmt.Errorf("%w: dot segment", ErrInvalidPath)
	}
	if strings.IndexByte(seg, '%') < 0 {
		return seg, nil
	}
	dec, err := percentDecode(seg, false)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	if dec == "." || dec == ".." {
		return "", fmt.Errorf("%w: encoded dot segment", ErrInvalidPath)
	}
	if strings.ContainsAny(dec, "/\\") {
		for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
			if part == "." || part == ".." {
				return "", fmt.Errorf("%w: dot segment behind an encoded separator", ErrInvalidPath)
			}
		}
	}
	for i := 0; i < len(dec); i++ {
		if dec[i] < 0x20 || dec[i] == 0x7f {
			return "", fmt.Errorf("%w: encoded control byte", ErrInvalidPath)
		}
	}
	if !utf8.ValidString(dec) {
		return "", fmt.Errorf("%w: segment is not UTF-8", ErrInvalidPath)
	}
	return dec, nil
}

// percentDecode decodes %XX escapes; plus turns '+' into ' ' (form and
// query encoding). An incomplete or non-hex escape is an error: servers
// disagree on what it means.
func percentDecode(s string, plus bool) (string, error) {
	n := 0
	hasPlus := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("invalid percent-encoding at %d", i)
			}
			n++
			i += 2
		case '+':
			hasPlus = plus
		}
	}
	if n == 0 && !hasPlus {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) - 2*n)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == '+' && plus:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
