package extauthz

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/bridle-gw/bridle/internal/connectors"
)

// Contract with the Envoy config (package envoy builds the same names; a
// test keeps them equal).
const (
	phaseKey     = "phase"
	connectorKey = "connector"
	hostKey      = "host"
	phaseConnect = "connect"
	phasePlain   = "plain"
	phaseRequest = "request"

	headerAgentID          = "x-bridle-agent-id"
	headerConnectAuthority = "x-bridle-connect-authority"
	headerDecisionID       = "x-bridle-decision-id"
	metadataAgentID        = "agent_id"
)

// request is the part of a CheckRequest the pipeline reads.
type request struct {
	ctx     map[string]string
	headers map[string]string // lower-case names
	method  string
	host    string // :authority
	path    string // includes the query string
	sni     string
	http    *authv3.AttributeContext_HttpRequest
}

func newRequest(r *authv3.CheckRequest) request {
	a := r.GetAttributes()
	h := a.GetRequest().GetHttp()
	return request{
		ctx:     a.GetContextExtensions(),
		headers: h.GetHeaders(),
		method:  h.GetMethod(),
		host:    strings.ToLower(h.GetHost()),
		path:    h.GetPath(),
		sni:     a.GetTlsSession().GetSni(),
		http:    h,
	}
}

// partialBodyHeader is set by Envoy on Checks whose body it buffered:
// "false" for the whole body, "true" when it was cut at the buffer limit.
const partialBodyHeader = "x-envoy-auth-partial-body"

// connectorRequest is the request as the connector parses it: the path
// exactly as Envoy forwards it, and the body only if Envoy buffered it.
func (in request) connectorRequest(agent string, c *connectors.Connector) connectors.Request {
	hdr := make(http.Header, len(in.headers))
	// One backing array for every header's one value, instead of a slice
	// allocation per header; capped so an append by the connector copies.
	vals := make([]string, 0, len(in.headers))
	for k, v := range in.headers {
		vals = append(vals, v)
		hdr[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	partial, buffered := in.headers[partialBodyHeader]
	body := in.http.GetRawBody()
	if len(body) == 0 && in.http.GetBody() != "" {
		body = []byte(in.http.GetBody())
	}
	return connectors.Request{
		Agent:         agent,
		Method:        in.method,
		Host:          in.ctx[hostKey],
		Path:          in.path,
		Header:        hdr,
		Body:          body,
		BodyBuffered:  buffered,
		BodyTruncated: partial == "true",
	}
}

// agentCredentialHeaders are headers an agent might use to carry its own
// credential. They are removed on every allow (DESIGN invariant 3), with
// the connector's own list, except the header Bridle sets, which is
// overwritten instead (Envoy applies removals after sets, so a header must
// not be in both).
var agentCredentialHeaders = []string{"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"}

func respond(d *Decision) *authv3.CheckResponse {
	if d.Allow {
		return allowResponse(d)
	}
	return denyResponse(d)
}

func allowResponse(d *Decision) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{header(headerDecisionID, d.ID)},
	}
	if d.Phase != phaseConnect {
		cred := ""
		// Sized once: removals are the two lists below plus the request's
		// x-bridle-* headers.
		ok.HeadersToRemove = make([]string, 0, len(agentCredentialHeaders)+len(d.Strip)+len(d.bridleHeaders))
		if d.Credential != nil {
			cred = strings.ToLower(d.Credential.Name)
			ok.Headers = []*corev3.HeaderValueOption{header(cred, d.Credential.Value)}
		}
		for _, c := range d.Companions {
			ok.Headers = append(ok.Headers, header(c.Name, c.Value))
		}
		for _, list := range [][]string{agentCredentialHeaders, d.Strip} {
			for _, h := range list {
				if h != cred && !slices.Contains(ok.HeadersToRemove, h) {
					ok.HeadersToRemove = append(ok.HeadersToRemove, h)
				}
			}
		}
		// Bridle's own Envoy strips x-bridle-* after this filter anyway;
		// an Envoy configured by someone else (a mesh gateway) relies on
		// this list.
		ok.HeadersToRemove = append(ok.HeadersToRemove, d.bridleHeaders...)
	}
	return &authv3.CheckResponse{
		Status:          &rpcstatus.Status{Code: int32(code.Code_OK)},
		HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
		DynamicMetadata: metadata(d),
	}
}

func denyResponse(d *Decision) *authv3.CheckResponse {
	status := d.Status()
	headers := []*corev3.HeaderValueOption{
		header("content-type", "application/json"),
		header(headerDecisionID, d.ID),
	}
	grpcCode := code.Code_PERMISSION_DENIED
	if status == 407 {
		grpcCode = code.Code_UNAUTHENTICATED
		headers = append(headers, header("proxy-authenticate", `Basic realm="bridle"`))
	}
	if d.RetryAfter > 0 {
		headers = append(headers, header("retry-after", strconv.Itoa(int(d.RetryAfter/time.Second))))
	}
	if d.ApprovalID != "" {
		headers = append(headers, header("x-bridle-approval-id", d.ApprovalID))
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpcCode)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: headers,
			Body:    string(d.Body()),
		}},
		DynamicMetadata: metadata(d),
	}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// Metadata values shared by every response that carries them. Responses
// only read them (gRPC marshals them, and protobuf messages are safe for
// concurrent reads), so one copy serves every Check instead of two
// allocations per value per response.
var (
	allowValue    = structpb.NewStringValue("allow")
	denyValue     = structpb.NewStringValue("deny")
	statusOKValue = structpb.NewStringValue("200")
)

// metadataFields is the most fields metadata sets (the map's initial size).
const metadataFields = 8

// metadata is the decision as Envoy's access log sees it (joined with the
// decision record on decision_id). It never holds a credential.
func metadata(d *Decision) *structpb.Struct {
	f := make(map[string]*structpb.Value, metadataFields)
	f["decision_id"] = structpb.NewStringValue(d.ID)
	if d.Allow {
		f["decision"], f["status"] = allowValue, statusOKValue
	} else {
		f["decision"], f["status"] = denyValue, structpb.NewStringValue(strconv.Itoa(d.Status()))
	}
	if d.Agent != "" {
		f["agent"] = structpb.NewStringValue(d.Agent)
		if d.Allow && d.Phase == phaseConnect {
			// Read by set_filter_state and carried into the tunnel.
			f[metadataAgentID] = structpb.NewStringValue(carried(d.Agent, d.cred))
		}
	}
	if d.Connector != "" {
		f["connector"] = structpb.NewStringValue(d.Connector)
	}
	if d.Action != "" {
		f["action"] = structpb.NewStringValue(d.Action)
	}
	if d.Rule != "" {
		f["rule"] = structpb.NewStringValue(d.Rule)
	}
	if !d.Allow {
		f["reason"] = structpb.NewStringValue(d.reason())
	}
	return &structpb.Struct{Fields: f}
}
