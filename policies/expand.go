package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExpandGlobs resolves the policies: entries of bridle.yaml into the file
// list Load takes. Relative patterns are relative to baseDir (the config
// file's directory). Patterns use filepath.Match syntax (*, ?, [...]); each
// pattern's matches are sorted, directories skipped, and duplicates across
// patterns dropped, keeping the first position.
//
// A plain path (no metacharacters) that does not exist is an error, because
// a policy file that silently goes missing would drop its deny rules. A glob
// that matches nothing is not: "policies/*.yaml" in a fresh checkout simply
// means no policies, which denies everything.
func ExpandGlobs(baseDir string, patterns []string) ([]string, error) {
	var out []string
	var errs []error
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, pat := range patterns {
		full := pat
		if !filepath.IsAbs(full) && baseDir != "" {
			full = filepath.Join(baseDir, full)
		}
		if !strings.ContainsAny(pat, `*?[\`) {
			info, err := os.Stat(full)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("policy file %s: %w", pat, err))
			case info.IsDir():
				errs = append(errs, fmt.Errorf("policy file %s is a directory (use %s)", pat, filepath.Join(pat, "*.yaml")))
			default:
				add(full)
			}
			continue
		}
		matches, err := filepath.Glob(full)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy glob %q: %w", pat, err))
			continue
		}
		for _, m := range matches {
			if info, err := os.Stat(m); err == nil && !info.IsDir() {
				add(m)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
