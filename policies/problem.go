package policies

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// LoadError is one problem found while loading a policy or cases file.
// Load returns every problem of a run joined with errors.Join, each a
// *LoadError, so callers and editors can show them all at once.
type LoadError struct {
	File      string
	Line, Col int    // 0 when unknown
	Path      string // YAML path, e.g. policies[0].rules[3].when.op
	Msg       string
	Hint      string // e.g. "did you mean eq?"
	Err       error  // underlying error, if any
}

// Error formats the problem as "file:line:col: path: message (hint)".
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

// problems collects the LoadErrors of one file.
type problems struct {
	file string
	errs []error
}

// at records a problem located at node n.
func (p *problems) at(n *yaml.Node, path, hint, format string, args ...any) {
	e := &LoadError{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// sorted returns the problems in file order.
func (p *problems) sorted() []error {
	slices.SortStableFunc(p.errs, func(a, b error) int {
		ea, _ := a.(*LoadError)
		eb, _ := b.(*LoadError)
		if ea == nil || eb == nil {
			return 0
		}
		return cmp.Or(cmp.Compare(ea.Line, eb.Line), cmp.Compare(ea.Col, eb.Col))
	})
	return p.errs
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax records a YAML parse error, keeping its line when the parser gave
// one.
func (p *problems) syntax(err error) {
	e := &LoadError{File: p.file, Msg: "invalid YAML: " + err.Error(), Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "invalid YAML: " + m[2]
	}
	p.errs = append(p.errs, e)
}

// didYouMean returns a hint naming the candidate closest to got, or "" when
// none is close.
func didYouMean(got string, candidates []string, aliases map[string]string) string {
	if to, ok := aliases[strings.ToLower(got)]; ok {
		return "did you mean " + to + "?"
	}
	limit := 2
	if len(got) <= 3 {
		limit = 1
	}
	best, bestDist := "", limit+1
	lower := strings.ToLower(got)
	for _, c := range candidates {
		if p := commonPrefix(lower, c); p >= 4 && p >= len(lower)-2 {
			return "did you mean " + c + "?"
		}
		if d := levenshtein.ComputeDistance(lower, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return "did you mean " + best + "?"
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// oneOf renders a list of allowed words for hints: "allow, deny or require_approval".
func oneOf(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
