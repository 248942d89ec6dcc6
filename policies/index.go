package policies

import (
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// actionIndex finds the rules whose actions: globs can match an action
// without testing every rule. It is a trie over the literal leading segments
// of each pattern: a pattern without wildcards ends at its node's exact list;
// a pattern with one is parked at the node before its first wildcard segment
// and fully glob-matched at lookup. The index may only ever narrow the rules
// Rego evaluates; each Rego rule still checks its own actions.
type actionIndex struct {
	root *trieNode
}

type trieNode struct {
	children map[string]*trieNode
	exact    []int // ordinals of rules with a wildcard-free pattern ending here
	globs    []indexedGlob
}

type indexedGlob struct {
	pattern string
	ord     int
}

func newActionIndex(rules []*rule) *actionIndex {
	ix := &actionIndex{root: &trieNode{}}
	for _, r := range rules {
		for _, p := range r.actions {
			ix.insert(p, r.ord)
		}
	}
	return ix
}

func (ix *actionIndex) insert(pattern string, ord int) {
	n := ix.root
	for _, seg := range strings.Split(pattern, ".") {
		if hasGlob(seg) {
			n.globs = append(n.globs, indexedGlob{pattern, ord})
			return
		}
		next := n.children[seg]
		if next == nil {
			if n.children == nil {
				n.children = map[string]*trieNode{}
			}
			next = &trieNode{}
			n.children[seg] = next
		}
		n = next
	}
	n.exact = append(n.exact, ord)
}

// candidates returns the ordinals of the rules whose actions match action,
// sorted (file order) and without duplicates.
func (ix *actionIndex) candidates(action string) []int {
	if action == "" {
		return nil // missing: no rule can match
	}
	var out []int
	n := ix.root
	rest := action
	for {
		for _, g := range n.globs {
			if globMatch(g.pattern, action, actionSep) {
				out = append(out, g.ord)
			}
		}
		seg, tail, more := strings.Cut(rest, ".")
		if n = n.children[seg]; n == nil {
			break
		}
		if !more {
			out = append(out, n.exact...)
			for _, g := range n.globs {
				if globMatch(g.pattern, action, actionSep) {
					out = append(out, g.ord)
				}
			}
			break
		}
		rest = tail
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// plan is what evaluating one action needs, computed once per action string:
// the candidate rules and the input fields they can read.
type plan struct {
	candidates []int
	candTerm   *ast.Term // [[policy, rule], ...] for input.candidates

	// fields are the input paths the candidates read, sorted, none a prefix
	// of another. Rego sees only these, and the cache key holds exactly
	// these, which is why a cached decision is a function of its key.
	fields [][]string

	// query, when not nil, is the candidates' own compiled Rego bodies
	// inlined (see inlineQuery), hit[i] the variable that holds candidate
	// i's effect when its body holds.
	query ast.Body
	hit   []ast.Var
}

// plan returns the cached plan for action, building it on first use.
func (s *Set) plan(action string) *plan {
	if p, ok := s.plans.get(action); ok {
		return p
	}
	p := &plan{candidates: s.index.candidates(action)}
	ids := make([]*ast.Term, len(p.candidates))
	reads := [][]string{{"action"}}
	for i, ord := range p.candidates {
		r := s.rules[ord]
		ids[i] = ast.ArrayTerm(ast.StringTerm(r.ref.Policy), ast.StringTerm(r.ref.Rule))
		if r.policy.agents != nil {
			reads = append(reads, []string{"agent"})
		}
		if r.when != nil {
			reads = r.when.reads(reads)
		}
	}
	p.candTerm = ast.ArrayTerm(ids...)
	p.fields = minimalPaths(reads)
	if len(p.candidates) > 0 { // none: Evaluate denies by default, no query
		var err error
		if p.query, p.hit, err = s.inlineQuery(p.candidates); err != nil {
			s.genericPlans.Add(1) // the generic query decides instead: same semantics
		}
	}
	s.plans.put(action, p)
	return p
}

// reads appends the input paths the condition reads.
func (c *cond) reads(out [][]string) [][]string {
	for _, k := range c.all {
		out = k.reads(out)
	}
	for _, k := range c.any {
		out = k.reads(out)
	}
	if c.leaf() {
		out = append(out, c.field.path)
	}
	return out
}

// minimalPaths sorts paths and drops duplicates and any path that has
// another as a prefix (reading params.a already covers params.a.b).
func minimalPaths(paths [][]string) [][]string {
	slices.SortFunc(paths, slices.Compare[[]string])
	var out [][]string
	for _, p := range paths {
		if len(out) > 0 && hasPrefixPath(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func hasPrefixPath(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}
