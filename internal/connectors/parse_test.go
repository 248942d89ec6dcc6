package connectors

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type parseCase struct {
	name        string
	method      string
	path        string
	body        string
	contentType string
	header      map[string]string
	truncated   bool
	want        error
}

func runParseErrors(t *testing.T, spec Spec, cases []parseCase) {
	t.Helper()
	c := newTestConnector(t, spec)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req := testRequest(c, tt.method, tt.path, tt.body, tt.contentType)
			for k, v := range tt.header {
				req.Header.Del(k)
				if v == "" {
					continue
				}
				for _, one := range strings.Split(v, "\n") {
					req.Header.Add(k, one)
				}
			}
			req.BodyTruncated = tt.truncated
			got, err := c.Parse(req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got action %q params %v err %v, want %v", got.Type, got.Params, err, tt.want)
			}
			if got.Params != nil {
				t.Fatalf("got params %v with an error", got.Params)
			}
		})
	}
}

// get is a GET request case.
func get(name, path string, want error) parseCase {
	return parseCase{name: name, method: "GET", path: path, want: want}
}

func TestParseRefusesUnreadableOrAmbiguousTargets(t *testing.T) {
	runParseErrors(t, Spec{Name: "gh", Type: TypeGitHub}, []parseCase{
		get("refuses an empty target", "", ErrInvalidPath),
		get("refuses an absolute-form target", "https://api.github.com/user", ErrInvalidPath),
		get("refuses the asterisk form", "*", ErrInvalidPath),
		get("refuses a dot-dot segment", "/repos/octo/hello/../prod", ErrInvalidPath),
		get("refuses a dot segment", "/repos/./octo/hello", ErrInvalidPath),
		get("refuses an encoded dot-dot segment", "/repos/octo/%2e%2E/prod", ErrInvalidPath),
		get("refuses an encoded dot segment", "/repos/%2E/hello", ErrInvalidPath),
		get("refuses dot-dot behind an encoded slash", "/repos/octo/hello%2F..%2F..%2Fprod", ErrInvalidPath),
		get("refuses dot-dot behind an encoded backslash", "/repos/octo/hello%5C..%5Cprod", ErrInvalidPath),
		get("refuses an incomplete escape", "/repos/octo/hello%2", ErrInvalidPath),
		get("refuses a non-hex escape", "/repos/octo/hel%zzlo", ErrInvalidPath),
		get("refuses an encoded NUL", "/repos/octo/hello%00", ErrInvalidPath),
		get("refuses an encoded line feed", "/repos/octo/he%0allo", ErrInvalidPath),
		get("refuses encoded invalid UTF-8", "/repos/octo/%ff", ErrInvalidPath),
		get("refuses a raw space", "/repos/octo/hel lo", ErrInvalidPath),
		get("refuses a raw backslash", "/repos/octo\\hello", ErrInvalidPath),
		get("refuses a raw fragment mark", "/repos/octo/hello#x", ErrInvalidPath),
		get("refuses raw non-ASCII bytes", "/repos/octo/h\xc3\xa9llo", ErrInvalidPath),
		get("refuses too many segments", strings.Repeat("/a", maxSegments+1), ErrInvalidPath),
		get("refuses an invalid escape in a selected query key", "/repos/octo/hello/pulls?st%zate=open", ErrInvalidPath),
		get("refuses an invalid escape in a selected query value", "/repos/octo/hello/pulls?state=op%zzen", ErrInvalidPath),
		get("refuses a selected query field given twice", "/repos/octo/hello/pulls?base=main&base=prod", ErrAmbiguous),
		get("refuses a selected query field given twice through an escape", "/repos/octo/hello/pulls?base=main&b%61se=prod", ErrAmbiguous),
		get("refuses a case variant of a selected query field", "/repos/octo/hello/pulls?Base=prod", ErrAmbiguous),
		get("refuses an array form of a selected query field", "/repos/octo/hello/pulls?base[]=prod", ErrAmbiguous),
		get("refuses a raw semicolon where query fields are read", "/repos/octo/hello/pulls?x=1;base=prod", ErrAmbiguous),
	})
}

func TestParseRefusesUnreadableJSONBodies(t *testing.T) {
	merge := "/repos/octo/hello/pulls/1/merge"
	put := func(name, body string, want error) parseCase {
		return parseCase{name: name, method: "PUT", path: merge, body: body, contentType: "application/json", want: want}
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	runParseErrors(t, Spec{Name: "gh", Type: TypeGitHub}, []parseCase{
		put("refuses invalid JSON", `{"merge_method":}`, ErrBodyUnparseable),
		put("refuses a JSON body cut short", `{"merge_method":"squash"`, ErrBodyUnparseable),
		put("refuses data after the JSON value", `{"merge_method":"squash"}{"merge_method":"merge"}`, ErrBodyUnparseable),
		put("refuses single-quoted strings", `{'merge_method':'squash'}`, ErrBodyUnparseable),
		put("refuses a trailing comma", `{"merge_method":"squash",}`, ErrBodyUnparseable),
		put("refuses a raw control byte in a string", "{\"x\":\"a\tb\"}", ErrBodyUnparseable),
		put("refuses an invalid escape", `{"x":"\q"}`, ErrBodyUnparseable),
		put("refuses a leading zero", `{"x":01}`, ErrBodyUnparseable),
		put("refuses a byte order mark", "\xef\xbb\xbf{}", ErrBodyUnparseable),
		put("refuses nesting deeper than the limit", deep, ErrBodyUnparseable),
		put("refuses a selected field that is an object", `{"merge_method":{"a":1}}`, ErrBodyUnparseable),
		put("refuses a selected field that is an array", `{"sha":["a","b"]}`, ErrBodyUnparseable),
		put("refuses a lone surrogate in a selected field", `{"sha":"\ud800"}`, ErrBodyUnparseable),
		put("refuses invalid UTF-8 in a selected field", "{\"sha\":\"\xff\"}", ErrBodyUnparseable),
		put("refuses a selected key given twice", `{"merge_method":"merge","merge_method":"squash"}`, ErrAmbiguous),
		put("refuses a selected key given twice through an escape", `{"sha":"a","s\u0068a":"b"}`, ErrAmbiguous),
		put("refuses a case variant of a selected key", `{"merge_method":"merge","Merge_Method":"squash"}`, ErrAmbiguous),
	})
	runParseErrors(t, Spec{Name: "oa", Type: TypeOpenAI}, []parseCase{
		{name: "refuses a model that is not a string", method: "POST", path: "/v1/chat/completions", body: `{"model":5}`, contentType: "application/json", want: ErrBodyUnparseable},
		{name: "refuses a number out of range", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","max_tokens":1e400}`, contentType: "application/json", want: ErrBodyUnparseable},
		{name: "refuses stream given as a string", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","stream":"true"}`, contentType: "application/json", want: ErrBodyUnparseable},
		{name: "refuses a model given twice", method: "POST", path: "/v1/chat/completions", body: `{"model":"a","model":"b"}`, contentType: "application/json", want: ErrAmbiguous},
		{name: "refuses a Kelvin-sign variant of a selected key", method: "POST", path: "/v1/chat/completions", body: "{\"model\":\"m\",\"max_to\u212aens\":5}", contentType: "application/json", want: ErrAmbiguous},
		{name: "refuses an OpenAI-Project header given twice", method: "GET", path: "/v1/models", header: map[string]string{"OpenAI-Project": "p1\np2"}, want: ErrAmbiguous},
	})
	runParseErrors(t, crmSpec, []parseCase{
		{name: "refuses a nested parent given twice", method: "POST", path: "/v1/customers", body: `{"address":{"country":"FR"},"address":{"city":"x"}}`, contentType: "application/json", want: ErrAmbiguous},
	})
}

func TestParseRefusesMissingOrTruncatedBodies(t *testing.T) {
	merge := "/repos/octo/hello/pulls/1/merge"
	runParseErrors(t, Spec{Name: "gh", Type: TypeGitHub}, []parseCase{
		{name: "refuses a body Envoy marked partial", method: "PUT", path: merge, body: `{"merge_method":"squash"}`, contentType: "application/json", truncated: true, want: ErrBodyUnparseable},
		{name: "refuses a body shorter than content-length", method: "PUT", path: merge, body: `{"merge_method":"squash"}`, contentType: "application/json", header: map[string]string{"Content-Length": "999"}, want: ErrBodyUnparseable},
		{name: "refuses an invalid content-length", method: "PUT", path: merge, body: `{}`, contentType: "application/json", header: map[string]string{"Content-Length": "-1"}, want: ErrBodyUnparseable},
		{name: "refuses content-length given twice", method: "PUT", path: merge, body: `{}`, contentType: "application/json", header: map[string]string{"Content-Length": "2\n2"}, want: ErrAmbiguous},
		{name: "refuses an empty GraphQL body", method: "POST", path: "/graphql", want: ErrBodyUnparseable},
	})
	c := newTestConnector(t, Spec{Name: "gh", Type: TypeGitHub})
	req := testRequest(c, "PUT", merge, "", "")
	req.Header.Set("Content-Length", "24") // Envoy did not buffer the body
	if _, err := c.Parse(req); !errors.Is(err, ErrBodyUnparseable) {
		t.Fatalf("missing body: got %v, want ErrBodyUnparseable", err)
	}
	// An HTTP/2 body has no content-length: only BodyBuffered tells an empty
	// body from one Envoy did not buffer.
	req = testRequest(c, "PUT", merge, "", "")
	req.BodyBuffered = false
	if _, err := c.Parse(req); !errors.Is(err, ErrBodyUnparseable) {
		t.Fatalf("unbuffered body: got %v, want ErrBodyUnparseable", err)
	}
	req = testRequest(c, "GET", "/repos/o/r", "", "")
	req.BodyBuffered = false
	if _, err := c.Parse(req); err != nil {
		t.Fatalf("a route that reads no body needs no buffering: %v", err)
	}
}

func TestParseRefusesAmbiguousForms(t *testing.T) {
	post := func(name, body string, want error) parseCase {
		return parseCase{name: name, method: "POST", path: "/v1/charges", body: body, contentType: "application/x-www-form-urlencoded", want: want}
	}
	runParseErrors(t, Spec{Name: "st", Type: TypeStripe}, []parseCase{
		post("refuses an amount given twice", "amount=100&currency=usd&amount=999999", ErrAmbiguous),
		post("refuses an amount given twice through an escape", "amount=100&%61mount=999999", ErrAmbiguous),
		post("refuses an upper-case amount", "amount=100&AMOUNT=999999", ErrAmbiguous),
		post("refuses an array amount", "amount[]=100", ErrAmbiguous),
		post("refuses a hash amount", "amount[value]=100", ErrAmbiguous),
		post("refuses a raw semicolon", "currency=usd;amount=5", ErrAmbiguous),
		post("refuses a non-numeric amount", "amount=12abc", ErrBodyUnparseable),
		post("refuses a plus-signed amount", "amount=%2B5", ErrBodyUnparseable),
		post("refuses an empty amount", "amount=", ErrBodyUnparseable),
		post("refuses an infinite amount", "amount=Infinity", ErrBodyUnparseable),
		post("refuses an invalid escape", "amount=1&currency=%zz", ErrBodyUnparseable),
		post("refuses invalid UTF-8 in a selected value", "currency=%ff", ErrBodyUnparseable),
		{name: "refuses a Stripe-Account header given twice", method: "GET", path: "/v1/balance", header: map[string]string{"Stripe-Account": "acct_1\nacct_2"}, want: ErrAmbiguous},
	})
	runParseErrors(t, Spec{Name: "slack", Type: TypeSlack}, []parseCase{
		{name: "refuses a channel in both query and body", method: "POST", path: "/api/chat.postMessage?channel=C1", body: "channel=C2", contentType: "application/x-www-form-urlencoded", want: ErrAmbiguous},
		{name: "refuses a body with no content-type", method: "POST", path: "/api/chat.postMessage", body: `{"channel":"C1"}`, header: map[string]string{"Content-Type": ""}, want: ErrBodyUnparseable},
		{name: "refuses a multipart body where fields are needed", method: "POST", path: "/api/chat.postMessage", body: "--x\r\n", contentType: "multipart/form-data; boundary=x", want: ErrBodyUnparseable},
		{name: "refuses two content-types", method: "POST", path: "/api/chat.postMessage", body: `{"channel":"C1"}`, contentType: "application/json", header: map[string]string{"Content-Type": "application/json\ntext/plain"}, want: ErrBodyUnparseable},
	})
}

func TestParseCopiesHeaderParams(t *testing.T) {
	c := newTestConnector(t, Spec{Name: "st", Type: TypeStripe})
	req := testRequest(c, "POST", "/v1/payouts", "amount=1&currency=usd", "application/x-www-form-urlencoded")
	req.Header = http.Header{"stripe-account": {"acct_9"}, "Content-Length": {strconv.Itoa(len(req.Body))}}
	got, err := c.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Params["stripe_account"] != "acct_9" || got.Params["amount"] != 1.0 {
		t.Fatalf("got %v, want stripe_account from a lower-case header key and amount 1", got.Params)
	}
}

func TestParseUnknownKeepsHostLowerAndDropsQuery(t *testing.T) {
	c := newTestConnector(t, Spec{Name: "gh", Type: TypeGitHub})
	got, err := c.Parse(Request{Method: "GET", Host: "API.GitHub.com", Path: "/x?access_token=ghp_secret"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Host != "api.github.com" || got.Path != "/x" || got.Type != "github.unknown" {
		t.Fatalf("got %+v", got)
	}
	if h, _ := got.SpecHash(); strings.Contains(got.Params["path"].(string), "ghp_") || h == "" {
		t.Fatalf("query leaked into params: %v", got.Params)
	}
}
