package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${env:NAME} references in s. An unset variable is an
// error that names the variable (never a value). ${secret:NAME} references
// are left untouched for the vault to resolve; any other ${...} form is an
// error so that typos do not silently become literal text.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ reference")
		}
		ref := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		kind, name, ok := strings.Cut(ref, ":")
		if !ok || !validRefName(name) {
			return "", fmt.Errorf("bad reference ${%s}: want ${env:NAME} or ${secret:NAME}", ref)
		}
		switch kind {
		case "env":
			v, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
		case "secret":
			b.WriteString("${secret:" + name + "}")
		default:
			return "", fmt.Errorf("bad reference ${%s}: want ${env:NAME} or ${secret:NAME}", ref)
		}
	}
}

func validRefName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
