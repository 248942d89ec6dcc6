package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// decoder walks the YAML node tree of one file strictly: every key must be
// known, every value of the expected kind, and every problem is recorded
// (with its place and YAML path) before moving on, so a file's problems are
// reported together.
type decoder struct {
	problems
}

// parseDocument parses src as exactly one YAML document and returns its root
// node, or nil after recording why not.
func (d *decoder) parseDocument(src []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.at(nil, "", "start the file with version: 1", "empty file")
			return nil
		}
		d.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.at(&extra, "", "put each document in its own file", "more than one YAML document")
		return nil
	}
	if len(doc.Content) != 1 {
		d.at(&doc, "", "", "empty document")
		return nil
	}
	return doc.Content[0]
}

// mapping checks that n is a mapping whose keys are all in known and unique,
// and returns the value nodes by key. It returns nil if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	if !d.kind(n, path, yaml.MappingNode) {
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	keyLine := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			d.at(k, path, "", "keys must be plain words")
			continue
		}
		if first, dup := keyLine[key]; dup {
			d.at(k, join(path, key), "", "duplicate key %q (first at line %d)", key, first)
			continue
		}
		keyLine[key] = k.Line
		if !slices.Contains(known, key) {
			d.at(k, join(path, key), didYouMean(key, known, nil), "unknown key %q", key)
			continue
		}
		out[key] = v
	}
	return out
}

// kind records a problem unless n has the wanted kind. Aliases are refused
// outright: they are never needed in a policy and expanding them is how YAML
// "billion laughs" inputs blow up.
func (d *decoder) kind(n *yaml.Node, path string, want yaml.Kind) bool {
	if n.Kind == yaml.AliasNode {
		d.at(n, path, "write the value out in full", "YAML aliases are not allowed")
		return false
	}
	if n.Kind != want {
		d.at(n, path, "", "must be %s, not %s", kindName(want), kindName(n.Kind))
		return false
	}
	return true
}

// sequence returns the items of a sequence node, recording a problem if n is
// not a sequence or (when nonEmpty) has no items.
func (d *decoder) sequence(n *yaml.Node, path string, nonEmpty bool) []*yaml.Node {
	if !d.kind(n, path, yaml.SequenceNode) {
		return nil
	}
	if nonEmpty && len(n.Content) == 0 {
		d.at(n, path, "", "must not be empty")
	}
	return n.Content
}

// str returns the string value of a scalar node. Plain scalars YAML would read
// as another type (numbers, booleans, null) are refused with a hint to quote
// them, so that "name: 2024" or "effect: yes" cannot change meaning silently.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.kind(n, path, yaml.ScalarNode) {
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
	default:
		d.at(n, path, fmt.Sprintf("quote it: %q", n.Value), "must be a string, not %s", tagName(n.ShortTag()))
		return "", false
	}
	if !utf8.ValidString(n.Value) {
		d.at(n, path, "", "is not valid UTF-8")
		return "", false
	}
	return n.Value, true
}

// name returns a policy or rule name: a non-empty string without control
// characters. Names reach logs, deny bodies and Rego comments, where a
// newline would forge lines.
func (d *decoder) name(n *yaml.Node, path string, allowSlash bool) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	switch {
	case s == "":
		d.at(n, path, "", "must not be empty")
	case hasControl(s):
		d.at(n, path, "", "must not contain control characters")
	case !allowSlash && strings.ContainsRune(s, '/'):
		d.at(n, path, "rule references are written policy/rule", "policy names must not contain /")
	default:
		return s, true
	}
	return "", false
}

// hasControl reports whether s contains a control or line-separator character.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "empty"
}

func tagName(tag string) string {
	switch tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!str":
		return "a string"
	}
	return tag
}

// join appends a key to a YAML path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a YAML path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
