package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// Error is one problem in a config file, with the place it was found.
// Every loader error is an *Error so that callers (validate, reload logs)
// can print file:line:col uniformly.
type Error struct {
	File      string
	Line, Col int
	Path      string // YAML path, e.g. connectors[0].credential.header
	Msg       string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// pos is a place in the source file.
type pos struct{ line, col int }

// decoder walks a yaml.Node tree into Go values strictly: unknown keys,
// duplicate keys and type mismatches are all errors, and every error is
// collected (not just the first) with its position and YAML path. It also
// records the position of every path so later validation can point at the
// offending line.
type decoder struct {
	file   string
	env    func(string) (string, bool)
	errs   []error
	places map[string]pos
	raws   map[string]string // scalar text before ${env:} expansion
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

var durationType = reflect.TypeFor[time.Duration]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.places[path] = pos{n.Line, n.Column}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		d.decodeDuration(n, v, path)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Kind() == reflect.Slice:
		d.decodeSlice(n, v, path)
	case v.Kind() == reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if !isNull(n) {
			d.errorf(n, path, "expected a mapping, got %s", describe(n))
		}
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		sub := join(path, key)
		if seen[key] {
			d.errorf(k, sub, "duplicate key %q", key)
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		if !ok {
			d.errorf(k, sub, "unknown key %q%s", key, suggest(key, keys(fields)))
			continue
		}
		d.decode(val, v.Field(idx), sub)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, sub, "duplicate key %q", k.Value)
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, sub)
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		d.raws[path] = n.Value
		s, err := expandEnv(n.Value, d.env)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Tag != "!!bool" || err != nil {
			d.errorf(n, path, "expected true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Tag != "!!int" || err != nil {
			d.errorf(n, path, "expected an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	default:
		d.errorf(n, path, "unsupported field type %s", v.Type())
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a duration like 60s, got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil || dur <= 0 {
		d.errorf(n, path, "expected a positive duration like 60s or 5m, got %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// structFields maps yaml tag names to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func keys(m map[string]int) []string { return sortedKeys(m) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported node"
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	}
	return k.String()
}

// suggest returns ` (did you mean "x"?)` for the closest known key, if close.
func suggest(got string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := levenshtein.ComputeDistance(got, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
