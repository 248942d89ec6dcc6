package policies

import (
	"regexp"
	"strings"
)

// policy is one validated entry of a file's policies list.
type policy struct {
	name   string
	file   string
	line   int
	col    int
	agents []string // nil: every agent
	rules  []*rule
}

// rule is one validated rule. ord is its position across all files of a
// Set, which is file order.
type rule struct {
	ref     RuleRef
	ord     int
	policy  *policy
	effect  Effect
	actions []string
	when    *cond // nil: no conditions
}

// cond is a condition: a combinator (all or any, non-empty) or a leaf
// comparing a field with a value.
type cond struct {
	path string // YAML path below the rule, e.g. "when.any[1]"
	line int

	all, any []*cond

	field field
	op    op
	value value   // eq, neq, glob, regex, prefix, suffix, contains, gt.., exists
	list  []value // in, not_in
	re    *regexp.Regexp
}

func (c *cond) leaf() bool { return c.all == nil && c.any == nil }

// kind is the type of a value as the policy language sees it.
type kind int

const (
	kindString kind = iota + 1
	kindNumber
	kindBool
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	}
	return "value"
}

// value is a scalar rule value. Numbers are float64, the type both the
// direct evaluator and the Rego input use, so they compare alike.
type value struct {
	kind kind
	s    string
	n    float64
	b    bool
}

// field is a validated field reference such as params.base or time.hour.
type field struct {
	name string   // as written
	path []string // input path, e.g. ["params", "base"]
	kind kind     // fixed type of the field; 0 for params (any type)
}

// Fields with a fixed type. params.<name> fields are open.
var fixedFields = map[string]kind{
	"agent":        kindString,
	"connector":    kindString,
	"action":       kindString,
	"method":       kindString,
	"host":         kindString,
	"path":         kindString,
	"time.hour":    kindNumber,
	"time.weekday": kindString,
}

func newField(name string) field {
	return field{name: name, path: strings.Split(name, "."), kind: fixedFields[name]}
}

// op is a comparison operator.
type op string

const (
	opEq       op = "eq"
	opNeq      op = "neq"
	opIn       op = "in"
	opNotIn    op = "not_in"
	opGlob     op = "glob"
	opRegex    op = "regex"
	opPrefix   op = "prefix"
	opSuffix   op = "suffix"
	opContains op = "contains"
	opGt       op = "gt"
	opGte      op = "gte"
	opLt       op = "lt"
	opLte      op = "lte"
	opExists   op = "exists"
)

var allOps = []op{opEq, opNeq, opIn, opNotIn, opGlob, opRegex, opPrefix, opSuffix,
	opContains, opGt, opGte, opLt, opLte, opExists}

// opAliases maps spellings authors reach for to the operator they mean, for
// "did you mean" hints.
var opAliases = map[string]op{
	"equals": opEq, "equal": opEq, "==": opEq, "=": opEq, "is": opEq,
	"not_equals": opNeq, "ne": opNeq, "!=": opNeq, "not": opNeq,
	"one_of": opIn, "any_of": opIn, "not_one_of": opNotIn, "nin": opNotIn,
	"matches": opRegex, "match": opRegex, "regexp": opRegex, "re": opRegex,
	"like": opGlob, "wildcard": opGlob,
	"starts_with": opPrefix, "startswith": opPrefix, "begins_with": opPrefix,
	"ends_with": opSuffix, "endswith": opSuffix,
	"includes": opContains, "has": opContains,
	">": opGt, ">=": opGte, "<": opLt, "<=": opLte,
	"greater_than": opGt, "less_than": opLt, "ge": opGte, "le": opLte,
	"exist": opExists, "present": opExists, "defined": opExists,
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// maxDepth bounds how deeply all/any may nest, so that hostile or mistaken
// files cannot drive the translator, OPA or the direct evaluator into deep
// recursion.
const maxDepth = 16
