package connectors

import (
	"fmt"
	"strings"
)

type gqlTokKind uint8

const (
	tokEOF   gqlTokKind = iota
	tokPunct            // ! $ & ( ) ... : = @ [ ] { | }
	tokName             // [_A-Za-z][_0-9A-Za-z]*
	tokValue            // string, block string, int or float
)

// gqlLexer tokenizes a GraphQL document (spec §2.1). Ignored tokens
// (white space, line terminators, commas, comments, the BOM) are skipped.
type gqlLexer struct {
	src   string
	pos   int
	start int // offset of the current token
	kind  gqlTokKind
	text  string // punctuator or name
}

func (l *gqlLexer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: GraphQL: %s at offset %d", ErrBodyUnparseable, fmt.Sprintf(format, args...), l.pos)
}

func (l *gqlLexer) next() error {
	l.skipIgnored()
	l.start = l.pos
	l.text = ""
	if l.pos >= len(l.src) {
		l.kind = tokEOF
		return nil
	}
	c := l.src[l.pos]
	switch {
	case strings.IndexByte("!$&():=@[]{|}", c) >= 0:
		l.kind, l.text = tokPunct, l.src[l.pos:l.pos+1]
		l.pos++
	case c == '.':
		if !strings.HasPrefix(l.src[l.pos:], "...") {
			return l.errorf("'.' outside \"...\"")
		}
		l.kind, l.text = tokPunct, "..."
		l.pos += 3
	case isNameStart(c):
		end := l.pos + 1
		for end < len(l.src) && (isNameStart(l.src[end]) || isDigit(l.src[end])) {
			end++
		}
		l.kind, l.text = tokName, l.src[l.pos:end]
		l.pos = end
	case c == '-' || isDigit(c):
		l.kind = tokValue
		return l.number()
	case c == '"':
		l.kind = tokValue
		if strings.HasPrefix(l.src[l.pos:], `"""`) {
			return l.blockString()
		}
		return l.str()
	default:
		return l.errorf("unexpected character 0x%02x", c)
	}
	return nil
}

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func (l *gqlLexer) skipIgnored() {
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "\uFEFF"):
			l.pos += len("\uFEFF")
		default:
			return
		}
	}
}

// number reads IntValue or FloatValue; a name start or '.' right after it
// is an error, as the spec requires.
func (l *gqlLexer) number() error {
	i := l.pos
	if l.src[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
		}
		return i > s
	}
	intStart := i
	if !digits() {
		return l.errorf("digit expected")
	}
	if l.src[intStart] == '0' && i-intStart > 1 {
		return l.errorf("leading zero")
	}
	if i < len(l.src) && l.src[i] == '.' {
		i++
		if !digits() {
			return l.errorf("digit expected after '.'")
		}
	}
	if i < len(l.src) && (l.src[i] == 'e' || l.src[i] == 'E') {
		i++
		if i < len(l.src) && (l.src[i] == '+' || l.src[i] == '-') {
			i++
		}
		if !digits() {
			return l.errorf("digit expected in exponent")
		}
	}
	if i < len(l.src) && (isNameStart(l.src[i]) || l.src[i] == '.') {
		return l.errorf("invalid number")
	}
	l.pos = i
	return nil
}

// str reads a "..." string: no line terminators, valid escapes.
func (l *gqlLexer) str() error {
	i := l.pos + 1
	for i < len(l.src) {
		switch c := l.src[i]; {
		case c == '"':
			l.pos = i + 1
			return nil
		case c == '\n' || c == '\r':
			return l.errorf("line break in string")
		case c == '\\':
			if i+1 >= len(l.src) {
				return l.errorf("unterminated string")
			}
			switch l.src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				n, ok := unicodeEscapeLen(l.src[i+2:])
				if !ok {
					return l.errorf("invalid \\u escape")
				}
				i += 2 + n
			default:
				return l.errorf("invalid escape")
			}
		case c < 0x20 && c != '\t':
			return l.errorf("control character in string")
		default:
			i++
		}
	}
	return l.errorf("unterminated string")
}

// unicodeEscapeLen measures the part after "\u": four hex digits or
// "{hex...}" (spec 2021).
func unicodeEscapeLen(s string) (int, bool) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 2 || end > 9 {
			return 0, false
		}
		for j := 1; j < end; j++ {
			if !isHex(s[j]) {
				return 0, false
			}
		}
		return end + 1, true
	}
	if len(s) < 4 || !isHex(s[0]) || !isHex(s[1]) || !isHex(s[2]) || !isHex(s[3]) {
		return 0, false
	}
	return 4, true
}

// blockString reads a """...""" string; \""" is the only escape.
func (l *gqlLexer) blockString() error {
	i := l.pos + 3
	for i < len(l.src) {
		switch {
		case strings.HasPrefix(l.src[i:], `\"""`):
			i += 4
		case strings.HasPrefix(l.src[i:], `"""`):
			l.pos = i + 3
			return nil
		case l.src[i] < 0x20 && l.src[i] != '\t' && l.src[i] != '\n' && l.src[i] != '\r':
			return l.errorf("control character in block string")
		default:
			i++
		}
	}
	return l.errorf("unterminated block string")
}
