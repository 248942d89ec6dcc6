package policies

import (
	"encoding/json"
	"fmt"
	"strings"
)

// This file is a direct Go evaluator of the YAML semantics, written apart
// from the Rego translation. It never decides a request: explain uses it to
// say why a rule did not match, and the differential fuzz test checks that it
// and the compiled Rego agree on every generated rule and input.

// failure says why one leaf condition did not hold.
type failure struct {
	cond *cond
	why  string
}

// actionMatches reports whether the rule's actions: cover action. An empty
// action is missing, and a missing field never matches.
func (r *rule) actionMatches(action string) bool {
	if action == "" {
		return false
	}
	return matchesAny(r.actions, action, actionSep)
}

// admits reports whether the policy's agents: scope covers agent. A policy
// without agents: covers every request; one with agents: needs an agent.
func (p *policy) admits(agent string) bool {
	if p.agents == nil {
		return true
	}
	return agent != "" && matchesAny(p.agents, agent, pathSep)
}

// matchesAny reports whether s matches one of the globs.
func matchesAny(globs []string, s string, sep byte) bool {
	for _, g := range globs {
		if globMatch(g, s, sep) {
			return true
		}
	}
	return false
}

// holds evaluates a condition. When it does not hold, the failures say which
// leaves failed and why (for an any, the failures of every alternative).
func (c *cond) holds(f *facts) (bool, []failure, error) {
	switch {
	case c.all != nil:
		var fails []failure
		for _, k := range c.all {
			ok, kf, err := k.holds(f)
			if err != nil {
				return false, nil, err
			}
			if !ok {
				fails = append(fails, kf...)
			}
		}
		return len(fails) == 0, fails, nil
	case c.any != nil:
		var fails []failure
		for _, k := range c.any {
			ok, kf, err := k.holds(f)
			if err != nil {
				return false, nil, err
			}
			if ok {
				return true, nil, nil
			}
			fails = append(fails, kf...)
		}
		return false, fails, nil
	}
	v, present, err := f.get(c.field.path)
	if err != nil {
		return false, nil, err
	}
	if c.test(v, present) {
		return true, nil, nil
	}
	return false, []failure{{cond: c, why: c.describeMiss(v, present)}}, nil
}

// test applies the operator to a normalized field value.
func (c *cond) test(v any, present bool) bool {
	if c.op == opExists {
		return present == c.value.b
	}
	if !present {
		return false
	}
	s, isString := v.(string)
	n, isNumber := v.(float64)
	switch c.op {
	case opEq:
		return equalValue(v, c.value)
	case opNeq:
		return kindOf(v) == c.value.kind && !equalValue(v, c.value)
	case opIn, opNotIn:
		found := false
		for _, x := range c.list {
			found = found || equalValue(v, x)
		}
		if c.op == opIn {
			return found
		}
		return kindOf(v) == c.list[0].kind && !found
	case opGlob:
		return isString && globMatch(c.value.s, s, pathSep)
	case opRegex:
		return isString && c.re.MatchString(s)
	case opPrefix:
		return isString && strings.HasPrefix(s, c.value.s)
	case opSuffix:
		return isString && strings.HasSuffix(s, c.value.s)
	case opContains:
		if list, ok := v.([]any); ok {
			for _, x := range list {
				if equalValue(x, c.value) {
					return true
				}
			}
			return false
		}
		return isString && c.value.kind == kindString && strings.Contains(s, c.value.s)
	case opGt:
		return isNumber && n > c.value.n
	case opGte:
		return isNumber && n >= c.value.n
	case opLt:
		return isNumber && n < c.value.n
	case opLte:
		return isNumber && n <= c.value.n
	}
	return false
}

// describeMiss says what the field held when the condition failed.
func (c *cond) describeMiss(v any, present bool) string {
	if !present {
		return c.field.name + " is missing"
	}
	return fmt.Sprintf("%s is %s", c.field.name, show(v))
}

// String renders a leaf as written: `params.base eq "main"`.
func (c *cond) String() string {
	if c.list != nil {
		parts := make([]string, len(c.list))
		for i, v := range c.list {
			parts[i] = v.String()
		}
		return fmt.Sprintf("%s %s [%s]", c.field.name, c.op, strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%s %s %s", c.field.name, c.op, c.value)
}

// show renders a normalized value as JSON for messages.
func show(v any) string {
	if f, ok := v.(float64); ok {
		return formatNumber(f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// decideDirect decides in with the direct evaluator, applying the
// combination rule deny > require_approval > allow > default deny.
func (s *Set) decideDirect(in Input) (Decision, error) {
	f := newFacts(&in)
	var matched []*rule
	for _, r := range s.rules {
		if !r.actionMatches(f.fixed("action")) || !r.policy.admits(f.fixed("agent")) {
			continue
		}
		ok := true
		if r.when != nil {
			var err error
			if ok, _, err = r.when.holds(&f); err != nil {
				return Decision{}, err
			}
		}
		if ok {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		return defaultDeny, nil
	}
	d := Decision{Effect: Allow + 1}
	for _, r := range matched {
		d.Matched = append(d.Matched, r.ref)
		if r.effect < d.Effect {
			d.Effect, d.Rule = r.effect, &s.refs[r.ord]
		}
	}
	if d.Effect == Deny {
		d.Reason = ReasonPolicyDeny
	}
	return d, nil
}
