package policies

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxParamDepth bounds how deeply Input.Params may nest. Params come from
// parsed requests; the bound keeps conversion from recursing without limit.
const maxParamDepth = 32

// facts is an Input prepared for evaluation: time resolved, fields looked up
// by path with the package's normalization (empty fixed fields are missing,
// numbers are float64, strings are valid UTF-8).
type facts struct {
	in      *Input
	hour    int
	weekday string
}

func newFacts(in *Input) facts {
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	return facts{in: in, hour: t.Hour(), weekday: weekdays[t.Weekday()]}
}

// get returns the normalized value at path and whether it is present. It
// fails only on a Params value of a type the policy language cannot hold.
func (f *facts) get(path []string) (any, bool, error) {
	switch path[0] {
	case "params":
		var cur any = f.in.Params
		for _, seg := range path[1:] {
			switch c := cur.(type) {
			case map[string]any:
				v, ok := c[seg]
				if !ok {
					return nil, false, nil
				}
				cur = v
			case []any:
				return nil, false, nil // lists have no named members
			default:
				_, err := normalizeScalar(c) // scalars have no members; others are errors
				return nil, false, err
			}
		}
		v, err := normalize(cur, len(path))
		return v, err == nil, err
	case "time":
		if path[1] == "hour" {
			return float64(f.hour), true, nil
		}
		return f.weekday, true, nil
	}
	s := f.fixed(path[0])
	return s, s != "", nil
}

// fixed returns a top-level string field, made valid UTF-8.
func (f *facts) fixed(name string) string {
	var s string
	switch name {
	case "agent":
		s = f.in.Agent
	case "connector":
		s = f.in.Connector
	case "action":
		s = f.in.Action
	case "method":
		s = f.in.Method
	case "host":
		s = f.in.Host
	case "path":
		s = f.in.Path
	}
	return validUTF8(s)
}

// RegoInput returns the input document the generated module reads, as
// JSON-compatible values: the non-empty fixed fields, params (normalized) and
// time {hour, weekday}. Bridle builds the same document as OPA values
// directly; this form is for stock OPA (opa eval) and for tests.
func (in Input) RegoInput() (map[string]any, error) {
	f := newFacts(&in)
	doc := map[string]any{"time": map[string]any{"hour": f.hour, "weekday": f.weekday}}
	for _, name := range []string{"agent", "connector", "action", "method", "host", "path"} {
		if v := f.fixed(name); v != "" {
			doc[name] = v
		}
	}
	if in.Params != nil {
		p, err := normalize(in.Params, 1)
		if err != nil {
			return nil, err
		}
		doc["params"] = p
	}
	return doc, nil
}

// validUTF8 replaces invalid bytes so that OPA (which iterates runes) and
// the Go matchers (which compare bytes) see the same string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// normalize converts a Params value to the package's value model: string,
// float64, bool, nil, []any and map[string]any, recursively.
func normalize(v any, depth int) (any, error) {
	if depth > maxParamDepth {
		return nil, fmt.Errorf("params nest deeper than %d levels", maxParamDepth)
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return normalizeScalar(v)
}

// normalizeScalar converts a scalar Params value, or fails for anything that
// is not a string, number, boolean or nil.
func normalizeScalar(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		return validUTF8(x), nil
	}
	f, ok := toFloat(v)
	if !ok {
		return nil, fmt.Errorf("params value of type %T is not supported", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("params number %v is not finite", f)
	}
	return f, nil
}

// toFloat converts any Go number to float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// formatNumber renders a float64 the way encoding/json does, which OPA reads
// back to the same value. Both rule literals and input numbers go through it.
func formatNumber(f float64) string {
	if f == 0 {
		return "0" // also for -0, which compares equal to 0 everywhere
	}
	abs := math.Abs(f)
	if abs < 1e-6 || abs >= 1e21 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Like encoding/json: "1e-07" → "1e-7".
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:]
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// kindOf returns the kind of a normalized scalar, or 0 for nil, lists and
// maps.
func kindOf(v any) kind {
	switch v.(type) {
	case string:
		return kindString
	case float64:
		return kindNumber
	case bool:
		return kindBool
	}
	return 0
}

// equalValue reports whether a normalized value equals a rule value: same
// kind and same value.
func equalValue(v any, want value) bool {
	switch x := v.(type) {
	case string:
		return want.kind == kindString && x == want.s
	case float64:
		return want.kind == kindNumber && x == want.n
	case bool:
		return want.kind == kindBool && x == want.b
	}
	return false
}
