package envoy

import (
	"sort"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	setfsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	setfshttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_filter_state/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// mustAny packs a message into an Any. Marshalling a well-formed generated
// message cannot fail, so a failure here is a programming error caught by
// the golden tests; it is reported as an empty Any that Envoy rejects
// rather than a panic.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		return &anypb.Any{}
	}
	return a
}

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

func httpFilter(name string, cfg proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)}}
}

// extAuthzFilter calls the decision service. It fails closed: an error or
// timeout is a 503, never an allow (DESIGN invariant 9).
func extAuthzFilter(prefix string, timeout time.Duration, tls bool) *hcmv3.HttpFilter {
	return httpFilter(ExtAuthzFilterName, &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		StatPrefix:          prefix,
		Services:            &extauthzv3.ExtAuthz_GrpcService{GrpcService: authzService(timeout)},
		FailureModeAllow:    false,
		StatusOnError:       &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		IncludeTlsSession:   tls,
		ValidateMutations:   true,
		// The decision service may only add ordinary request headers: no
		// routing (:authority, host) or Envoy-internal headers, so an allow
		// can never redirect the request elsewhere.
		DecoderHeaderMutationRules: &mutationv3.HeaderMutationRules{
			DisallowSystem:  wrapBool(true),
			AllowAllRouting: wrapBool(false),
			AllowEnvoy:      wrapBool(false),
		},
	})
}

func authzService(timeout time.Duration) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster}},
		Timeout:         dur(timeout),
	}
}

// authzPerRoute sets the context extensions the decision service reads.
// They come from config, so an agent cannot forge them. Bodies are never
// buffered on CONNECT routes (the stream never ends) and only where a
// connector reads them.
//
// hold, when set, replaces the filter's short timeout on routes whose
// requests may wait for a human: only those wait long when the decision
// service hangs; everything else fails closed fast.
func authzPerRoute(ext map[string]string, body bool, hold time.Duration) map[string]*anypb.Any {
	cs := &extauthzv3.CheckSettings{ContextExtensions: ext, DisableRequestBodyBuffering: !body}
	if hold > 0 {
		cs.ServiceOverride = &extauthzv3.CheckSettings_GrpcService{GrpcService: authzService(hold)}
	}
	if body {
		// allow_partial_message: a larger body is not refused with 413
		// but sent in part; Envoy marks it (x-envoy-auth-partial-body:
		// true) and a route that needs the body then denies.
		cs.WithRequestBody = &extauthzv3.BufferSettings{MaxRequestBytes: MaxBody, AllowPartialMessage: true, PackAsBytes: true}
	}
	return map[string]*anypb.Any{
		ExtAuthzFilterName: mustAny(&extauthzv3.ExtAuthzPerRoute{
			Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: cs},
		}),
	}
}

// setFilterStateFilter copies the authenticated agent id (from the connect
// Check's dynamic metadata) and the CONNECT authority into filter state
// shared ONCE with the internal listener connection. hashable_string makes
// the values part of the connection pool key, so one agent's tunnel is
// never reused for another's (envoy#35711).
func setFilterStateFilter() *hcmv3.HttpFilter {
	value := func(key, format string) *setfsv3.FilterStateValue {
		return &setfsv3.FilterStateValue{
			Key:        &setfsv3.FilterStateValue_ObjectKey{ObjectKey: key},
			FactoryKey: "envoy.hashable_string",
			Value: &setfsv3.FilterStateValue_FormatString{FormatString: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{
					Specifier: &corev3.DataSource_InlineString{InlineString: format},
				}},
			}},
			SharedWithUpstream: setfsv3.FilterStateValue_ONCE,
			SkipIfEmpty:        true,
		}
	}
	return httpFilter("envoy.filters.http.set_filter_state", &setfshttpv3.Config{
		OnRequestHeaders: []*setfsv3.FilterStateValue{
			value(FilterStateAgent, "%DYNAMIC_METADATA("+ExtAuthzFilterName+":"+MetadataAgentID+")%"),
			value(FilterStateAuthority, "%REQ(:AUTHORITY)%"),
		},
	})
}

// identityFilter runs first on decrypted requests: it removes any
// x-bridle-agent-id / x-bridle-connect-authority the agent sent, then sets
// them from the filter state of the CONNECT that carried this connection.
func identityFilter() *hcmv3.HttpFilter {
	set := func(header, key string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: header, Value: "%FILTER_STATE(" + key + ":PLAIN)%"},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	return httpFilter("envoy.filters.http.header_mutation", &headermutv3.HeaderMutation{
		Mutations: &headermutv3.Mutations{RequestMutations: []*mutationv3.HeaderMutation{
			{Action: &mutationv3.HeaderMutation_Remove{Remove: HeaderAgentID}},
			{Action: &mutationv3.HeaderMutation_Remove{Remove: HeaderConnectAuthority}},
			{Action: &mutationv3.HeaderMutation_Append{Append: set(HeaderAgentID, FilterStateAgent)}},
			{Action: &mutationv3.HeaderMutation_Append{Append: set(HeaderConnectAuthority, FilterStateAuthority)}},
		}},
	})
}

// stripFilter runs after ext_authz: whatever the decision service returned,
// no x-bridle-* header and no proxy-authorization reaches an upstream
// (DESIGN invariant 3). It matches by prefix, so a header Bridle does not
// know of yet is stripped too.
func stripFilter() *hcmv3.HttpFilter {
	return httpFilter("bridle.strip", &headermutv3.HeaderMutation{
		Mutations: &headermutv3.Mutations{RequestMutations: []*mutationv3.HeaderMutation{
			{Action: &mutationv3.HeaderMutation_RemoveOnMatch_{RemoveOnMatch: &mutationv3.HeaderMutation_RemoveOnMatch{
				KeyMatcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "x-bridle-"}, IgnoreCase: true},
			}}},
			{Action: &mutationv3.HeaderMutation_Remove{Remove: "proxy-authorization"}},
			{Action: &mutationv3.HeaderMutation_Remove{Remove: "proxy-connection"}},
			// Added by the connection manager; the upstream need not know
			// a proxy is in the path.
			{Action: &mutationv3.HeaderMutation_Remove{Remove: "x-forwarded-proto"}},
		}},
	})
}

func routerFilter() *hcmv3.HttpFilter {
	// suppress_envoy_headers keeps x-envoy-* out of upstream requests.
	return httpFilter("envoy.filters.http.router", &routerv3.Router{SuppressEnvoyHeaders: true})
}

// accessLog streams one entry per request to Bridle's ALS sink. Headers are
// not logged here (only what the entry carries by default: method,
// authority, path, status, timings); the decision record is authoritative.
func accessLog(name string) []*accesslogv3.AccessLog {
	return []*accesslogv3.AccessLog{{
		Name: "envoy.access_loggers.http_grpc",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&grpcalsv3.HttpGrpcAccessLogConfig{
			CommonConfig: &grpcalsv3.CommonGrpcAccessLogConfig{
				LogName:             name,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster},
				}},
				BufferFlushInterval: dur(time.Second),
			},
		})},
	}}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
