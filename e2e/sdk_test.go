package e2e

// Official client libraries that nobody here wrote, used as their users use
// them — each given the AGENT's fake key — against the echo upstream behind
// the gateway. Each test asserts that the upstream saw only the injected
// credential, that the headers the SDK needs got through, and that the
// decision log names the expected action. The Python SDKs run under
// `bridle run`, so they also prove that its environment (HTTPS_PROXY with
// the agent's token, SSL_CERT_FILE) is enough for httpx. README.md, "Using
// official SDKs", documents what each one needs.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v93/github"
	"github.com/stripe/stripe-go/v82"
)

// pyCalls is the start of every Python SDK script: call() records the raw
// HTTP answer of an SDK call made with .with_raw_response (the echo
// upstream's JSON is not what the SDK would parse) and the headers the SDK
// sent, or the error it raised; the script ends by printing results as one
// line of JSON.
const pyCalls = `
import json
results = []
def call(fn):
    try:
        raw = fn()
        results.append({"status": raw.http_response.status_code, "body": raw.http_response.text,
                        "sent": dict(raw.http_request.headers)})
    except Exception as e:
        results.append({"error": "%s: %s" % (type(e).__name__, e)})
`

// The openai SDK (httpx2) needs nothing beyond what `bridle run` exports.
func TestOpenAIPythonSDKSendsOnlyTheInjectedKey(t *testing.T) {
	requirePython(t, "openai")
	g, up := sdkGateway(t, "openai", "api.openai.com", "Bearer ")
	// max_retries=0: a retried failure would hide what went wrong.
	res := g.python(t, pyCalls+`
import openai
client = openai.OpenAI(api_key="sk-agent-fake", max_retries=0, timeout=30)
call(lambda: client.chat.completions.with_raw_response.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]))
call(lambda: client.models.with_raw_response.list())
print(json.dumps(results))
`)
	chat, models := echoOf(t, res[0]), echoOf(t, res[1])
	if a := res[0].Sent["authorization"]; a != "Bearer sk-agent-fake" {
		t.Errorf("the SDK sent Authorization %q, want the agent's key", a)
	}
	if chat.Method != "POST" || chat.Path != "/v1/chat/completions" || chat.BodySize == 0 {
		t.Errorf("chat completion reached the upstream as %s %s with %d body bytes", chat.Method, chat.Path, chat.BodySize)
	}
	if models.Method != "GET" || models.Path != "/v1/models" {
		t.Errorf("model list reached the upstream as %s %s", models.Method, models.Path)
	}
	if ua := chat.Header.Get("User-Agent"); !strings.HasPrefix(ua, "OpenAI/Python") {
		t.Errorf("User-Agent %q: not the SDK's request", ua)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=openai.chat_completion.create")
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=openai.model.list")

	// curl, as in OpenAI's API reference.
	out, code := g.bridleRun(t, "curl", "-sS", "https://api.openai.com/v1/chat/completions",
		"-H", "Content-Type: application/json", "-H", "Authorization: Bearer sk-agent-fake",
		"-d", `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}`)
	if code != 0 {
		t.Fatalf("curl exit %d: %s", code, out)
	}
	if got := decodeEcho(t, out); got.Path != "/v1/chat/completions" {
		t.Errorf("curl reached %s", got.Path)
	}
	seen := up.Seen()
	if len(seen) != 3 {
		t.Errorf("upstream saw %d requests, want 3 (no retries)", len(seen))
	}
	assertInjected(t, g, seen, "Authorization", "Bearer "+sdkSecret, "sk-agent-fake")
}

// The anthropic SDK (httpx2) needs nothing either; the key moves from the
// header it uses to the connector's.
func TestAnthropicPythonSDKSendsOnlyTheInjectedKey(t *testing.T) {
	requirePython(t, "anthropic")
	g, up := sdkGateway(t, "anthropic", "api.anthropic.com", "")
	res := g.python(t, pyCalls+`
import anthropic
client = anthropic.Anthropic(api_key="sk-ant-agent-fake", max_retries=0, timeout=30)
call(lambda: client.messages.with_raw_response.create(
    model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hello"}]))
call(lambda: client.models.with_raw_response.list())
print(json.dumps(results))
`)
	msg, models := echoOf(t, res[0]), echoOf(t, res[1])
	if msg.Method != "POST" || msg.Path != "/v1/messages" || msg.BodySize == 0 {
		t.Errorf("message reached the upstream as %s %s with %d body bytes", msg.Method, msg.Path, msg.BodySize)
	}
	if models.Method != "GET" || !strings.HasPrefix(models.Path, "/v1/models") {
		t.Errorf("model list reached the upstream as %s %s", models.Method, models.Path)
	}
	// anthropic 2.x sends the key as Authorization: Bearer (earlier
	// releases sent x-api-key); the gateway removes either and injects
	// x-api-key.
	if a, k := res[0].Sent["authorization"], res[0].Sent["x-api-key"]; a != "Bearer sk-ant-agent-fake" && k != "sk-ant-agent-fake" {
		t.Errorf("the SDK sent neither Authorization nor x-api-key with the agent's key: %v", res[0].Sent)
	}
	sent := res[0].Sent["anthropic-version"]
	if sent == "" {
		t.Fatalf("the SDK sent no anthropic-version: %v", res[0].Sent)
	}
	for _, r := range up.Seen() {
		// The SDK sends its own anthropic-version; the gateway's companion
		// header must neither replace it nor add a second one.
		if v := r.Header.Values("Anthropic-Version"); len(v) != 1 || v[0] != sent {
			t.Errorf("%s: anthropic-version %q, want the SDK's %q", r.Path, v, sent)
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Anthropic/Python") {
			t.Errorf("User-Agent %q: not the SDK's request", ua)
		}
		if a := r.Header.Values("Authorization"); len(a) != 0 {
			t.Errorf("%s: upstream received Authorization %q", r.Path, a)
		}
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=anthropic.message.create")
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=anthropic.model.list")
	seen := up.Seen()
	if len(seen) != 2 {
		t.Errorf("upstream saw %d requests, want 2 (no retries)", len(seen))
	}
	assertInjected(t, g, seen, "X-Api-Key", sdkSecret, "sk-ant-agent-fake")
}

// stripe-go's default http.Client uses http.DefaultTransport, which honours
// HTTPS_PROXY and (on Linux) SSL_CERT_FILE, so a Go agent under `bridle run`
// needs nothing. In-process the test hands the SDK that same setup — the
// agent's proxy URL and Bridle's CA bundle — through BackendConfig.HTTPClient.
func TestStripeGoSDKSendsOnlyTheInjectedKey(t *testing.T) {
	g, up := sdkGateway(t, "stripe", "api.stripe.com", "Bearer ")
	sc := stripe.NewClient("sk_test_agent_fake", stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		HTTPClient:        g.client(g.agentProxy()),
		MaxNetworkRetries: stripe.Int64(0), // a retried failure would hide what went wrong
	})))
	if _, err := sc.V1Customers.Create(t.Context(), &stripe.CustomerCreateParams{Email: stripe.String("ada@example.com")}); err != nil {
		t.Fatalf("customer create: %v", err)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=stripe.customer.create")
	if _, err := sc.V1Charges.Create(t.Context(), &stripe.ChargeCreateParams{
		Amount: stripe.Int64(2000), Currency: stripe.String(string(stripe.CurrencyUSD)), Source: &stripe.PaymentSourceSourceParams{Token: stripe.String("tok_visa")},
	}); err != nil {
		t.Fatalf("charge create: %v", err)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=stripe.charge.create")

	// curl, as in Stripe's API reference: the key as Basic user name.
	out, code := g.bridleRun(t, "curl", "-sS", "https://api.stripe.com/v1/charges", "-u", "sk_test_agent_fake:",
		"-d", "amount=2000", "-d", "currency=usd", "-d", "source=tok_visa")
	if code != 0 {
		t.Fatalf("curl exit %d: %s", code, out)
	}
	seen := up.Seen()
	if len(seen) != 3 {
		t.Fatalf("upstream saw %d requests, want 3 (no retries)", len(seen))
	}
	for i, want := range []string{"/v1/customers", "/v1/charges", "/v1/charges"} {
		r := seen[i]
		if r.Method != "POST" || r.Path != want || r.BodySize == 0 {
			t.Errorf("request %d reached the upstream as %s %s with %d body bytes", i, r.Method, r.Path, r.BodySize)
		}
	}
	for _, r := range seen[:2] {
		if r.Header.Get("Stripe-Version") == "" || r.Header.Get("Idempotency-Key") == "" {
			t.Errorf("%s: the SDK's Stripe-Version or Idempotency-Key did not reach the upstream: %v", r.Path, r.Header)
		}
	}
	assertInjected(t, g, seen, "Authorization", "Bearer "+sdkSecret, "sk_test_agent_fake")
}

// stripe-python verifies TLS against the CA bundle it ships
// (stripe.ca_bundle_path), passing it to requests as verify=..., which
// overrides REQUESTS_CA_BUNDLE and SSL_CERT_FILE: out of the box it rejects
// Bridle's certificate. Pointing stripe.ca_bundle_path at the bundle
// `bridle run` exports is the one line its users add.
func TestStripePythonSDKNeedsItsCABundlePathSet(t *testing.T) {
	requirePython(t, "stripe")
	g, up := sdkGateway(t, "stripe", "api.stripe.com", "Bearer ")
	res := g.python(t, `
import json, os, stripe
results = []
def call():
    try:
        cus = client.v1.customers.create(params={"email": "ada@example.com"})
        results.append({"status": cus.last_response.code, "body": cus.last_response.body})
    except Exception as e:
        results.append({"error": "%s: %s" % (type(e).__name__, e)})
client = stripe.StripeClient("sk_test_agent_fake", max_network_retries=0)
call()
stripe.ca_bundle_path = os.environ["SSL_CERT_FILE"]
call()
print(json.dumps(results))
`)
	if !strings.Contains(res[0].Error, "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("with its own CA bundle: %+v, want a certificate verification error (if stripe-python now honours SSL_CERT_FILE, update README.md)", res[0])
	}
	got := echoOf(t, res[1])
	if got.Method != "POST" || got.Path != "/v1/customers" || got.Header.Get("Stripe-Version") == "" {
		t.Errorf("customer create reached the upstream as %s %s, Stripe-Version %q", got.Method, got.Path, got.Header.Get("Stripe-Version"))
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=stripe.customer.create")
	seen := up.Seen()
	if len(seen) != 1 {
		t.Errorf("upstream saw %d requests, want 1", len(seen))
	}
	assertInjected(t, g, seen, "Authorization", "Bearer "+sdkSecret, "sk_test_agent_fake")
}

// go-github's default client, like stripe-go's, uses http.DefaultTransport;
// in-process the test passes the agent's proxy and Bridle's CA through
// WithHTTPClient.
func TestGoGitHubSDKSendsOnlyTheInjectedToken(t *testing.T) {
	g, up := sdkGateway(t, "github", "api.github.com", "Bearer ")
	gh, err := github.NewClient(github.WithHTTPClient(g.client(g.agentProxy())), github.WithAuthToken("ghp_agent_fake"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, _, err := gh.Repositories.Get(ctx, "acme", "api"); err != nil {
		t.Fatalf("repo get: %v", err)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=github.repo.get")
	if _, _, err := gh.Issues.Create(ctx, "acme", "api", github.CreateIssueRequest{Title: "flaky test"}); err != nil {
		t.Fatalf("issue create: %v", err)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=github.issue.create")
	if _, _, err := gh.PullRequests.Merge(ctx, "acme", "api", 7, "ship it", &github.PullRequestOptions{MergeMethod: "squash"}); err != nil {
		t.Fatalf("pr merge: %v", err)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=github.pr.merge")

	seen := up.Seen()
	if len(seen) != 3 {
		t.Fatalf("upstream saw %d requests, want 3", len(seen))
	}
	for i, want := range []string{"GET /repos/acme/api", "POST /repos/acme/api/issues", "PUT /repos/acme/api/pulls/7/merge"} {
		if got := seen[i].Method + " " + seen[i].Path; got != want {
			t.Errorf("request %d reached the upstream as %s, want %s", i, got, want)
		}
	}
	for _, r := range seen {
		if r.Header.Get("X-Github-Api-Version") == "" || !strings.HasPrefix(r.Header.Get("User-Agent"), "go-github") {
			t.Errorf("%s: the SDK's X-GitHub-Api-Version or User-Agent did not reach the upstream: %v", r.Path, r.Header)
		}
	}
	assertInjected(t, g, seen, "Authorization", "Bearer "+sdkSecret, "ghp_agent_fake")
}

// goAgent is a Go program that uses stripe-go and go-github exactly as
// their READMEs show, with no proxy or CA setup of its own.
const goAgent = `package main

import (
	"context"
	"fmt"

	"github.com/google/go-github/v93/github"
	"github.com/stripe/stripe-go/v82"
)

func main() {
	ctx := context.Background()
	sc := stripe.NewClient("sk_test_agent_fake")
	_, err := sc.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("ada@example.com")})
	fmt.Printf("stripe: %v\n", err)
	gh, err := github.NewClient(github.WithAuthToken("ghp_agent_fake"))
	if err == nil {
		_, _, err = gh.Repositories.Get(ctx, "acme", "api")
	}
	fmt.Printf("github: %v\n", err)
}
`

// A Go agent using stripe-go's and go-github's default clients needs no
// setup under `bridle run`: both use http.DefaultTransport, which reads
// HTTPS_PROXY, and Go on Linux trusts SSL_CERT_FILE.
func TestGoSDKsNeedNoSetupUnderBridleRun(t *testing.T) {
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "main.go"), filepath.Join(dir, "agent")
	if err := os.WriteFile(src, []byte(goAgent), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", bin, src)
	build.Dir = repoRoot // resolve the SDKs through the repository's go.mod
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Go agent: %v\n%s", err, out)
	}
	stripeUp, githubUp := newUpstream(t, "api.stripe.com"), newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		connectors: []connector{
			{name: "stripe", typ: "stripe", host: "api.stripe.com", up: stripeUp, credValue: "Bearer ${env:E2E_SDK_SECRET}"},
			{name: "github", typ: "github", host: "api.github.com", up: githubUp, credValue: "Bearer ${env:E2E_SDK_SECRET}"},
		},
		env: []string{"E2E_SDK_SECRET=" + sdkSecret},
	})
	out, code := g.bridleRun(t, bin)
	if code != 0 || out != "stripe: <nil>\ngithub: <nil>\n" {
		t.Fatalf("exit %d: %s", code, out)
	}
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=stripe.customer.create")
	g.waitLog(t, "decision=allow", "agent=agent-1", "action=github.repo.get")
	assertInjected(t, g, stripeUp.Seen(), "Authorization", "Bearer "+sdkSecret, "sk_test_agent_fake")
	assertInjected(t, g, githubUp.Seen(), "Authorization", "Bearer "+sdkSecret, "ghp_agent_fake")
}
