// Package policies turns Bridle's YAML permission rules into Rego and decides
// actions with the embedded OPA library.
//
// The pipeline is Load (strict YAML decode and validation, every problem
// reported at once with file:line:col, YAML path and hint) → translation to
// one readable Rego v1 module (one Rego rule per YAML rule) → OPA compilation
// into a query prepared once per Set → Evaluate. Explain and the cases
// runner (RunCases, WriteCaseReport) serve bridle policy explain and test.
//
// Security choices, each with its reason:
//
//   - Deny by default: the zero Decision denies, a Set with no rules denies
//     with reason default_deny, and any internal error (an OPA error, an
//     undefined or malformed result, a value OPA cannot represent, a panic)
//     denies with reason policy_error.
//   - Rule values never become Rego code. Strings reach the module only as
//     JSON-quoted literals (OPA's parser reads string literals with
//     encoding/json), numbers only as formatted float64s, names only as
//     quoted keys, and action globs only after a charset check; comments carry
//     only validated names. A rule value can therefore match only literally.
//   - Built-in errors are strict during evaluation: a condition that errors
//     must not quietly become "no match", because a deny rule that silently
//     stops matching turns a deny into an allow.
//   - Rego is the source of truth. The Go action index only narrows which
//     rules Rego evaluates; every Rego rule re-checks its own actions, so an
//     over-broad index costs time, never correctness. For each action,
//     Evaluate compiles once a query that inlines the candidate rules' own
//     bodies, as OPA compiled them in the module (hit_i = [effect | body_i]),
//     so OPA decides every condition; Go checks each reported effect against
//     the rule's and applies the combination (strongest effect, first in file
//     order). Anything unexpected is a policy_error. Should a plan's inlined
//     query fail to build, the body of the module's decision rule runs over
//     the candidates instead (same answer, about twice the cost). An index
//     that missed a rule would be a bug: the differential fuzz test compares
//     Evaluate with OPA evaluating the whole module through its decision
//     rule, as stock OPA would, with that fallback query, and with a direct Go
//     evaluator of the YAML semantics.
//   - The decision cache is keyed by the exact canonical bytes of the input
//     fields the candidate rules can read, and Rego is handed only those
//     fields, so a decision is by construction a function of its key. Keys are
//     compared in full, never by a hash alone, so a hash collision cannot serve
//     one input's decision to another.
//
// The package is a leaf: it imports nothing else of Bridle's, does no network
// I/O and reads files only in Load and ExpandGlobs.
package policies
