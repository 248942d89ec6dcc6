package connectors

import (
	"errors"
	"fmt"
	"sort"
)

// gqlOperation is what a GraphQL request does, as far as policy cares: the
// operation type and the top-level fields it selects.
type gqlOperation struct {
	kind   string   // query, mutation or subscription
	fields []string // distinct top-level field names, sorted (aliases resolved)
	count  int      // top-level field selections, aliases and repeats included
}

// maxGQLNesting bounds nested brackets and inline fragments.
const maxGQLNesting = 128

// maxGQLCount caps field_count; past it the exact figure does not matter.
const maxGQLCount = 1 << 20

// gqlSelection is the top level of one selection set, inline fragments
// flattened into it.
type gqlSelection struct {
	fields  []string
	spreads []string
}

type gqlDef struct {
	kind string // query, mutation, subscription; "" for a fragment
	name string
	sel  gqlSelection
}

// analyzeGraphQL finds the operation a GraphQL server would execute for
// this document and operationName, and its top-level fields. It reads the
// executable-document grammar of the GraphQL spec (October 2021) with a
// small lexer: strings, block strings and comments are tokens of their own,
// so a brace or a keyword inside them is never taken for structure.
//
// Where a server would reject the document (several operations and no
// name, an unknown name, an undefined or cyclic fragment, type-system
// definitions) the result is an error, never a guess. Directives such as
// @skip are ignored: a field is counted even if a variable could skip it.
func analyzeGraphQL(doc, operationName string) (gqlOperation, error) {
	p := gqlParser{lex: gqlLexer{src: doc}}
	defs, err := p.document()
	if err != nil {
		return gqlOperation{}, err
	}
	var op *gqlDef
	fragments := make(map[string]*gqlDef)
	anonymous, named := 0, map[string]bool{}
	for i := range defs {
		d := &defs[i]
		switch {
		case d.kind == "":
			if fragments[d.name] != nil {
				return gqlOperation{}, fmt.Errorf("%w: GraphQL fragment %s defined twice", ErrBodyUnparseable, d.name)
			}
			fragments[d.name] = d
		case d.name == "":
			anonymous++
		case named[d.name]:
			return gqlOperation{}, fmt.Errorf("%w: GraphQL operation %s defined twice", ErrBodyUnparseable, d.name)
		default:
			named[d.name] = true
		}
		if d.kind != "" && (operationName == "" || d.name == operationName) {
			if op != nil {
				return gqlOperation{}, fmt.Errorf("%w: several GraphQL operations and no operationName", ErrAmbiguous)
			}
			op = d
		}
	}
	if anonymous > 0 && anonymous+len(named) > 1 {
		return gqlOperation{}, fmt.Errorf("%w: an anonymous GraphQL operation must be alone", ErrBodyUnparseable)
	}
	if op == nil {
		return gqlOperation{}, fmt.Errorf("%w: no GraphQL operation named %q", ErrBodyUnparseable, operationName)
	}

	r := gqlResolver{fragments: fragments, memo: map[string]*gqlFieldSet{}}
	set, err := r.resolve(&op.sel)
	if err != nil {
		return gqlOperation{}, err
	}
	out := gqlOperation{kind: op.kind, count: set.count}
	for f := range set.names {
		if f != "__typename" || len(set.names) == 1 {
			out.fields = append(out.fields, f)
		}
	}
	sort.Strings(out.fields)
	return out, nil
}

type gqlFieldSet struct {
	names map[string]bool
	count int
}

// gqlResolver expands fragment spreads. Each fragment is resolved once
// (memo), so nested spreads cannot blow up exponentially; a fragment met
// again while it is being resolved is a cycle, which the spec forbids.
type gqlResolver struct {
	fragments map[string]*gqlDef
	memo      map[string]*gqlFieldSet
}

var errGQLCycle = errors.New("GraphQL fragment cycle")

func (r *gqlResolver) resolve(sel *gqlSelection) (*gqlFieldSet, error) {
	set := &gqlFieldSet{names: map[string]bool{}, count: len(sel.fields)}
	for _, f := range sel.fields {
		set.names[f] = true
	}
	for _, name := range sel.spreads {
		frag := r.fragments[name]
		if frag == nil {
			return nil, fmt.Errorf("%w: GraphQL fragment %s is not defined", ErrBodyUnparseable, name)
		}
		sub, done := r.memo[name]
		if done && sub == nil {
			return nil, fmt.Errorf("%w: %w through %s", ErrBodyUnparseable, errGQLCycle, name)
		}
		if !done {
			r.memo[name] = nil // in progress
			var err error
			if sub, err = r.resolve(&frag.sel); err != nil {
				return nil, err
			}
			r.memo[name] = sub
		}
		for f := range sub.names {
			set.names[f] = true
		}
		set.count = min(set.count+sub.count, maxGQLCount)
	}
	return set, nil
}

type gqlParser struct {
	lex gqlLexer
}

func (p *gqlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: GraphQL: %s at offset %d", ErrBodyUnparseable, fmt.Sprintf(format, args...), p.lex.start)
}

func (p *gqlParser) advance() error { return p.lex.next() }

func (p *gqlParser) isPunct(s string) bool { return p.lex.kind == tokPunct && p.lex.text == s }

func (p *gqlParser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.errorf("%q expected", s)
	}
	return p.advance()
}

func (p *gqlParser) name() (string, error) {
	if p.lex.kind != tokName {
		return "", p.errorf("name expected")
	}
	n := p.lex.text
	return n, p.advance()
}

func (p *gqlParser) document() ([]gqlDef, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var defs []gqlDef
	for p.lex.kind != tokEOF {
		d, err := p.definition()
		if err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	if len(defs) == 0 {
		return nil, p.errorf("empty document")
	}
	return defs, nil
}

func (p *gqlParser) definition() (gqlDef, error) {
	var d gqlDef
	if p.isPunct("{") { // query shorthand
		d.kind = "query"
		return d, p.selectionSet(&d.sel, 0)
	}
	if p.lex.kind != tokName {
		return d, p.errorf("definition expected")
	}
	switch kw := p.lex.text; kw {
	case "query", "mutation", "subscription":
		d.kind = kw
		if err := p.advance(); err != nil {
			return d, err
		}
		if p.lex.kind == tokName {
			d.name = p.lex.text
			if err := p.advance(); err != nil {
				return d, err
			}
		}
		if p.isPunct("(") { // variable definitions
			if err := p.skipBalanced(); err != nil {
				return d, err
			}
		}
	case "fragment":
		if err := p.advance(); err != nil {
			return d, err
		}
		n, err := p.name()
		if err != nil {
			return d, err
		}
		if n == "on" {
			return d, p.errorf("fragment cannot be named on")
		}
		d.name = n
		if on, err := p.name(); err != nil || on != "on" {
			return d, p.errorf("\"on\" expected")
		}
		if _, err := p.name(); err != nil {
			return d, err
		}
	default:
		return d, p.errorf("%q is not an executable definition", kw)
	}
	if err := p.directives(); err != nil {
		return d, err
	}
	return d, p.selectionSet(&d.sel, 0)
}

// selectionSet reads a selection set at the top level of an operation or
// fragment, recording field names and spreads; inline fragments are
// flattened into sel, nested selection sets and arguments skipped.
func (p *gqlParser) selectionSet(sel *gqlSelection, depth int) error {
	if depth > maxGQLNesting {
		return p.errorf("nested too deeply")
	}
	if err := p.expectPunct("{"); err != nil {
		return err
	}
	if p.isPunct("}") {
		return p.errorf("empty selection set")
	}
	for !p.isPunct("}") {
		if p.isPunct("...") {
			if err := p.spread(sel, depth); err != nil {
				return err
			}
			continue
		}
		n, err := p.name()
		if err != nil {
			return err
		}
		if p.isPunct(":") { // alias: the field is the name after it
			if err := p.advance(); err != nil {
				return err
			}
			if n, err = p.name(); err != nil {
				return err
			}
		}
		sel.fields = append(sel.fields, n)
		if p.isPunct("(") {
			if err := p.skipBalanced(); err != nil {
				return err
			}
		}
		if err := p.directives(); err != nil {
			return err
		}
		if p.isPunct("{") {
			if err := p.skipBalanced(); err != nil {
				return err
			}
		}
	}
	return p.advance()
}

func (p *gqlParser) spread(sel *gqlSelection, depth int) error {
	if err := p.advance(); err != nil { // "..."
		return err
	}
	if p.lex.kind == tokName && p.lex.text != "on" { // fragment spread
		sel.spreads = append(sel.spreads, p.lex.text)
		if err := p.advance(); err != nil {
			return err
		}
		return p.directives()
	}
	if p.lex.kind == tokName { // inline fragment with a type condition
		if err := p.advance(); err != nil {
			return err
		}
		if _, err := p.name(); err != nil {
			return err
		}
	}
	if err := p.directives(); err != nil {
		return err
	}
	return p.selectionSet(sel, depth+1)
}

func (p *gqlParser) directives() error {
	for p.isPunct("@") {
		if err := p.advance(); err != nil {
			return err
		}
		if _, err := p.name(); err != nil {
			return err
		}
		if p.isPunct("(") {
			if err := p.skipBalanced(); err != nil {
				return err
			}
		}
	}
	return nil
}

// skipBalanced skips from an opening bracket to its matching closer,
// checking that bracket kinds pair up.
func (p *gqlParser) skipBalanced() error {
	var stack []byte
	for {
		if p.lex.kind == tokEOF {
			return p.errorf("unbalanced brackets")
		}
		if p.lex.kind == tokPunct && len(p.lex.text) == 1 {
			switch c := p.lex.text[0]; c {
			case '(', '[', '{':
				if len(stack) == maxGQLNesting {
					return p.errorf("nested too deeply")
				}
				stack = append(stack, c)
			case ')', ']', '}':
				if len(stack) == 0 || stack[len(stack)-1] != openerOf(c) {
					return p.errorf("unbalanced brackets")
				}
				stack = stack[:len(stack)-1]
			}
		}
		if err := p.advance(); err != nil {
			return err
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

func openerOf(c byte) byte {
	switch c {
	case ')':
		return '('
	case ']':
		return '['
	}
	return '{'
}
