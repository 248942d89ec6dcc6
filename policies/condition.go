package policies

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxExactInt is the largest integer a float64 holds exactly. Larger rule
// numbers are refused because they could not be compared exactly.
const maxExactInt = 1 << 53

// maxRegexLen bounds regex sources; RE2 compiles in linear time, but a
// megabyte of pattern in a policy file is a mistake, not a rule.
const maxRegexLen = 4096

var opNames = func() []string {
	out := make([]string, len(allOps))
	for i, o := range allOps {
		out[i] = string(o)
	}
	return out
}()

var opAliasHints = func() map[string]string {
	out := make(map[string]string, len(opAliases))
	for k, v := range opAliases {
		out[k] = string(v)
	}
	return out
}()

var fieldNames = []string{"agent", "connector", "action", "method", "host", "path", "params", "time"}

// condition decodes a when: node. path is the YAML path from the file root
// (for errors), rel the path below the rule (for explain), depth the number of
// all/any combinators above n.
func (d *decoder) condition(n *yaml.Node, path, rel string, depth int) *cond {
	m := d.mapping(n, path, "all", "any", "field", "op", "value")
	if m == nil {
		return nil
	}
	c := &cond{path: rel, line: n.Line}
	_, hasAll := m["all"]
	_, hasAny := m["any"]
	_, hasField := m["field"]
	_, hasOp := m["op"]
	_, hasValue := m["value"]
	switch {
	case hasAll && hasAny, (hasAll || hasAny) && (hasField || hasOp || hasValue):
		d.at(n, path, "nest them: all: [{any: [...]}, {field: ...}]",
			"a condition is either all:, any: or field/op/value, not several")
		return nil
	case hasAll || hasAny:
		key := "all"
		if hasAny {
			key = "any"
		}
		if depth+1 > maxDepth {
			d.at(n, join(path, key), "flatten the conditions", "all/any nest deeper than %d levels", maxDepth)
			return nil
		}
		var kids []*cond
		for i, kn := range d.sequence(m[key], join(path, key), true) {
			kids = append(kids, d.condition(kn, index(join(path, key), i), index(join(rel, key), i), depth+1))
		}
		if key == "all" {
			c.all = kids
		} else {
			c.any = kids
		}
		if len(kids) == 0 || slices.Contains(kids, nil) {
			return nil
		}
		return c
	}
	for _, k := range []string{"field", "op", "value"} {
		if _, ok := m[k]; !ok {
			d.at(n, join(path, k), "a condition is {field: params.base, op: eq, value: main}", "missing required key")
		}
	}
	if !hasField || !hasOp || !hasValue {
		return nil
	}
	fieldOK, opOK := d.field(c, m["field"], join(path, "field")), d.op(c, m["op"], join(path, "op"))
	if !fieldOK || !opOK {
		return nil
	}
	if !d.operand(c, m["value"], join(path, "value")) {
		return nil
	}
	return c
}

// field decodes and checks a field name.
func (d *decoder) field(c *cond, n *yaml.Node, path string) bool {
	s, ok := d.str(n, path)
	if !ok {
		return false
	}
	if _, fixed := fixedFields[s]; fixed {
		c.field = newField(s)
		return true
	}
	if rest, ok := strings.CutPrefix(s, "params."); ok && rest != "" && !slices.Contains(strings.Split(rest, "."), "") {
		c.field = newField(s)
		return true
	}
	head, rest, dotted := strings.Cut(s, ".")
	hint := ""
	switch {
	case head == "params":
		hint = "write params.<name>, e.g. params.base"
	case head == "time":
		hint = "use time.hour or time.weekday"
	default:
		if h := didYouMean(head, fieldNames, map[string]string{"param": "params", "parameters": "params"}); h != "" {
			fix := strings.TrimSuffix(strings.TrimPrefix(h, "did you mean "), "?")
			if dotted {
				fix += "." + rest
			}
			hint = "did you mean " + fix + "?"
		} else {
			hint = "fields are agent, connector, action, method, host, path, params.<name>, time.hour and time.weekday"
		}
	}
	d.at(n, path, hint, "unknown field %q", s)
	return false
}

// op decodes and checks an operator name.
func (d *decoder) op(c *cond, n *yaml.Node, path string) bool {
	s, ok := d.str(n, path)
	if !ok {
		return false
	}
	for _, o := range allOps {
		if string(o) == s {
			c.op = o
			return true
		}
	}
	hint := didYouMean(s, opNames, opAliasHints)
	if hint == "" {
		hint = "operators are " + strings.Join(opNames, " ")
	}
	d.at(n, path, hint, "unknown operator %q", s)
	return false
}

// operand decodes value: for the condition's operator and field.
func (d *decoder) operand(c *cond, n *yaml.Node, path string) bool {
	switch c.op {
	case opIn, opNotIn:
		return d.operandList(c, n, path)
	case opExists:
		v, ok := d.scalar(n, path)
		if ok && v.kind != kindBool {
			d.at(n, path, "exists takes value: true or value: false", "must be a boolean")
			return false
		}
		c.value = v
		return ok
	}
	v, ok := d.scalar(n, path)
	if !ok {
		return false
	}
	c.value = v
	want := kindString
	switch c.op {
	case opEq, opNeq, opContains:
		want = v.kind
	case opGt, opGte, opLt, opLte:
		want = kindNumber
	}
	if v.kind != want {
		d.at(n, path, "", "%s compares with a %s, not a %s", c.op, want, v.kind)
		return false
	}
	if !d.fieldAccepts(c, n, path, v) {
		return false
	}
	switch c.op {
	case opGlob:
		if msg := checkGlob(v.s); msg != "" {
			d.at(n, path, "", "%s", msg)
			return false
		}
	case opRegex:
		if len(v.s) > maxRegexLen {
			d.at(n, path, "", "regex is longer than %d bytes", maxRegexLen)
			return false
		}
		re, err := regexp.Compile(v.s)
		if err != nil {
			d.at(n, path, "regexes use RE2 syntax", "invalid regex: %v", err)
			return false
		}
		c.re = re
	}
	return true
}

// operandList decodes the list value of in and not_in: non-empty and of one
// type, so that "a type mismatch never matches" has one meaning.
func (d *decoder) operandList(c *cond, n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode {
		d.at(n, path, fmt.Sprintf("write [%s]", n.Value), "%s takes a list", c.op)
		return false
	}
	items := d.sequence(n, path, true)
	if len(items) == 0 {
		return false
	}
	ok := true
	for i, in := range items {
		v, vok := d.scalar(in, index(path, i))
		if !vok {
			ok = false
			continue
		}
		if i > 0 && v.kind != c.list[0].kind {
			d.at(in, index(path, i), "", "list mixes a %s with a %s", c.list[0].kind, v.kind)
			ok = false
			continue
		}
		if !d.fieldAccepts(c, in, index(path, i), v) {
			ok = false
		}
		c.list = append(c.list, v)
	}
	return ok
}

// fieldAccepts checks a value against the type and range of a fixed field.
func (d *decoder) fieldAccepts(c *cond, n *yaml.Node, path string, v value) bool {
	f := c.field
	switch {
	case f.kind == 0:
		return true
	case f.kind != v.kind:
		hint := ""
		if f.kind == kindString {
			hint = fmt.Sprintf("quote it: %q", n.Value)
		}
		d.at(n, path, hint, "%s is a %s, but the value is a %s", f.name, f.kind, v.kind)
		return false
	case f.name == "time.weekday":
		if c.op != opEq && c.op != opNeq && c.op != opIn && c.op != opNotIn {
			d.at(n, path, "use eq, neq, in or not_in", "time.weekday does not support %s", c.op)
			return false
		}
		if !slices.Contains(weekdays, v.s) {
			d.at(n, path, "weekdays are "+strings.Join(weekdays[1:], " ")+" sun", "unknown weekday %q", v.s)
			return false
		}
	case f.name == "time.hour":
		switch c.op {
		case opEq, opNeq, opIn, opNotIn:
			if v.n < 0 || v.n > 23 || v.n != math.Trunc(v.n) {
				d.at(n, path, "hours are whole numbers 0 to 23, in UTC", "hour %v is out of range", v.n)
				return false
			}
		case opContains:
			d.at(n, path, "use eq, in or gt/lt", "time.hour does not support contains")
			return false
		}
	}
	return true
}

// scalar decodes a single rule value.
func (d *decoder) scalar(n *yaml.Node, path string) (value, bool) {
	if !d.kind(n, path, yaml.ScalarNode) {
		return value{}, false
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		s, ok := d.str(n, path)
		return value{kind: kindString, s: s}, ok
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			d.at(n, path, "", "invalid boolean: %v", err)
			return value{}, false
		}
		return value{kind: kindBool, b: b}, true
	case "!!int", "!!float":
		var x any
		if err := n.Decode(&x); err != nil {
			d.at(n, path, "", "invalid number: %v", err)
			return value{}, false
		}
		f, ok := toFloat(x)
		if i, isInt := x.(int); isInt && (i > maxExactInt || i < -maxExactInt) {
			f = math.Inf(1) // reported as too large below, not rounded
		}
		switch {
		case !ok || math.IsNaN(f) || (math.IsInf(f, 0) && n.ShortTag() == "!!float"):
			d.at(n, path, "", "number %s is not finite", n.Value)
		case math.Abs(f) > maxExactInt:
			d.at(n, path, "", "number %s is too large to compare exactly (limit ±2^53)", n.Value)
		default:
			return value{kind: kindNumber, n: f}, true
		}
		return value{}, false
	case "!!null":
		d.at(n, path, "to test for a missing field use op: exists, value: false", "value must not be null")
		return value{}, false
	}
	d.at(n, path, "", "unsupported value type %s", n.ShortTag())
	return value{}, false
}
