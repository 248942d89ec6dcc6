package policies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
)

// maxFileSize bounds a policy or cases file. Ten thousand rules fit in a few
// megabytes; anything far larger is a mistake or an attack on the loader.
const maxFileSize = 32 << 20

// Cache sizes. Decisions are keyed by at most maxKeyLen bytes, so the
// decision cache holds at most a few megabytes.
const (
	decisionCacheSize = 16384
	planCacheSize     = 4096
	maxKeyLen         = 512
)

// Set is an immutable, compiled version of a group of policy files. It is
// safe for concurrent use; a new version is a new Set, swapped in by the
// caller (an atomic.Pointer), so a bad file never replaces a good Set.
type Set struct {
	files   []string
	rules   []*rule   // by ordinal: file order
	refs    []RuleRef // refs[i] describes rules[i]
	byID    map[ruleID]int
	rego    string
	version string

	index    *actionIndex
	compiler *ast.Compiler
	prepared ast.Body // the compiled decision query
	store    storage.Store
	builtins cache.InterQueryValueCache // compiled globs and regexes

	plans     *boundedCache[*plan]
	decisions *boundedCache[Decision]

	// genericPlans counts plans that fell back to the generic query because
	// their inlined one could not be built: the same decisions, twice the
	// cost. Tests hold it at zero.
	genericPlans *atomic.Int64
}

type ruleID struct{ policy, rule string }

// Load reads, validates and compiles the policy files at paths, in order
// (file order decides between rules of the same effect). It returns every
// problem of every file at once, joined with errors.Join; each is a
// *LoadError formatted "file:line:col: yaml.path: message (hint)". On any
// problem it returns no Set: a broken file must never drop its rules.
//
// Load with no paths returns an empty Set, which denies everything.
func Load(paths []string) (s *Set, err error) {
	defer recoverLoad(&s, &err)
	var errs []error
	var pols []*policy
	for _, path := range paths {
		src, err := readLimited(path)
		if err != nil {
			errs = append(errs, &LoadError{File: path, Msg: "reading policy file: " + err.Error(), Err: err})
			continue
		}
		ps, perrs := decodePolicyFile(path, src)
		errs = append(errs, perrs...)
		pols = append(pols, ps...)
	}
	return build(paths, pols, errs)
}

// LoadBytes is Load for one file held in memory; name is used in messages.
func LoadBytes(name string, src []byte) (s *Set, err error) {
	defer recoverLoad(&s, &err)
	if len(src) > maxFileSize {
		return nil, &LoadError{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileSize)}
	}
	pols, errs := decodePolicyFile(name, src)
	return build([]string{name}, pols, errs)
}

// recoverLoad turns a panic while loading (a bug here or in a library) into
// an error, so that a hostile policy file fails to load instead of crashing
// the process that reloads it.
func recoverLoad[T any](v *T, err *error) {
	if r := recover(); r != nil {
		var zero T
		*v, *err = zero, fmt.Errorf("loading policies: internal error: %v", r)
	}
}

// readLimited reads a file of at most maxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	return src, nil
}

// build checks what spans files, then compiles.
func build(files []string, pols []*policy, errs []error) (*Set, error) {
	seen := map[string]*policy{}
	for _, p := range pols {
		if first, dup := seen[p.name]; dup {
			errs = append(errs, &LoadError{File: p.file, Line: p.line, Col: p.col, Path: "policies",
				Msg:  fmt.Sprintf("duplicate policy name %q (first in %s:%d)", p.name, first.file, first.line),
				Hint: "policy names are unique across files"})
			continue
		}
		seen[p.name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s, err := compile(files, pols)
	if err != nil {
		return nil, fmt.Errorf("compiling policies: %w", err)
	}
	return s, nil
}

// compile translates the policies to Rego and prepares the decision query.
func compile(files []string, pols []*policy) (*Set, error) {
	s := &Set{files: files, byID: map[ruleID]int{}}
	for _, p := range pols {
		for _, r := range p.rules {
			r.ord = len(s.rules)
			s.rules = append(s.rules, r)
			s.refs = append(s.refs, r.ref)
			s.byID[ruleID{r.ref.Policy, r.ref.Rule}] = r.ord
		}
	}
	text, err := translate(files, pols)
	if err != nil {
		return nil, err
	}
	s.rego = text
	sum := sha256.Sum256([]byte(text))
	s.version = hex.EncodeToString(sum[:])

	mod, err := ast.ParseModuleWithOpts("bridle.rego", text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("parsing generated Rego: %w", err)
	}
	s.compiler = ast.NewCompiler().WithCapabilities(capabilities())
	if s.compiler.Compile(map[string]*ast.Module{"bridle.rego": mod}); s.compiler.Failed() {
		return nil, fmt.Errorf("compiling generated Rego: %w", s.compiler.Errors)
	}
	body, err := ast.ParseBody(fastQuery)
	if err != nil {
		return nil, fmt.Errorf("parsing decision query: %w", err)
	}
	if s.prepared, err = s.compiler.QueryCompiler().Compile(body); err != nil {
		return nil, fmt.Errorf("compiling decision query: %w", err)
	}
	s.store = inmem.New()

	patterns := 64 // globs and regexes OPA compiles once and reuses
	for _, r := range s.rules {
		patterns += len(r.actions) + len(r.policy.agents)
		if r.when != nil {
			patterns += len(r.when.reads(nil))
		}
	}
	s.builtins = cache.NewInterQueryValueCache(context.Background(), &cache.Config{
		InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &patterns},
	})
	s.index = newActionIndex(s.rules)
	s.plans = newBoundedCache[*plan](planCacheSize)
	s.genericPlans = new(atomic.Int64)
	s.decisions = newBoundedCache[Decision](decisionCacheSize)
	return s, nil
}

// capabilities limits the compiled module to the built-ins the translator
// emits. Even if a translator bug let rule text through as code, it could not
// reach http.send, opa.runtime or any other built-in with effects.
func capabilities() *ast.Capabilities {
	allowed := map[string]bool{
		"eq": true, "equal": true, "neq": true, "gt": true, "gte": true, "lt": true, "lte": true,
		"assign": true, "count": true, "internal.member_2": true,
		"glob.match": true, "regex.match": true, "startswith": true, "endswith": true, "contains": true,
		"is_string": true, "is_number": true, "is_boolean": true, "is_array": true, "object.get": true,
		"min": true, "union": true,
	}
	c := ast.CapabilitiesForThisVersion()
	var kept []*ast.Builtin
	for _, b := range c.Builtins {
		if allowed[b.Name] {
			kept = append(kept, b)
		}
	}
	c.Builtins = kept
	return c
}

// Rego returns the Rego module the Set compiled. It evaluates in stock OPA:
// query data.bridle.policies.decision with the request as input.
func (s *Set) Rego() string {
	if s == nil {
		return ""
	}
	return s.rego
}

// Version returns a content hash (hex SHA-256 of the compiled module, which
// embeds every rule and its source location).
func (s *Set) Version() string {
	if s == nil {
		return ""
	}
	return s.version
}

// Empty reports whether the Set has no rules, in which case it denies every
// request with reason default_deny. A nil Set is empty (and Evaluate on it
// denies with policy_error).
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }

// Files returns the files the Set was loaded from, in order.
func (s *Set) Files() []string { return append([]string(nil), s.files...) }

// Rules returns every rule of the Set in file order.
func (s *Set) Rules() []RuleRef { return append([]RuleRef(nil), s.refs...) }

// MayRequireApproval reports whether some require_approval rule could match
// an action of the given prefix (a connector's action prefix, e.g.
// "github"). Bridle uses it to give only such connectors' requests the
// long, hold-length decision timeout: everything else fails closed fast
// when the decision service hangs. It errs towards true.
func (s *Set) MayRequireApproval(prefix string) bool {
	if s == nil {
		return false
	}
	for _, r := range s.rules {
		if r.effect != RequireApproval {
			continue
		}
		for _, a := range r.actions {
			first, _, _ := strings.Cut(a, ".")
			if first == prefix || strings.Contains(first, "*") {
				return true
			}
		}
	}
	return false
}
