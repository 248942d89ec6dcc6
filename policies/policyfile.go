package policies

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// decodePolicyFile decodes and validates one policy file. It returns the
// file's policies, or every problem found in it.
func decodePolicyFile(file string, src []byte) ([]*policy, []error) {
	d := &decoder{problems: problems{file: file}}
	root := d.parseDocument(src)
	if root == nil {
		return nil, d.errs
	}
	top := d.mapping(root, "", "version", "policies")
	if top == nil {
		return nil, d.errs
	}
	d.version(root, top["version"])

	var out []*policy
	if n, ok := top["policies"]; !ok {
		d.at(root, "policies", "add a policies: list", "missing required key")
	} else {
		names := map[string]int{}
		for i, pn := range d.sequence(n, "policies", true) {
			if p := d.policy(pn, index("policies", i), names); p != nil {
				out = append(out, p)
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	return out, nil
}

// version checks version: 1, the only format this Bridle reads.
func (d *decoder) version(root, n *yaml.Node) {
	if n == nil {
		d.at(root, "version", "add version: 1", "missing required key")
		return
	}
	if !d.kind(n, "version", yaml.ScalarNode) {
		return
	}
	if n.ShortTag() != "!!int" {
		d.at(n, "version", "write version: 1", "must be a number, not %s", tagName(n.ShortTag()))
	} else if n.Value != "1" {
		d.at(n, "version", "this Bridle reads version: 1", "unsupported version %q", n.Value)
	}
}

// policy decodes one entry of policies. names maps policy names already seen
// in this file to their lines.
func (d *decoder) policy(n *yaml.Node, path string, names map[string]int) *policy {
	m := d.mapping(n, path, "name", "description", "agents", "rules")
	if m == nil {
		return nil
	}
	p := &policy{file: d.file, line: n.Line, col: n.Column}
	ok := true
	if v, has := m["name"]; !has {
		d.at(n, join(path, "name"), "", "missing required key")
		ok = false
	} else if p.name, ok = d.name(v, join(path, "name"), false); ok {
		if first, dup := names[p.name]; dup {
			d.at(v, join(path, "name"), "", "duplicate policy name %q (first at line %d)", p.name, first)
			ok = false
		} else {
			names[p.name] = v.Line
		}
	}
	if v, has := m["description"]; has {
		d.str(v, join(path, "description"))
	}
	if v, has := m["agents"]; has {
		p.agents = d.agents(v, join(path, "agents"))
	}
	v, has := m["rules"]
	if !has {
		d.at(n, join(path, "rules"), "add at least one rule", "missing required key")
		return nil
	}
	ruleNames := map[string]int{}
	for i, rn := range d.sequence(v, join(path, "rules"), true) {
		if r := d.rule(rn, index(join(path, "rules"), i), ruleNames); r != nil {
			r.policy = p
			r.ref.Policy = p.name
			p.rules = append(p.rules, r)
		}
	}
	if !ok {
		return nil
	}
	return p
}

// agents decodes a policy's agents: scope, a non-empty list of globs.
func (d *decoder) agents(n *yaml.Node, path string) []string {
	items := d.sequence(n, path, true)
	out := make([]string, 0, len(items))
	for i, an := range items {
		p := index(path, i)
		s, ok := d.str(an, p)
		switch {
		case !ok:
		case s == "":
			d.at(an, p, `use "*" for every agent`, "empty agent pattern")
		case hasControl(s):
			d.at(an, p, "", "must not contain control characters")
		case checkGlob(s) != "":
			d.at(an, p, "", "%s", checkGlob(s))
		default:
			out = append(out, s)
		}
	}
	return out
}

var effectWords = []string{"allow", "deny", "require_approval"}

var effectAliases = map[string]string{
	"permit": "allow", "approve": "require_approval", "approval": "require_approval",
	"ask": "require_approval", "forbid": "deny", "block": "deny", "reject": "deny",
}

// rule decodes one rule. names maps rule names already seen in the policy to
// their lines.
func (d *decoder) rule(n *yaml.Node, path string, names map[string]int) *rule {
	m := d.mapping(n, path, "name", "description", "effect", "actions", "when")
	if m == nil {
		return nil
	}
	r := &rule{ref: RuleRef{File: d.file, Line: n.Line}}
	before := len(d.errs)
	if v, has := m["name"]; !has {
		d.at(n, join(path, "name"), "", "missing required key")
	} else if name, ok := d.name(v, join(path, "name"), true); ok {
		if first, dup := names[name]; dup {
			d.at(v, join(path, "name"), "", "duplicate rule name %q (first at line %d)", name, first)
		} else {
			names[name] = v.Line
		}
		r.ref.Rule = name
	}
	if v, has := m["description"]; has {
		d.str(v, join(path, "description"))
	}
	if v, has := m["effect"]; !has {
		d.at(n, join(path, "effect"), oneOf(effectWords), "missing required key")
	} else if s, ok := d.str(v, join(path, "effect")); ok {
		e, known := ParseEffect(s)
		if !known {
			hint := didYouMean(s, effectWords, effectAliases)
			if hint == "" {
				hint = "use " + oneOf(effectWords)
			}
			d.at(v, join(path, "effect"), hint, "unknown effect %q", s)
		}
		r.effect = e
	}
	if v, has := m["actions"]; !has {
		d.at(n, join(path, "actions"), "list action globs such as github.pr.merge or github.*.get", "missing required key")
	} else {
		r.actions = d.actions(v, join(path, "actions"))
	}
	if v, has := m["when"]; has {
		r.when = d.condition(v, join(path, "when"), "when", 0)
	}
	if len(d.errs) > before {
		return nil
	}
	return r
}

// actions decodes a rule's actions: list.
func (d *decoder) actions(n *yaml.Node, path string) []string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		d.at(n, path, fmt.Sprintf("write [%s]", n.Value), "must be a list")
		return nil
	}
	items := d.sequence(n, path, true)
	out := make([]string, 0, len(items))
	for i, an := range items {
		s, ok := d.str(an, index(path, i))
		if !ok {
			continue
		}
		if msg, hint := checkActionGlob(s); msg != "" {
			d.at(an, index(path, i), hint, "%s", msg)
			continue
		}
		out = append(out, s)
	}
	return out
}
