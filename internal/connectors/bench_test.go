package connectors

import (
	"strings"
	"testing"
)

func benchParse(b *testing.B, spec Spec, req func(*Connector) Request) {
	c := newTestConnector(b, spec)
	r := req(c)
	if _, err := c.Parse(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Parse(r); err != nil {
			b.Fatal(err)
		}
	}
}

var benchGitHub = Spec{Name: "gh", Type: TypeGitHub}

func BenchmarkParseGitHubREST(b *testing.B) {
	b.Run("get pull request", func(b *testing.B) {
		benchParse(b, benchGitHub, func(c *Connector) Request {
			return testRequest(c, "GET", "/repos/octo/hello/pulls/42", "", "")
		})
	})
	b.Run("merge with body", func(b *testing.B) {
		benchParse(b, benchGitHub, func(c *Connector) Request {
			return testRequest(c, "PUT", "/repos/octo/hello/pulls/42/merge",
				`{"commit_title":"Merge","merge_method":"squash","sha":"6dcb09b5b57875f334f61aebed695e2e4193db5e"}`, "application/json")
		})
	})
}

func BenchmarkParseGraphQL(b *testing.B) {
	body := gqlBody(`mutation Merge($id: ID!) {
  mergePullRequest(input: {pullRequestId: $id, mergeMethod: SQUASH}) {
    pullRequest { number merged mergedAt baseRefName }
  }
}`)
	benchParse(b, benchGitHub, func(c *Connector) Request {
		return testRequest(c, "POST", "/graphql", body, "application/json")
	})
}

func BenchmarkParseUnknown(b *testing.B) {
	benchParse(b, benchGitHub, func(c *Connector) Request {
		return testRequest(c, "GET", "/repos/octo/hello/traffic/popular/paths?per=week", "", "")
	})
}

func BenchmarkParseOpenAIChat16KiB(b *testing.B) {
	body := `{"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 16<<10/12) + `"}],"model":"gpt-4o-mini","stream":true}`
	benchParse(b, Spec{Name: "oa", Type: TypeOpenAI}, func(c *Connector) Request {
		return testRequest(c, "POST", "/v1/chat/completions", body, "application/json")
	})
}

func BenchmarkParseStripeForm(b *testing.B) {
	benchParse(b, Spec{Name: "st", Type: TypeStripe}, func(c *Connector) Request {
		return testRequest(c, "POST", "/v1/payment_intents", "amount=2000&currency=usd&customer=cus_123&payment_method_types[]=card", "application/x-www-form-urlencoded")
	})
}

func BenchmarkSpecHash(b *testing.B) {
	c := newTestConnector(b, benchGitHub)
	a, err := c.Parse(testRequest(c, "PUT", "/repos/octo/hello/pulls/42/merge", `{"merge_method":"squash"}`, "application/json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.SpecHash(); err != nil {
			b.Fatal(err)
		}
	}
}
