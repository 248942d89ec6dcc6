package policies

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Case is one test case of a cases file: an input and the decision expected
// for it.
type Case struct {
	Name  string
	File  string
	Line  int
	Input Input

	Expect Effect
	Rule   string // optional: the deciding rule, as "rule" or "policy/rule"
	Reason string // optional: the reason code
}

// LoadCases reads a cases file. now supplies the time fields a case does not
// set.
func LoadCases(path string, now time.Time) ([]Case, error) {
	src, err := readLimited(path)
	if err != nil {
		return nil, &LoadError{File: path, Msg: "reading cases file: " + err.Error(), Err: err}
	}
	return ParseCases(path, src, now)
}

// ParseCases decodes a cases file held in memory; name is used in messages.
// Like Load, it reports every problem at once.
func ParseCases(name string, src []byte, now time.Time) (cases []Case, err error) {
	defer recoverLoad(&cases, &err)
	d := &decoder{problems: problems{file: name}}
	var out []Case
	if len(src) > maxFileSize {
		return nil, &LoadError{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileSize)}
	}
	if root := d.parseDocument(src); root != nil {
		if top := d.mapping(root, "", "version", "cases"); top != nil {
			if v, ok := top["version"]; ok {
				d.version(root, v)
			}
			if n, ok := top["cases"]; !ok {
				d.at(root, "cases", "add a cases: list", "missing required key")
			} else {
				for i, cn := range d.sequence(n, "cases", true) {
					if c, ok := d.testCase(cn, index("cases", i), now); ok {
						out = append(out, c)
					}
				}
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.sorted()...)
	}
	return out, nil
}

func (d *decoder) testCase(n *yaml.Node, path string, now time.Time) (Case, bool) {
	m := d.mapping(n, path, "name", "input", "expect", "rule", "reason")
	if m == nil {
		return Case{}, false
	}
	before := len(d.errs)
	c := Case{File: d.file, Line: n.Line}
	for _, k := range []string{"name", "input", "expect"} {
		if _, ok := m[k]; !ok {
			d.at(n, join(path, k), "", "missing required key")
		}
	}
	if v, ok := m["name"]; ok {
		c.Name, _ = d.name(v, join(path, "name"), true)
	}
	if v, ok := m["input"]; ok {
		c.Input = d.caseInput(v, join(path, "input"), now)
	}
	if v, ok := m["expect"]; ok {
		if s, ok := d.str(v, join(path, "expect")); ok {
			var known bool
			if c.Expect, known = ParseEffect(s); !known {
				d.at(v, join(path, "expect"), didYouMean(s, effectWords, effectAliases), "unknown effect %q", s)
			}
		}
	}
	if v, ok := m["rule"]; ok {
		c.Rule, _ = d.str(v, join(path, "rule"))
	}
	if v, ok := m["reason"]; ok {
		reasons := []string{ReasonPolicyDeny, ReasonDefaultDeny, ReasonPolicyError}
		if c.Reason, _ = d.str(v, join(path, "reason")); c.Reason != "" && !slices.Contains(reasons, c.Reason) {
			d.at(v, join(path, "reason"), "use "+oneOf(reasons), "unknown reason %q", c.Reason)
		}
	}
	return c, len(d.errs) == before
}

// caseInput decodes a case's input mapping.
func (d *decoder) caseInput(n *yaml.Node, path string, now time.Time) Input {
	m := d.mapping(n, path, "agent", "connector", "action", "method", "host", "path", "params", "time")
	if m == nil {
		return Input{}
	}
	var in Input
	for key, dst := range map[string]*string{"agent": &in.Agent, "connector": &in.Connector,
		"action": &in.Action, "method": &in.Method, "host": &in.Host, "path": &in.Path} {
		if v, ok := m[key]; ok {
			*dst, _ = d.str(v, join(path, key))
		}
	}
	if v, ok := m["params"]; ok && d.kind(v, join(path, "params"), yaml.MappingNode) {
		if p, ok := d.anyValue(v, join(path, "params"), 0).(map[string]any); ok {
			in.Params = p
		}
	}
	in.Time = now.UTC()
	if v, ok := m["time"]; ok {
		in.Time = d.caseTime(v, join(path, "time"), in.Time)
	}
	return in
}

// caseTime decodes a case's time: {hour, weekday} and applies it to now.
func (d *decoder) caseTime(n *yaml.Node, path string, now time.Time) time.Time {
	m := d.mapping(n, path, "hour", "weekday")
	if m == nil {
		return now
	}
	hour, weekday := -1, ""
	if v, ok := m["weekday"]; ok {
		if s, ok := d.str(v, join(path, "weekday")); ok {
			if !slices.Contains(weekdays, s) {
				d.at(v, join(path, "weekday"), "weekdays are mon tue wed thu fri sat sun", "unknown weekday %q", s)
			}
			weekday = s
		}
	}
	if v, ok := m["hour"]; ok {
		h, isNum := d.anyValue(v, join(path, "hour"), 0).(float64)
		if !isNum || h < 0 || h > 23 || h != math.Trunc(h) {
			d.at(v, join(path, "hour"), "hours are whole numbers 0 to 23, in UTC", "invalid hour %q", v.Value)
		} else {
			hour = int(h)
		}
	}
	t, err := RequestTime(now, hour, weekday)
	if err != nil {
		return now // already reported above
	}
	return t
}

// RequestTime returns now (in UTC) moved to a weekday and hour, the way test
// cases and explain set time.weekday and time.hour: the weekday moves the
// date forward to that day (today if it matches), the hour replaces the
// hour (minutes and seconds become zero). hour -1 and weekday "" keep now's.
func RequestTime(now time.Time, hour int, weekday string) (time.Time, error) {
	t := now.UTC()
	if weekday != "" {
		day := slices.Index(weekdays, weekday)
		if day < 0 {
			return t, fmt.Errorf("unknown weekday %q (weekdays are mon tue wed thu fri sat sun)", weekday)
		}
		t = t.AddDate(0, 0, (day-int(t.Weekday())+7)%7)
	}
	if hour != -1 {
		if hour < 0 || hour > 23 {
			return t, fmt.Errorf("hour %d is out of range (hours are 0 to 23, in UTC)", hour)
		}
		t = time.Date(t.Year(), t.Month(), t.Day(), hour, 0, 0, 0, time.UTC)
	}
	return t, nil
}

// ParseValue reads a params value written in YAML (a scalar such as 42,
// true or main, or a flow list or mapping), with the rules of cases files:
// numbers become float64, dates stay strings, aliases are refused.
func ParseValue(text string) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		return nil, fmt.Errorf("parsing value %q: %w", text, err)
	}
	if len(n.Content) == 0 {
		return "", nil // an empty value is the empty string
	}
	d := &decoder{problems: problems{file: "value"}}
	v := d.anyValue(n.Content[0], "", 0)
	if len(d.errs) > 0 {
		return nil, fmt.Errorf("parsing value %q: %w", text, errors.Join(d.errs...))
	}
	return v, nil
}

// anyValue converts a YAML node to a Params value.
func (d *decoder) anyValue(n *yaml.Node, path string, depth int) any {
	if depth > maxParamDepth {
		d.at(n, path, "", "nested deeper than %d levels", maxParamDepth)
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, ok := d.str(n.Content[i], path)
			if ok {
				out[k] = d.anyValue(n.Content[i+1], join(path, k), depth+1)
			}
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			out[i] = d.anyValue(e, index(path, i), depth+1)
		}
		return out
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return nil
		}
		if v, ok := d.scalar(n, path); ok {
			switch v.kind {
			case kindNumber:
				return v.n
			case kindBool:
				return v.b
			}
			return v.s
		}
		return nil
	}
	d.kind(n, path, yaml.ScalarNode) // records aliases
	return nil
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Case Case
	Got  Decision
}

// Passed reports whether the decision met every expectation of the case.
func (r CaseResult) Passed() bool {
	c, got := r.Case, r.Got
	if got.Effect != c.Expect || (c.Reason != "" && got.Reason != c.Reason) {
		return false
	}
	return c.Rule == "" || (got.Rule != nil && (got.Rule.Rule == c.Rule || got.Rule.String() == c.Rule))
}

// RunCases evaluates every case against the Set, in order.
func (s *Set) RunCases(ctx context.Context, cases []Case) []CaseResult {
	out := make([]CaseResult, len(cases))
	for i, c := range cases {
		out[i] = CaseResult{Case: c, Got: s.Evaluate(ctx, c.Input)}
	}
	return out
}

// WriteCaseReport writes one line per case and, for each failure, what was
// expected and what happened. It returns the number of failed cases.
func WriteCaseReport(w io.Writer, results []CaseResult) (int, error) {
	var b strings.Builder
	failed := 0
	for _, r := range results {
		if r.Passed() {
			fmt.Fprintf(&b, "ok   %s\n", r.Case.Name)
			continue
		}
		failed++
		fmt.Fprintf(&b, "FAIL %s (%s:%d)\n", r.Case.Name, r.Case.File, r.Case.Line)
		fmt.Fprintf(&b, "     expected: %s\n", describeExpected(r.Case))
		fmt.Fprintf(&b, "     got:      %s\n", DescribeDecision(r.Got))
		for _, m := range r.Got.Matched {
			fmt.Fprintf(&b, "     matched:  %s (%s)\n", m, m.Location())
		}
	}
	fmt.Fprintf(&b, "%d cases: %d passed, %d failed\n", len(results), len(results)-failed, failed)
	_, err := io.WriteString(w, b.String())
	return failed, err
}

func describeExpected(c Case) string {
	s := c.Expect.String()
	if c.Rule != "" {
		s += " by " + c.Rule
	}
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// DescribeDecision renders a decision for people: "deny by policy/rule
// (policy_deny)", "deny (default_deny)", "allow by policy/rule".
func DescribeDecision(d Decision) string {
	s := d.Effect.String()
	if d.Rule != nil {
		s += " by " + d.Rule.String()
	}
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	if d.Err != nil {
		s += ": " + d.Err.Error()
	}
	return s
}
