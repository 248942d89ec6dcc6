package policies

import (
	"fmt"
	"regexp"
	"strings"
)

// Glob semantics shared by the glob operator, agents: scopes and actions:
// "*" matches any run of characters within one segment, "**" any run across
// segments, and every other character matches itself. Segments are separated
// by "/" (glob operator, agents) or "." (actions).
//
// In Rego, action globs (whose charset has no other metacharacter) run
// through OPA's glob.match with "." as the delimiter; free-form globs are
// translated to anchored regexes by globRegex. The Go matcher below is
// written independently of both, so that the differential fuzz test compares
// separate implementations.

const (
	pathSep   = '/'
	actionSep = '.'
)

// globMatch reports whether s matches pattern with segment separator sep.
// It runs in O(len(pattern)·len(s)) time whatever the pattern, so hostile
// patterns cannot make it backtrack exponentially.
func globMatch(pattern, s string, sep byte) bool {
	// reach[j] is true when the pattern prefix consumed so far can match s[:j].
	reach := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	reach[0] = true
	for i := 0; i < len(pattern); {
		clear(next)
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			for j := range next {
				next[j] = reach[j] || (j > 0 && next[j-1])
			}
			i += 2
		case pattern[i] == '*':
			for j := range next {
				next[j] = reach[j] || (j > 0 && next[j-1] && s[j-1] != sep)
			}
			i++
		default:
			end := strings.IndexByte(pattern[i:], '*')
			if end < 0 {
				end = len(pattern) - i
			}
			lit := pattern[i : i+end]
			for j := 0; j+len(lit) <= len(s); j++ {
				if reach[j] && s[j:j+len(lit)] == lit {
					next[j+len(lit)] = true
				}
			}
			i += end
		}
		reach, next = next, reach
	}
	return reach[len(s)]
}

// hasGlob reports whether pattern contains a wildcard.
func hasGlob(pattern string) bool { return strings.IndexByte(pattern, '*') >= 0 }

// globRegex translates Bridle globs into one anchored RE2 pattern matching any
// of them for Rego's
// regex.match: "**" becomes ".*", "*" "[^sep]*", and every literal run is
// quoted with regexp.QuoteMeta, so nothing in a rule value can act as regex
// syntax. (OPA's glob.match is not used for free-form patterns: its rule
// indexer compares escaped pattern text raw, so escaped metacharacters would
// silently stop matching.)
func globRegex(sep byte, patterns ...string) string {
	var b strings.Builder
	for _, p := range patterns {
		if strings.Contains(p, "**") {
			b.WriteString("(?s)") // let .* cross newlines too
			break
		}
	}
	if len(patterns) == 1 {
		b.WriteByte('^')
		writeGlobRegex(&b, patterns[0], sep)
		b.WriteByte('$')
		return b.String()
	}
	b.WriteString("^(?:")
	for i, p := range patterns {
		if i > 0 {
			b.WriteByte('|')
		}
		writeGlobRegex(&b, p, sep)
	}
	b.WriteString(")$")
	return b.String()
}

func writeGlobRegex(b *strings.Builder, pattern string, sep byte) {
	for i := 0; i < len(pattern); {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i += 2
		case pattern[i] == '*':
			b.WriteString("[^" + regexp.QuoteMeta(string(sep)) + "]*")
			i++
		default:
			end := strings.IndexByte(pattern[i:], '*')
			if end < 0 {
				end = len(pattern) - i
			}
			b.WriteString(regexp.QuoteMeta(pattern[i : i+end]))
			i += end
		}
	}
}

// checkGlob returns why pattern is not a valid glob, or "".
func checkGlob(pattern string) string {
	if strings.Contains(pattern, "***") {
		return fmt.Sprintf("glob %q has three or more *s in a row (use * within a segment or ** across segments)", pattern)
	}
	return ""
}

// checkActionGlob returns why pattern is not a valid actions: entry, and a
// hint, or "" when it is valid. Action globs are restricted to the characters
// action names use, which keeps them literal in Rego without any escaping.
func checkActionGlob(pattern string) (msg, hint string) {
	if pattern == "" {
		return "empty action pattern", "write e.g. github.pr.merge or github.*.get"
	}
	for _, r := range pattern {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '-' || r == '.' || r == '*'
		if !ok {
			return fmt.Sprintf("action pattern %q contains %q", pattern, r),
				"actions are <prefix>.<resource>.<verb> of letters, digits, _ and -, with * or ** as wildcards"
		}
	}
	for _, seg := range strings.Split(pattern, ".") {
		if seg == "" {
			return fmt.Sprintf("action pattern %q has an empty segment", pattern), "segments are separated by single dots"
		}
	}
	if msg := checkGlob(pattern); msg != "" {
		return msg, ""
	}
	return "", ""
}
