package vault

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ErrSameKey means a re-key was asked from a key to itself.
var ErrSameKey = errors.New("the new key is the same as the current one")

// RekeyResult says what Rekey changed, by secret name only.
type RekeyResult struct {
	// Reencrypted lists the secrets whose enc: value was replaced, in file
	// order.
	Reencrypted []string
	// Unchanged lists the secrets that are not enc: values (${env:NAME}),
	// left as they were, in file order.
	Unchanged []string
}

// sealedValue is one enc: value of the secrets: section and where its text
// starts in the file.
type sealedValue struct {
	name  string
	place string // file:line:col of the YAML node, for errors
	off   int    // byte offset of the value's first character
	value string
}

// Rekey returns data with every enc: value of its top-level secrets:
// mapping decrypted with oldKey and sealed again with newKey. Every other
// byte is kept: each value is replaced where the YAML parser says it is,
// after checking that the bytes there are exactly that value, and the new
// value has the same length (same plaintext, same nonce and tag sizes).
//
// Either every value opens with oldKey or nothing is returned: the errors,
// all of them, name the secret and its place (file:line:col), never a value.
// file names the source in those errors.
func Rekey(file string, data []byte, oldKey, newKey Key) ([]byte, RekeyResult, error) {
	if !oldKey.set || !newKey.set {
		return nil, RekeyResult{}, fmt.Errorf("re-keying: %w: zero Key", ErrBadKey)
	}
	if oldKey.b == newKey.b {
		return nil, RekeyResult{}, fmt.Errorf("re-keying: %w", ErrSameKey)
	}
	sealed, res, err := findSecrets(file, data)
	if err != nil {
		return nil, RekeyResult{}, err
	}
	values := make([]string, len(sealed))
	for i, s := range sealed {
		values[i] = s.value
	}
	plains, failures := openEach(oldKey, values)
	defer func() {
		for _, p := range plains {
			clear(p)
		}
	}()
	var errs []error
	for i, s := range sealed {
		if failures[i] != nil {
			errs = append(errs, s.errorf("%w", failures[i]))
		}
	}
	if len(errs) > 0 {
		return nil, RekeyResult{}, errors.Join(errs...)
	}

	out := bytes.Clone(data)
	for i, s := range sealed {
		enc, err := Encrypt(newKey, plains[i])
		if err != nil {
			return nil, RekeyResult{}, s.errorf("%w", err)
		}
		if len(enc) != len(s.value) { // cannot happen: same plaintext, same sizes
			return nil, RekeyResult{}, s.errorf("re-encrypted value has another length")
		}
		copy(out[s.off:], enc)
		res.Reencrypted = append(res.Reencrypted, s.name)
	}
	return out, res, nil
}

func (s sealedValue) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: secrets.%s: secret %s: %w", s.place, s.name, s.name, fmt.Errorf(format, args...))
}

// findSecrets lists the enc: values of the top-level secrets: mapping with
// their byte offsets, and the names of the other secrets.
func findSecrets(file string, data []byte) ([]sealedValue, RekeyResult, error) {
	var res RekeyResult
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return nil, res, fmt.Errorf("%s: not valid YAML: %w", file, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, res, fmt.Errorf("%s: not a config file: the top level is not a mapping", file)
	}
	top := root.Content[0].Content
	lines := lineStarts(data)
	var sealed []sealedValue
	var errs []error
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != "secrets" || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		entries := top[i+1].Content
		for j := 0; j+1 < len(entries); j += 2 {
			name, n := entries[j].Value, entries[j+1]
			place := fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
			if n.Kind != yaml.ScalarNode || !isSealed(n.Value) {
				res.Unchanged = append(res.Unchanged, name)
				continue
			}
			s := sealedValue{name: name, place: place, value: n.Value}
			off, ok := valueOffset(data, lines, n)
			if !ok {
				errs = append(errs, s.errorf("the enc: value must be written on one line, plain or quoted, to be re-keyed"))
				continue
			}
			s.off = off
			sealed = append(sealed, s)
		}
	}
	if len(errs) > 0 {
		return nil, res, errors.Join(errs...)
	}
	return sealed, res, nil
}

func isSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// lineStarts returns the byte offset of each line's start.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// valueOffset finds the byte offset of n's value in data, or reports false
// when the bytes at n's position are not exactly the value (a folded,
// multi-line or escaped scalar). The parser gives the node's line and its
// column in characters; the node starts there with its tag and anchor, if
// any, then an optional quote.
func valueOffset(data []byte, lines []int, n *yaml.Node) (int, bool) {
	if n.Line < 1 || n.Line > len(lines) || n.Column < 1 {
		return 0, false
	}
	end := len(data)
	if n.Line < len(lines) {
		end = lines[n.Line] - 1
	}
	line := data[lines[n.Line-1]:end]
	at := 0
	for range n.Column - 1 {
		if at >= len(line) {
			return 0, false
		}
		_, size := utf8.DecodeRune(line[at:])
		at += size
	}
	// Skip "!tag " and "&anchor " properties.
	for at < len(line) && (line[at] == '!' || line[at] == '&') {
		for at < len(line) && line[at] != ' ' && line[at] != '\t' {
			at++
		}
		for at < len(line) && (line[at] == ' ' || line[at] == '\t') {
			at++
		}
	}
	var quote byte
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		quote = '"'
	case n.Style&yaml.SingleQuotedStyle != 0:
		quote = '\''
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.FlowStyle) != 0:
		return 0, false
	}
	if quote != 0 {
		if at >= len(line) || line[at] != quote {
			return 0, false
		}
		at++
	}
	rest := line[at:]
	if !bytes.HasPrefix(rest, []byte(n.Value)) {
		return 0, false
	}
	after := rest[len(n.Value):]
	if quote != 0 {
		if len(after) == 0 || after[0] != quote {
			return 0, false
		}
	} else if len(after) > 0 && !slices.Contains([]byte(" \t\r,]}"), after[0]) {
		return 0, false
	}
	return lines[n.Line-1] + at, true
}
