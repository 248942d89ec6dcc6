package connectors

import (
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// skipPlain advances over string bytes that need no attention (not '"',
// '\\' or a control byte), eight at a time: bodies are mostly long
// strings (prompts), and this keeps a 1 MiB body well under a millisecond.
func skipPlain(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		quote, bslash := x^(ones*'"'), x^(ones*'\\')
		// The classic has-zero-byte and has-less-than tests (Hacker's Delight):
		// non-zero when some byte is '"', '\\' or below 0x20.
		if ((quote-ones)&^quote|(bslash-ones)&^bslash|(x-ones*0x20)&^x)&highs != 0 {
			break
		}
		i += 8
	}
	return i
}

func isHex4(b []byte) bool {
	return isHex(b[0]) && isHex(b[1]) && isHex(b[2]) && isHex(b[3])
}

// jsonString decodes the raw content of a string. Lone surrogates and
// invalid UTF-8 are errors, not U+FFFD: two readers may repair them
// differently, and RFC 8785 hashing needs real Unicode.
func jsonString(raw []byte, esc bool) (string, error) {
	if !esc {
		if !utf8.Valid(raw) {
			return "", errors.New("string is not UTF-8")
		}
		return string(raw), nil
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'u':
			r := rune(hex4(raw[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return "", errors.New("lone surrogate in string")
				}
				r = utf16.DecodeRune(r, rune(hex4(raw[i+2:i+6])))
				if r == utf8.RuneError {
					return "", errors.New("lone surrogate in string")
				}
				i += 6
			}
			b = utf8.AppendRune(b, r)
		default:
			b = append(b, unescapeJSON(e))
			i += 2
		}
	}
	if !utf8.Valid(b) {
		return "", errors.New("string is not UTF-8")
	}
	return string(b), nil
}

func hex4(b []byte) uint16 {
	return uint16(unhex(b[0]))<<12 | uint16(unhex(b[1]))<<8 | uint16(unhex(b[2]))<<4 | uint16(unhex(b[3]))
}

func unescapeJSON(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\', '/'
}
