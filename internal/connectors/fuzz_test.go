package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// The fuzz targets below run their seeds (f.Add and testdata/fuzz) as plain
// tests under `go test`; `go test -fuzz=FuzzX -fuzztime=20s` explores more.

// FuzzParseTarget checks path canonicalisation against net/url: what is
// accepted splits on literal '/' only and decodes each segment as
// url.PathUnescape does, and no dot segment survives.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/repos/o/r/pulls/1/merge?x=1", "/a%2Fb/c", "/a/../b", "/%2e%2E/x", "/a%2F..%2Fb", "//x//", "/a?b?c", "/%zz", "/é", "/a%5C..%5Cb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := parseTarget(raw, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v is not ErrInvalidPath", err)
			}
			return
		}
		rebuilt := tg.path
		if strings.Contains(raw, "?") {
			rebuilt += "?" + tg.query
		}
		if rebuilt != raw || strings.Contains(tg.path, "?") {
			t.Fatalf("split %q into %q and %q", raw, tg.path, tg.query)
		}
		var rawSegs []string
		if tg.path != "/" {
			rawSegs = strings.Split(tg.path[1:], "/")
		}
		if len(rawSegs) != len(tg.segs) {
			t.Fatalf("%q: got %d segments, want %d", raw, len(tg.segs), len(rawSegs))
		}
		for i, seg := range tg.segs {
			want, err := url.PathUnescape(rawSegs[i])
			if err != nil || want != seg {
				t.Fatalf("%q: segment %d got %q, url.PathUnescape gives %q, %v", raw, i, seg, want, err)
			}
			for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
				if part == "." || part == ".." {
					t.Fatalf("%q: dot segment %q survived", raw, seg)
				}
			}
			if seg == "." || seg == ".." || !utf8.ValidString(seg) {
				t.Fatalf("%q: segment %q accepted", raw, seg)
			}
		}
	})
}

// FuzzParse drives whole connectors: Parse never panics, names every
// request with the connector's prefix, hashes every action it returns, and
// ignores the body wherever NeedsBody says it is not read.
func FuzzParse(f *testing.F) {
	f.Add("github", "PUT", "/repos/o/r/pulls/1/merge", `{"merge_method":"squash"}`)
	f.Add("github", "POST", "/graphql", `{"query":"mutation { a: mergePullRequest(input:{}) { x } }"}`)
	f.Add("stripe", "POST", "/v1/charges", "amount=100&currency=usd")
	f.Add("slack", "POST", "/api/chat.postMessage?channel=C1", `{"channel":"C2"}`)
	f.Add("github", "GET", "/repos/o/r/contents/a%2Fb?ref=x", "")
	reg, err := New([]Spec{
		{Name: "gh", Type: TypeGitHub}, {Name: "st", Type: TypeStripe}, {Name: "sl", Type: TypeSlack},
	})
	if err != nil {
		f.Fatal(err)
	}
	hosts := map[string]string{"github": "api.github.com", "stripe": "api.stripe.com", "slack": "slack.com"}
	f.Fuzz(func(t *testing.T, typ, method, path, body string) {
		c, ok := reg.Lookup(hosts[typ])
		if !ok {
			return
		}
		req := testRequest(c, method, path, body, "application/json")
		a, err := c.Parse(req)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) && !errors.Is(err, ErrBodyUnparseable) && !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("error %v is no sentinel", err)
			}
			return
		}
		if !strings.HasPrefix(a.Type, c.Prefix()+".") || a.Params == nil {
			t.Fatalf("got action %+v", a)
		}
		if _, err := a.SpecHash(); err != nil && utf8.ValidString(method) {
			t.Fatalf("SpecHash(%+v): %v", a, err)
		}
		if !c.NeedsBody(method, path) {
			b, err := c.Parse(testRequest(c, method, path, "", ""))
			if err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("the body changed an action that does not read it: %+v vs %+v (%v)", a, b, err)
			}
		}
	})
}

// fuzzFields is the selection FuzzExtractJSON and FuzzExtractForm use.
func fuzzFields(t testing.TB) ([]field, *jsonNode) {
	var fs []field
	for _, s := range []string{"model", "n:number", "a.b", "flag:bool"} {
		f, err := parseField(s, true)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	n, err := buildJSONTree(fs)
	if err != nil {
		t.Fatal(err)
	}
	return fs, n
}

// FuzzExtractJSON checks the JSON reader against encoding/json: same
// validity, and the same selected values whenever it accepts.
func FuzzExtractJSON(f *testing.F) {
	for _, s := range []string{`{"model":"m","n":1,"a":{"b":true},"flag":false}`, `{"model":"a","model":"b"}`, `[1,2,{"x":null}]`,
		`{"a":{"B":1}}`, `"\ud83d\ude00"`, `{"model":"\u00e9"} `, `1e400`, `{"n":"1"}`, `{"Model":1}`} {
		f.Add([]byte(s))
	}
	fields, tree := fuzzFields(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := extractJSON(data, nil, nil); (err == nil) != json.Valid(data) && !errors.Is(err, errJSONDepth) {
			t.Fatalf("valid: got %v, encoding/json says %v", err, json.Valid(data))
		}
		params := map[string]any{}
		if err := extractJSON(data, tree, params); err != nil {
			return
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // numbers nobody selected may be out of float64 range
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("accepted what encoding/json rejects: %v", err)
		}
		for i := range fields {
			want, ok := lookupPath(doc, fields[i].path)
			got, has := params[fields[i].param]
			if ok != has || has && !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: got %#v (%v), encoding/json gives %#v (%v)", fields[i].param, got, has, want, ok)
			}
		}
	})
}

// lookupPath finds a scalar at an object path; null counts as absent.
func lookupPath(doc any, path []string) (any, bool) {
	for _, k := range path {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[k]; !ok {
			return nil, false
		}
	}
	switch v := doc.(type) {
	case string, bool:
		return doc, true
	case json.Number:
		n, err := strconv.ParseFloat(string(v), 64)
		return n, err == nil
	}
	return nil, false
}

// FuzzExtractForm checks the form reader against url.ParseQuery.
func FuzzExtractForm(f *testing.F) {
	for _, s := range []string{"model=m&n=1&a[b]=x&flag=true", "n=1&n=2", "model=%zz", "a;b", "N=1", "n[]=1", "model=a+b%20c", "&&=&"} {
		f.Add(s)
	}
	fields, _ := fuzzFields(f)
	f.Fuzz(func(t *testing.T, raw string) {
		params := map[string]any{}
		if err := extractForm(raw, fields, params, ErrBodyUnparseable); err != nil {
			return
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // ParseQuery also rejects bad escapes in keys and values nobody selected
		}
		for i := range fields {
			vals := q[fields[i].formKey]
			got, has := params[fields[i].param]
			if has != (len(vals) == 1) {
				t.Fatalf("%s: got %v (%v), url.ParseQuery gives %q", fields[i].formKey, got, has, vals)
			}
			if has {
				want, err := textValue(&fields[i], vals[0])
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: got %#v, want %#v", fields[i].formKey, got, want)
				}
			}
		}
	})
}

// FuzzAnalyzeGraphQL checks the GraphQL reader against gqlparser: when both
// accept a document, they agree on the operation type and its top-level
// fields.
func FuzzAnalyzeGraphQL(f *testing.F) {
	for _, s := range []string{
		`mutation { a: mergePullRequest(input: {id: "x"}) { clientMutationId } }`,
		`query Q($n: Int = 1) @d { viewer { login } ...F } fragment F on Query { rateLimit { cost } }`,
		`{ search(query: "} mutation {", type: ISSUE) { issueCount } }`,
		`query A { a } query B { b }`,
		`mutation { ... on Mutation { x } ... @skip(if: true) { y } }`,
		"{ a(s: \"\"\"x \\\"\"\" }\"\"\") }",
	} {
		f.Add(s, "")
	}
	f.Add(`query A { a } mutation B { b }`, "B")
	f.Fuzz(func(t *testing.T, doc, opName string) {
		got, err := analyzeGraphQL(doc, opName)
		if err != nil {
			return
		}
		qd, gerr := parser.ParseQuery(&ast.Source{Input: doc})
		if gerr != nil {
			return
		}
		var op *ast.OperationDefinition
		if opName == "" && len(qd.Operations) == 1 {
			op = qd.Operations[0]
		} else {
			op = qd.Operations.ForName(opName)
		}
		if op == nil {
			t.Fatalf("we chose an operation gqlparser cannot find in %q", doc)
		}
		names := map[string]bool{}
		collectFields(op.SelectionSet, qd.Fragments, names, map[string]bool{})
		if len(names) > 1 {
			delete(names, "__typename")
		}
		var want []string
		for n := range names {
			want = append(want, n)
		}
		if string(op.Operation) != got.kind || !sameSet(got.fields, want) {
			t.Fatalf("%q: got %s %v, gqlparser gives %s %v", doc, got.kind, got.fields, op.Operation, want)
		}
	})
}

func collectFields(set ast.SelectionSet, frags ast.FragmentDefinitionList, out, seen map[string]bool) {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			out[s.Name] = true
		case *ast.InlineFragment:
			collectFields(s.SelectionSet, frags, out, seen)
		case *ast.FragmentSpread:
			if fd := frags.ForName(s.Name); fd != nil && !seen[s.Name] {
				seen[s.Name] = true
				collectFields(fd.SelectionSet, frags, out, seen)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}
