package connectors

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RouteSpec is one row of a route table, as written in bridle.yaml.
type RouteSpec struct {
	Method string   // HTTP method, e.g. "POST"
	Path   string   // template, e.g. "/v1/customers/{id}/delete"; see the package doc
	Action string   // action type, e.g. "crm.customer.delete"
	Query  []string // query fields copied into params
	Body   []string // body fields copied into params
}

// maxRouteFields bounds the query or body fields of one route (a bit set
// tracks which were seen).
const maxRouteFields = 64

type segKind uint8

const (
	segLit  segKind = iota // literal segment
	segVar                 // {name}: one non-empty segment
	segInt                 // {name:int}: 1–15 decimal digits
	segTail                // {name...}: one or more non-empty segments, last only
)

type segment struct {
	kind  segKind
	lit   string // segLit
	param string // other kinds
}

// route is a compiled RouteSpec.
type route struct {
	method  string
	segs    []segment
	lits    []int // indexes of literal segments, last first: the later ones tell routes apart
	action  string
	query   []field
	body    []field
	json    *jsonNode // body selectors as a tree, for JSON bodies
	graphql bool      // body is a GraphQL request (action named from it)
}

// needsBody reports whether the route reads the request body.
func (r *route) needsBody() bool { return r.graphql || len(r.body) > 0 }

// compileRoute checks and compiles one RouteSpec. Errors carry the YAML key
// of the offending part ("path: ...", "body[1]: ...").
func compileRoute(spec RouteSpec, prefix string) (*route, []error) {
	var errs []error
	r := &route{method: strings.ToUpper(spec.Method), action: spec.Action}
	if !isMethod(r.method) {
		errs = append(errs, fmt.Errorf("method: %q is not an HTTP method name", spec.Method))
	}
	segs, params, err := compileTemplate(spec.Path)
	if err != nil {
		errs = append(errs, fmt.Errorf("path: %w", err))
	}
	r.segs = segs
	r.lits = literalIndexes(segs)
	if err := checkActionName(spec.Action, prefix); err != nil {
		errs = append(errs, fmt.Errorf("action: %w", err))
	}
	pathParams := make(map[string]bool, len(params))
	for _, p := range params {
		pathParams[p] = true
	}
	// A param may be both a query and a body field (Slack takes arguments
	// from either); Parse refuses a request that gives both.
	addFields := func(key string, list []string, nested bool) []field {
		out := make([]field, 0, len(list))
		seen := make(map[string]bool, len(list))
		if len(list) > maxRouteFields {
			errs = append(errs, fmt.Errorf("%s: more than %d fields", key, maxRouteFields))
			return nil
		}
		for k, s := range list {
			f, err := parseField(s, nested)
			if err == nil && (seen[f.param] || pathParams[f.param]) {
				err = fmt.Errorf("param %q is already taken by another field of this route", f.param)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", key, k, err))
				continue
			}
			seen[f.param] = true
			out = append(out, f)
		}
		return out
	}
	r.query = addFields("query", spec.Query, false)
	r.body = addFields("body", spec.Body, true)
	if len(r.body) > 0 {
		n, err := buildJSONTree(r.body)
		if err != nil {
			errs = append(errs, fmt.Errorf("body: %w", err))
		}
		r.json = n
	}
	return r, errs
}

func isMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// compileTemplate parses a path template into segments and returns the
// param names it captures.
func compileTemplate(tpl string) ([]segment, []string, error) {
	if !strings.HasPrefix(tpl, "/") {
		return nil, nil, errors.New("must start with /")
	}
	if strings.ContainsAny(tpl, "?#%\\") {
		return nil, nil, errors.New("must not contain '?', '#', '%' or '\\' (write literals decoded, without a query)")
	}
	if tpl == "/" {
		return nil, nil, nil
	}
	parts := strings.Split(tpl[1:], "/")
	segs := make([]segment, 0, len(parts))
	var names []string
	for i, p := range parts {
		switch {
		case p == "":
			return nil, nil, errors.New("empty segment (double or trailing slash)")
		case p == "." || p == "..":
			return nil, nil, errors.New("dot segment")
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			s, err := compileVar(p[1 : len(p)-1])
			if err != nil {
				return nil, nil, err
			}
			if s.kind == segTail && i != len(parts)-1 {
				return nil, nil, fmt.Errorf("{%s...} must be the last segment", s.param)
			}
			for _, n := range names {
				if n == s.param {
					return nil, nil, fmt.Errorf("param %q captured twice", n)
				}
			}
			names = append(names, s.param)
			segs = append(segs, s)
		case strings.ContainsAny(p, "{}"):
			return nil, nil, fmt.Errorf("segment %q: a variable must be a whole segment", p)
		default:
			segs = append(segs, segment{kind: segLit, lit: p})
		}
	}
	return segs, names, nil
}

func compileVar(v string) (segment, error) {
	s := segment{kind: segVar, param: v}
	switch {
	case strings.HasSuffix(v, "..."):
		s.kind, s.param = segTail, strings.TrimSuffix(v, "...")
	case strings.HasSuffix(v, ":int"):
		s.kind, s.param = segInt, strings.TrimSuffix(v, ":int")
	}
	if !isParamName(s.param) {
		return segment{}, fmt.Errorf("variable {%s}: name must be lower-case letters, digits and '_'", v)
	}
	return s, nil
}

func isParamName(s string) bool {
	if s == "" || len(s) > 64 || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// checkActionName enforces DESIGN §3 naming for route actions:
// <prefix>.<resource>.<verb>[...], lower-case snake_case parts. Built-in
// tables are held to the same rule; "unknown" is reserved for unmatched
// requests so no route can impersonate it.
func checkActionName(action, prefix string) error {
	rest, ok := strings.CutPrefix(action, prefix+".")
	if !ok {
		return fmt.Errorf("%q must start with %q", action, prefix+".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 {
		return fmt.Errorf("%q must be %s.<resource>.<verb>", action, prefix)
	}
	if parts[0] == "unknown" {
		return fmt.Errorf("%q: %s.unknown is reserved for unmatched requests", action, prefix)
	}
	for _, p := range parts {
		if !isParamName(p) {
			return fmt.Errorf("%q: each part must be lower-case snake_case", action)
		}
	}
	if len(action) > 128 {
		return fmt.Errorf("%q is longer than 128 characters", action)
	}
	return nil
}

// match reports whether decoded segments fit the route's template.
func (r *route) match(segs []string) bool {
	n := len(r.segs)
	if n > 0 && r.segs[n-1].kind == segTail {
		if len(segs) < n {
			return false
		}
	} else if len(segs) != n {
		return false
	}
	for _, i := range r.lits {
		if segs[i] != r.segs[i].lit {
			return false
		}
	}
	for i, s := range r.segs {
		switch s.kind {
		case segVar:
			if segs[i] == "" {
				return false
			}
		case segInt:
			if !isSmallInt(segs[i]) {
				return false
			}
		case segTail:
			for _, t := range segs[i:] {
				if t == "" {
					return false
				}
			}
		}
	}
	return true
}

// literalIndexes lists the literal segments of a template, last first.
func literalIndexes(segs []segment) []int {
	var out []int
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].kind == segLit {
			out = append(out, i)
		}
	}
	return out
}

// capture copies the matched segments into params.
func (r *route) capture(segs []string, params map[string]any) {
	for i, s := range r.segs {
		switch s.kind {
		case segVar:
			params[s.param] = segs[i]
		case segInt:
			n, _ := strconv.ParseUint(segs[i], 10, 64)
			params[s.param] = float64(n)
		case segTail:
			params[s.param] = strings.Join(segs[i:], "/")
		}
	}
}

// isSmallInt accepts 1–15 decimal digits: exact as a float64, and servers
// that read "007" read 7, as ParseUint does.
func isSmallInt(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
