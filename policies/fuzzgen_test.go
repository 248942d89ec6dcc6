package policies

import (
	"fmt"
	"strings"
	"time"
)

// gen turns fuzz bytes into policy files and inputs. It reads one byte per
// choice and yields zeros once the data runs out, so every byte string is a
// valid, deterministic program.
type gen struct {
	data []byte
}

func (g *gen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

// n returns a number in [0, k).
func (g *gen) n(k int) int { return int(g.byte()) % k }

func pick[T any](g *gen, pool []T) T { return pool[g.n(len(pool))] }

// str returns a string from the pool, or now and then raw fuzz bytes.
func (g *gen) str(pool []string) string {
	if g.n(8) != 0 {
		return pick(g, pool)
	}
	n := g.n(12)
	var b []byte
	for range n {
		b = append(b, g.byte())
	}
	return strings.ToValidUTF8(string(b), "?")
}

var (
	genStrings   = []string{"", "a", "ab", "a/b", "a/b/c", "x*", "a.b", "GET", "\n", "é", "a b", "{a}", "[b]", "?", `"`, `\`, "main", "a/", "/a"}
	genGlobs     = []string{"a", "*", "**", "a*", "*b", "a/*", "a/**", "**/c", "a/*/c", "a/**/c", "*/*", "[b]", "{a}", `\*`, "", "é*"}
	genRegexes   = []string{"^a", "b$", "a.c", "(?i)AB", "^$", "x|y", `\d+`, "[/]", "^a/.*$", "\n", ".", `^\{a\}$`}
	genNumbers   = []float64{-1, 0, 0.5, 1, 2, 9, 17, 23, 100, 1e6, -0.25}
	genActionPat = []string{"a.b.c", "a.*.c", "a.**", "a.b.*", "*.b.c", "**", "a.b*.c", "a.**.c", "b.x.y", "*", "a.*", "*.*.*"}
	genAgentPat  = []string{"*", "ci-*", "bot", "**", "a*b", "x/y*", "[x]", "ci-1"}
	genActions   = []string{"a.b.c", "a.x.c", "a.b", "a", "a.b.c.d", "b.x.y", "a.bz.c", "a..c", "", "x.b.c", "a.b.x.c"}
	genAgents    = []string{"", "ci-1", "bot", "a/b", "x/y1", "[x]", "ab", "axb", "ci-"}
	genOps       = []string{"eq", "neq", "in", "not_in", "glob", "regex", "prefix", "suffix", "contains", "gt", "gte", "lt", "lte", "exists"}
	genFields    = []string{"agent", "method", "path", "host", "params.s", "params.n", "params.b", "params.l", "params.m.k", "params.m", "time.hour", "time.weekday"}
	genEffects   = []string{"allow", "deny", "require_approval"}
)

// policyFile renders a random, valid policy file.
func (g *gen) policyFile() string {
	var b strings.Builder
	b.WriteString("version: 1\npolicies:\n")
	for p := range 1 + g.n(3) {
		fmt.Fprintf(&b, "  - name: p%d\n", p)
		if g.n(3) == 0 {
			b.WriteString("    agents: [")
			for i := range 1 + g.n(2) {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(yamlString(pick(g, genAgentPat)))
			}
			b.WriteString("]\n")
		}
		b.WriteString("    rules:\n")
		for r := range 1 + g.n(4) {
			fmt.Fprintf(&b, "      - name: r%d\n        effect: %s\n        actions: [", r, pick(g, genEffects))
			for i := range 1 + g.n(2) {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(yamlString(pick(g, genActionPat)))
			}
			b.WriteString("]\n")
			if g.n(3) != 0 {
				b.WriteString("        when: " + g.cond(0) + "\n")
			}
		}
	}
	return b.String()
}

// cond renders a random condition in YAML flow style.
func (g *gen) cond(depth int) string {
	if depth < 3 && g.n(4) == 0 {
		key := pick(g, []string{"all", "any"})
		var kids []string
		for range 1 + g.n(3) {
			kids = append(kids, g.cond(depth+1))
		}
		return fmt.Sprintf("{%s: [%s]}", key, strings.Join(kids, ", "))
	}
	field := pick(g, genFields)
	op := pick(g, genOps)
	numeric := op == "gt" || op == "gte" || op == "lt" || op == "lte"
	if numeric && !strings.HasPrefix(field, "params.") && field != "time.hour" {
		op = "prefix" // string fields have no order
	}
	var value string
	switch {
	case op == "exists":
		value = pick(g, []string{"true", "false"})
	case field == "time.weekday":
		op = pick(g, []string{"eq", "neq", "in", "not_in"})
		value = g.valueFor(op, func() string { return pick(g, weekdays) })
	case field == "time.hour":
		op = pick(g, []string{"eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte"})
		value = g.valueFor(op, func() string { return formatNumber(float64(g.n(24))) })
	case op == "gt" || op == "gte" || op == "lt" || op == "lte":
		value = formatNumber(pick(g, genNumbers))
	case op == "glob":
		value = yamlString(g.str(genGlobs))
	case op == "regex":
		value = yamlString(pick(g, genRegexes))
	case op == "prefix" || op == "suffix":
		value = yamlString(g.str(genStrings))
	case !strings.HasPrefix(field, "params."):
		value = g.valueFor(op, func() string { return yamlString(g.str(genStrings)) })
	default:
		kind := g.n(3)
		value = g.valueFor(op, func() string { return g.scalarOfKind(kind) })
	}
	return fmt.Sprintf("{field: %s, op: %s, value: %s}", field, op, value)
}

// valueFor renders one value, or a list of values for in and not_in.
func (g *gen) valueFor(op string, one func() string) string {
	if op != "in" && op != "not_in" {
		return one()
	}
	var vs []string
	for range 1 + g.n(3) {
		vs = append(vs, one())
	}
	return "[" + strings.Join(vs, ", ") + "]"
}

func (g *gen) scalarOfKind(kind int) string {
	switch kind {
	case 0:
		return yamlString(g.str(genStrings))
	case 1:
		return formatNumber(pick(g, genNumbers))
	}
	return pick(g, []string{"true", "false"})
}

// input returns a random input.
func (g *gen) input() Input {
	in := Input{
		Action: g.str(genActions),
		Agent:  g.str(genAgents),
		Method: pick(g, []string{"", "GET", "POST", "get"}),
		Path:   g.str(genStrings),
		Host:   g.str(genStrings),
		Time:   time.Date(2026, 3, 1+g.n(7), g.n(24), 30, 0, 0, time.UTC),
	}
	if g.n(4) != 0 {
		in.Params = map[string]any{}
		for _, k := range []string{"s", "n", "b", "l", "m"} {
			if g.n(3) != 0 {
				in.Params[k] = g.paramValue(0)
			}
		}
	}
	return in
}

func (g *gen) paramValue(depth int) any {
	switch g.n(7) {
	case 0, 1:
		return g.str(genStrings)
	case 2:
		return pick(g, genNumbers)
	case 3:
		return g.n(2) == 0
	case 4:
		return nil
	case 5:
		if depth < 2 {
			var l []any
			for range g.n(3) {
				l = append(l, g.paramValue(depth+1))
			}
			return l
		}
	}
	if depth < 2 {
		return map[string]any{"k": g.paramValue(depth + 1)}
	}
	return int(g.n(30))
}

// yamlString writes s as a YAML double-quoted scalar, escaping everything
// YAML does not allow raw.
func yamlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == 0x2028 || r == 0x2029: // YAML line breaks
			fmt.Fprintf(&b, `\u%04X`, r)
		case r == 0x09 || (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && r != 0xfeff) || r > 0xffff:
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
