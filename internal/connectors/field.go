package connectors

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// fieldType is the declared type of a selected query or body field.
type fieldType uint8

const (
	typeAny    fieldType = iota // keep the JSON type; text sources give strings
	typeString                  // must be a string
	typeNumber                  // a JSON number, or text in JSON number syntax
	typeBool                    // a JSON boolean, or the text true / false
)

// field is one compiled query or body selector.
type field struct {
	path    []string // JSON object path: "config.url" → [config url]
	formKey string   // form spelling: "config[url]"
	param   string   // param name: "config_url"
	typ     fieldType
}

// maxFieldDepth bounds how deep a selector may reach into a JSON body.
const maxFieldDepth = 8

// parseField compiles a selector "name" or "name:type". Query selectors
// (nested false) are one component; body selectors may be dotted.
func parseField(s string, nested bool) (field, error) {
	name, typ, hasType := strings.Cut(s, ":")
	var f field
	switch {
	case !hasType:
	case typ == "string":
		f.typ = typeString
	case typ == "number":
		f.typ = typeNumber
	case typ == "bool":
		f.typ = typeBool
	default:
		return field{}, fmt.Errorf("unknown type %q (want string, number or bool)", typ)
	}
	f.path = strings.Split(name, ".")
	if !nested && len(f.path) > 1 {
		return field{}, fmt.Errorf("query field %q cannot be dotted", name)
	}
	if len(f.path) > maxFieldDepth {
		return field{}, fmt.Errorf("field %q is nested deeper than %d", name, maxFieldDepth)
	}
	for _, p := range f.path {
		if !isFieldName(p) {
			return field{}, fmt.Errorf("field %q: each part must be letters, digits, '_' or '-'", name)
		}
	}
	if isSensitiveName(name) {
		// DESIGN invariant 6: params are stored in the audit log, so a
		// selector must never copy a credential-like value into them.
		return field{}, fmt.Errorf("field %q looks like a credential and cannot become a param", name)
	}
	f.formKey = f.path[0]
	for _, p := range f.path[1:] {
		f.formKey += "[" + p + "]"
	}
	f.param = strings.NewReplacer(".", "_", "-", "_").Replace(name)
	return f, nil
}

func isFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// sensitiveParts are name fragments of values that must stay out of params.
var (
	sensitiveSubstrings = []string{"secret", "password", "passwd", "apikey", "credential", "cookie", "signature",
		"accesstoken", "refreshtoken", "authtoken", "idtoken"}
	sensitiveWords = []string{"token", "key", "sig", "pwd", "auth", "authorization", "session", "otp", "pin", "bearer", "jwt"}
)

// isSensitiveName reports whether a field name looks like it holds a
// credential (DESIGN invariant 6 names token, key, secret, password, sig).
func isSensitiveName(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range sensitiveSubstrings {
		if strings.Contains(lower, s) {
			return true
		}
	}
	for _, w := range strings.FieldsFunc(lower, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		for _, s := range sensitiveWords {
			if w == s {
				return true
			}
		}
	}
	return false
}

var errTypeMismatch = errors.New("type mismatch")

// textValue converts a query or form value to the field's declared type.
func textValue(f *field, s string) (any, error) {
	switch f.typ {
	case typeNumber:
		if !isJSONNumber(s) {
			return nil, fmt.Errorf("%w: %s is not a number", errTypeMismatch, f.formKey)
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is out of range", errTypeMismatch, f.formKey)
		}
		return n, nil
	case typeBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%w: %s is not true or false", errTypeMismatch, f.formKey)
	}
	return s, nil
}

// isJSONNumber reports whether s is a number in JSON syntax: no '+', no
// leading zeros, no hex, no Inf or NaN, no '_' (strconv.ParseFloat alone
// accepts all of those).
func isJSONNumber[T string | []byte](s T) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// setParam stores a param and refuses a second value for the same name: a
// field given in two places (path and body, query and body) could be read
// either way by the upstream.
func setParam(params map[string]any, name string, v any) error {
	if _, dup := params[name]; dup {
		return fmt.Errorf("%w: %s is given more than once", ErrAmbiguous, name)
	}
	params[name] = v
	return nil
}
