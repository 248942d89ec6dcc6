package connectors

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The JSON reader below validates a whole body in one pass, with no
// allocation for the parts it does not select, and copies the selected
// scalars into params. encoding/json is not used because it would decode the
// whole body into maps (slow, allocating) and because it silently keeps the
// last of two equal keys, matches struct fields case-insensitively and
// replaces invalid surrogates: exactly the places where an upstream may read
// a body differently from us. Here a selected key that appears twice, or in
// another letter case, is ErrAmbiguous.

// maxJSONDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxJSONDepth = 512

// maxJSONChildren bounds the selected keys of one object (a bit set tracks
// which were seen).
const maxJSONChildren = 64

// jsonNode is one level of the tree of selected JSON paths.
type jsonNode struct {
	key      []byte
	field    *field // set on leaves
	children []*jsonNode
}

// buildJSONTree arranges body selectors as a tree of object keys.
func buildJSONTree(fields []field) (*jsonNode, error) {
	root := &jsonNode{}
	for i := range fields {
		f := &fields[i]
		n := root
		for _, k := range f.path {
			if n.field != nil {
				return nil, fmt.Errorf("%s selects inside a field that is itself selected", f.formKey)
			}
			var next *jsonNode
			for _, c := range n.children {
				switch {
				case string(c.key) == k:
					next = c
				case strings.EqualFold(string(c.key), k):
					return nil, fmt.Errorf("%s: two selectors differ only in letter case", f.formKey)
				}
			}
			if next == nil {
				if len(n.children) == maxJSONChildren {
					return nil, fmt.Errorf("more than %d fields in one object", maxJSONChildren)
				}
				next = &jsonNode{key: []byte(k)}
				n.children = append(n.children, next)
			}
			n = next
		}
		if n.field != nil || len(n.children) > 0 {
			return nil, fmt.Errorf("%s is selected twice or both as a value and an object", f.formKey)
		}
		n.field = f
	}
	return root, nil
}

// extractJSON validates data as one JSON value and copies the fields
// selected by root into params.
func extractJSON(data []byte, root *jsonNode, params map[string]any) error {
	s := jsonScanner{data: data, params: params}
	s.skipWS()
	if err := s.value(root); err != nil {
		return err
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return s.errorf("data after the top-level value")
	}
	return nil
}

type jsonScanner struct {
	data   []byte
	pos    int
	depth  int
	params map[string]any
}

var errJSONDepth = errors.New("JSON nested too deeply")

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: JSON: %s at offset %d", ErrBodyUnparseable, fmt.Sprintf(format, args...), s.pos)
}

func (s *jsonScanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value. n is the selection at this place: nil (nothing
// selected), a leaf (store the scalar) or an inner node (an object expected).
func (s *jsonScanner) value(n *jsonNode) error {
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	if n != nil && n.field != nil {
		return s.leaf(n.field)
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(n)
	case c == '[':
		return s.array()
	case c == '"':
		_, _, _, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		_, err := s.number()
		return err
	default:
		return s.errorf("unexpected byte 0x%02x", c)
	}
}

func (s *jsonScanner) leaf(f *field) error {
	var v any
	switch c := s.data[s.pos]; {
	case c == '"':
		start, end, esc, err := s.str()
		if err != nil {
			return err
		}
		str, err := jsonString(s.data[start:end], esc)
		if err != nil {
			return fmt.Errorf("%w: JSON field %s: %w", ErrBodyUnparseable, f.formKey, err)
		}
		v = str
	case c == 't' || c == 'f':
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		if err := s.literal(lit); err != nil {
			return err
		}
		v = c == 't'
	case c == 'n':
		// null is the same as absent for every API we know of.
		return s.literal("null")
	case c == '-' || isDigit(c):
		num, err := s.number()
		if err != nil {
			return err
		}
		x, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return fmt.Errorf("%w: JSON field %s: number out of range", ErrBodyUnparseable, f.formKey)
		}
		v = x
	case c == '{' || c == '[':
		return fmt.Errorf("%w: JSON field %s is an object or array, not a value", ErrBodyUnparseable, f.formKey)
	default:
		return s.errorf("unexpected byte 0x%02x", c)
	}
	if !typeAccepts(f.typ, v) {
		return fmt.Errorf("%w: JSON field %s has the wrong type", ErrBodyUnparseable, f.formKey)
	}
	return setParam(s.params, f.param, v)
}

func typeAccepts(t fieldType, v any) bool {
	switch t {
	case typeString:
		_, ok := v.(string)
		return ok
	case typeNumber:
		_, ok := v.(float64)
		return ok
	case typeBool:
		_, ok := v.(bool)
		return ok
	}
	return true
}

func (s *jsonScanner) object(n *jsonNode) error {
	if done, err := s.open('}'); done || err != nil {
		return err
	}
	var seen uint64
	for {
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.errorf("object key expected")
		}
		start, end, esc, err := s.str()
		if err != nil {
			return err
		}
		var child *jsonNode
		if n != nil && len(n.children) > 0 {
			i, err := n.lookup(s.data[start:end], esc)
			if err != nil {
				return err
			}
			if i >= 0 {
				if seen&(1<<i) != 0 {
					return fmt.Errorf("%w: JSON key %q appears twice", ErrAmbiguous, n.children[i].key)
				}
				seen |= 1 << i
				child = n.children[i]
			}
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.errorf("':' expected")
		}
		s.pos++
		s.skipWS()
		if err := s.value(child); err != nil {
			return err
		}
		if done, err := s.next('}'); done || err != nil {
			return err
		}
	}
}

// lookup finds the selected child for a raw key. A key that equals a
// selected one only when letter case is ignored is ErrAmbiguous: servers
// built on case-insensitive decoders (Go's encoding/json among them) would
// read it as the selected field.
func (n *jsonNode) lookup(raw []byte, esc bool) (int, error) {
	key := raw
	if esc {
		str, err := jsonString(raw, true)
		if err != nil {
			return -1, fmt.Errorf("%w: JSON key: %w", ErrBodyUnparseable, err)
		}
		key = []byte(str)
	}
	for i, c := range n.children {
		if bytes.Equal(c.key, key) {
			return i, nil
		}
	}
	for _, c := range n.children {
		if bytes.EqualFold(c.key, key) {
			return -1, fmt.Errorf("%w: JSON key %q differs from %q only in letter case", ErrAmbiguous, key, c.key)
		}
	}
	return -1, nil
}

func (s *jsonScanner) array() error {
	if done, err := s.open(']'); done || err != nil {
		return err
	}
	for {
		s.skipWS()
		if err := s.value(nil); err != nil {
			return err
		}
		if done, err := s.next(']'); done || err != nil {
			return err
		}
	}
}

// open enters an object or array at its opening bracket; done reports an
// empty one, already closed.
func (s *jsonScanner) open(closer byte) (done bool, err error) {
	if s.depth++; s.depth > maxJSONDepth {
		return false, fmt.Errorf("%w: %w", ErrBodyUnparseable, errJSONDepth)
	}
	s.pos++
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == closer {
		s.pos++
		s.depth--
		return true, nil
	}
	return false, nil
}

// next reads what follows a member: ',' (more to come) or closer (done).
func (s *jsonScanner) next(closer byte) (done bool, err error) {
	s.skipWS()
	if s.pos >= len(s.data) {
		return false, s.errorf("unexpected end")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		return false, nil
	case closer:
		s.pos++
		s.depth--
		return true, nil
	}
	return false, s.errorf("',' or %q expected", closer)
}

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.errorf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// str scans a string starting at '"' and returns the bounds of its raw
// content and whether it holds escapes. Escapes are checked for syntax;
// they are decoded only for selected keys and values.
func (s *jsonScanner) str() (start, end int, esc bool, err error) {
	s.pos++ // '"'
	start = s.pos
	for s.pos < len(s.data) {
		s.pos = skipPlain(s.data, s.pos)
		if s.pos >= len(s.data) {
			break
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			end = s.pos
			s.pos++
			return start, end, esc, nil
		case c == '\\':
			esc = true
			if s.pos+1 >= len(s.data) {
				return 0, 0, false, s.errorf("unterminated string")
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || !isHex4(s.data[s.pos+2:s.pos+6]) {
					return 0, 0, false, s.errorf("invalid \\u escape")
				}
				s.pos += 6
			default:
				return 0, 0, false, s.errorf("invalid escape")
			}
		case c < 0x20:
			return 0, 0, false, s.errorf("control byte in string")
		default:
			s.pos++
		}
	}
	return 0, 0, false, s.errorf("unterminated string")
}

// number scans a number in JSON syntax and returns its text.
func (s *jsonScanner) number() ([]byte, error) {
	start := s.pos
	end := start
	for end < len(s.data) {
		c := s.data[end]
		if !isDigit(c) && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		end++
	}
	num := s.data[start:end]
	if !isJSONNumber(num) {
		return nil, s.errorf("invalid number")
	}
	s.pos = end
	return num, nil
}
