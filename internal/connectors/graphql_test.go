package connectors

import (
	"encoding/json"
	"errors"
	"testing"
)

// gqlBody wraps a document (and an operation name) as a GraphQL request.
func gqlBody(doc string, opName ...string) string {
	m := map[string]any{"query": doc, "variables": map[string]any{"id": "PR_1"}}
	if len(opName) > 0 {
		m["operationName"] = opName[0]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// gq returns GraphQL params.
func gq(op, fields string, count float64, kv ...any) P {
	p := P{"operation": op, "fields": fields, "field_count": count}
	for i := 0; i < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

var githubGraphQLGolden = []golden{
	{"names a mutation by its top-level field", "POST", "/graphql", gqlBody(`mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id}) { pullRequest { merged } } }`), "github.graphql.mutation.mergePullRequest", gq("mutation", "mergePullRequest", 1)},
	{"names a query by its top-level field", "POST", "/graphql", gqlBody(`query { viewer { login } }`), "github.graphql.query.viewer", gq("query", "viewer", 1)},
	{"reads the query shorthand", "POST", "/graphql", gqlBody(`{ viewer { login } }`), "github.graphql.query.viewer", gq("query", "viewer", 1)},
	{"names a query with several fields multiple", "POST", "/graphql", gqlBody(`query { viewer { login } rateLimit { remaining } }`), "github.graphql.query.multiple", gq("query", "rateLimit,viewer", 2)},
	{"picks the operation named by operationName", "POST", "/graphql", gqlBody(`query A { viewer { login } } mutation B { addStar(input: {starrableId: "x"}) { clientMutationId } }`, "B"), "github.graphql.mutation.addStar", gq("mutation", "addStar", 1, "operation_name", "B")},
	{"resolves an alias to its field", "POST", "/graphql", gqlBody(`mutation { harmless: mergePullRequest(input: {pullRequestId: "x"}) { clientMutationId } }`), "github.graphql.mutation.mergePullRequest", gq("mutation", "mergePullRequest", 1)},
	{"counts repeated aliases of one mutation", "POST", "/graphql", gqlBody(`mutation { a: addComment(input: {subjectId: "1", body: "x"}) { clientMutationId } b: addComment(input: {subjectId: "2", body: "y"}) { clientMutationId } }`), "github.graphql.mutation.addComment", gq("mutation", "addComment", 2)},
	{"expands a top-level fragment spread", "POST", "/graphql", gqlBody(`mutation { ...M } fragment M on Mutation { deleteRepository: mergePullRequest(input: {}) { clientMutationId } }`), "github.graphql.mutation.mergePullRequest", gq("mutation", "mergePullRequest", 1)},
	{"expands nested fragment spreads", "POST", "/graphql", gqlBody(`query { ...A } fragment A on Query { ...B } fragment B on Query { viewer { login } }`), "github.graphql.query.viewer", gq("query", "viewer", 1)},
	{"flattens an inline fragment", "POST", "/graphql", gqlBody(`mutation { ... on Mutation { closeIssue(input: {issueId: "I"}) { clientMutationId } } }`), "github.graphql.mutation.closeIssue", gq("mutation", "closeIssue", 1)},
	{"flattens an inline fragment without a type condition", "POST", "/graphql", gqlBody(`mutation { ... @include(if: true) { closeIssue(input: {issueId: "I"}) { clientMutationId } } }`), "github.graphql.mutation.closeIssue", gq("mutation", "closeIssue", 1)},
	{"ignores __typename beside a field", "POST", "/graphql", gqlBody(`query { __typename viewer { login } }`), "github.graphql.query.viewer", gq("query", "viewer", 2)},
	{"keeps __typename when it is alone", "POST", "/graphql", gqlBody(`mutation { __typename }`), "github.graphql.mutation.__typename", gq("mutation", "__typename", 1)},
	{"is not fooled by structure inside a string", "POST", "/graphql", gqlBody(`query { search(query: "} mutation { deleteRepository", type: REPOSITORY, first: 1) { repositoryCount } }`), "github.graphql.query.search", gq("query", "search", 1)},
	{"is not fooled by a block string", "POST", "/graphql", gqlBody(`query { search(query: """ } \""" mutation { x } """, type: ISSUE, first: 1) { issueCount } }`), "github.graphql.query.search", gq("query", "search", 1)},
	{"is not fooled by a comment", "POST", "/graphql", gqlBody("# mutation { deleteRepository }\nquery { viewer { login } } # }"), "github.graphql.query.viewer", gq("query", "viewer", 1)},
	{"reads variables, defaults and directives", "POST", "/graphql", gqlBody(`query Q($n: Int = 10, $l: [String!] = ["a"]) @cached(ttl: 5) { repository(owner: "o", name: "r") @include(if: true) { issues(first: $n, labels: $l) { totalCount } } }`), "github.graphql.query.repository", gq("query", "repository", 1)},
	{"names a subscription", "POST", "/graphql", gqlBody(`subscription { issueUpdated { id } }`), "github.graphql.subscription.issueUpdated", gq("subscription", "issueUpdated", 1)},
	{"accepts a null operationName", "POST", "/graphql", `{"query":"{ viewer { login } }","operationName":null}`, "github.graphql.query.viewer", gq("query", "viewer", 1)},
	{"accepts commas, a BOM and unicode escapes", "POST", "/graphql", gqlBody("\ufeffquery,{,viewer,{login},repository(owner: \"\\u00e9\\u{1F600}\", name: \"r\"){id}}"), "github.graphql.query.multiple", gq("query", "repository,viewer", 2)},
}

func init() { goldenTables[TypeGitHub+".graphql"] = githubGraphQLGolden }

func TestGitHubGraphQLGolden(t *testing.T) {
	runGolden(t, Spec{Name: "gh", Type: TypeGitHub}, "application/json", githubGraphQLGolden)
}

func TestGitHubGraphQLRefusals(t *testing.T) {
	post := func(name, body string, want error) parseCase {
		return parseCase{name: name, method: "POST", path: "/graphql", body: body, contentType: "application/json", want: want}
	}
	runParseErrors(t, Spec{Name: "gh", Type: TypeGitHub}, []parseCase{
		post("refuses a mutation with two different fields", gqlBody(`mutation { addComment(input: {}) { clientMutationId } mergePullRequest(input: {}) { clientMutationId } }`), ErrAmbiguous),
		post("refuses a second mutation field hidden in a fragment", gqlBody(`mutation { addComment(input: {}) { clientMutationId } ...F } fragment F on Mutation { deleteRef(input: {}) { clientMutationId } }`), ErrAmbiguous),
		post("refuses two operations without operationName", gqlBody(`query A { viewer { login } } mutation B { addStar(input: {}) { clientMutationId } }`), ErrAmbiguous),
		post("refuses an unknown operationName", gqlBody(`query A { viewer { login } }`, "B"), ErrBodyUnparseable),
		post("refuses an anonymous operation beside a named one", gqlBody(`{ viewer { login } } query B { viewer { id } }`, "B"), ErrBodyUnparseable),
		post("refuses two operations with one name", gqlBody(`query A { viewer { login } } query A { viewer { id } }`, "A"), ErrBodyUnparseable),
		post("refuses an undefined fragment", gqlBody(`mutation { ...Missing }`), ErrBodyUnparseable),
		post("refuses a fragment cycle", gqlBody(`query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }`), ErrBodyUnparseable),
		post("refuses a fragment defined twice", gqlBody(`query { ...A } fragment A on Query { viewer { id } } fragment A on Query { viewer { id } }`), ErrBodyUnparseable),
		post("refuses a type definition", gqlBody(`type Query { x: Int }`), ErrBodyUnparseable),
		post("refuses unbalanced braces", gqlBody(`mutation { mergePullRequest(input: {}) { clientMutationId }`), ErrBodyUnparseable),
		post("refuses mismatched brackets", gqlBody(`query { search(query: [1}) { issueCount } }`), ErrBodyUnparseable),
		post("refuses an unterminated string", gqlBody(`query { search(query: "x) { issueCount } }`), ErrBodyUnparseable),
		post("refuses an empty selection set", gqlBody(`query { }`), ErrBodyUnparseable),
		post("refuses an empty document", gqlBody(`  # nothing`), ErrBodyUnparseable),
		post("refuses a stray character", gqlBody(`query { viewer ; }`), ErrBodyUnparseable),
		post("refuses a request without a query", `{"operationName":"A"}`, ErrBodyUnparseable),
		post("refuses a query that is not a string", `{"query":{"viewer":1}}`, ErrBodyUnparseable),
		post("refuses a batched request", `[{"query":"{ viewer { login } }"}]`, ErrBodyUnparseable),
		post("refuses a query given twice", `{"query":"{ viewer { login } }","query":"mutation { deleteRepository }"}`, ErrAmbiguous),
		post("refuses a case variant of query", `{"query":"{ viewer { login } }","Query":"mutation { x }"}`, ErrAmbiguous),
	})
}

func TestAnalyzeGraphQLBoundsFragmentExpansion(t *testing.T) {
	// Each fragment spreads the next twice: 2^40 paths if expanded naively.
	doc := "query { ...F0 }"
	for i := range 40 {
		doc += " fragment F" + itoa(i) + " on Query { ...F" + itoa(i+1) + " ...F" + itoa(i+1) + " }"
	}
	doc += " fragment F40 on Query { viewer { id } }"
	op, err := analyzeGraphQL(doc, "")
	if err != nil {
		t.Fatal(err)
	}
	if op.count != maxGQLCount || len(op.fields) != 1 {
		t.Fatalf("got %+v, want one field and a capped count", op)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestGraphQLErrorsAreSentinels(t *testing.T) {
	_, err := analyzeGraphQL("query { a b }", "x")
	if !errors.Is(err, ErrBodyUnparseable) {
		t.Fatalf("got %v", err)
	}
}
