//go:build bench

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/extauthz"
)

// writeProtoset writes the descriptors of envoy.service.auth.v3 and
// everything it imports, which ghz needs (Bridle's decision service does
// not serve gRPC reflection).
func writeProtoset(path string) error {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(authv3.File_envoy_service_auth_v3_external_auth_proto)
	b, err := proto.Marshal(set)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// checkRequests writes the request-phase CheckRequests ghz sends, as
// count-prefixed binary messages (ghz sends them round-robin, and decoding
// binary costs ghz far less CPU than a JSON template per call): the one
// Envoy sent the no-op server during rung 3 (dumpDir/request.json) when there
// is one, else an equivalent built here; with the agent identity Envoy's
// filter state carries under Bridle (the no-op server gives none), and n
// paths from pathFormat (a %d is replaced by the message's number, so each
// message is a different action input and Bridle's policy cache misses).
func checkRequests(file, dumpDir, pathFormat, token string, n int) (string, error) {
	req := &authv3.CheckRequest{}
	source := "captured from Envoy"
	b, err := os.ReadFile(filepath.Join(dumpDir, envoy.PhaseRequest+".json"))
	if err == nil {
		err = protojson.Unmarshal(b, req)
	}
	if err != nil {
		source = "synthetic (no capture)"
		req = syntheticCheck()
	}
	h := req.GetAttributes().GetRequest().GetHttp()
	if h == nil || req.GetAttributes().GetContextExtensions()[envoy.CtxPhase] != envoy.PhaseRequest {
		return "", fmt.Errorf("captured CheckRequest is not a request-phase one")
	}
	h.Headers[envoy.HeaderAgentID] = extauthz.TunnelIdentity(benchAgent, token)
	h.Headers[envoy.HeaderConnectAuthority] = benchHost + ":443"
	if !strings.Contains(pathFormat, "%d") {
		n = 1
	}
	var out []byte
	for i := range n {
		p := pathFormat
		if n > 1 {
			p = fmt.Sprintf(pathFormat, i)
		}
		h.Path = p
		h.Headers[":path"] = p
		m, err := proto.Marshal(req)
		if err != nil {
			return "", err
		}
		out = protowire.AppendVarint(out, uint64(len(m)))
		out = append(out, m...)
	}
	return fmt.Sprintf("%s, %d distinct, path %s", source, n, pathFormat), os.WriteFile(file, out, 0o644)
}

func syntheticCheck() *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: "GET", Host: benchHost, Scheme: "https", Protocol: "HTTP/1.1",
			Headers: map[string]string{
				":authority": benchHost, ":method": "GET", ":scheme": "https",
				"user-agent": "fortio.org/fortio-1.68.2", "accept-encoding": "gzip",
				"x-forwarded-proto": "https",
			},
		}},
		TlsSession:        &authv3.AttributeContext_TLSSession{Sni: benchHost},
		ContextExtensions: map[string]string{envoy.CtxPhase: envoy.PhaseRequest, envoy.CtxConnector: benchConnector, envoy.CtxHost: benchHost},
	}}
}

// probeCheck sends the first Check of a requests file to addr and fails
// unless it is allowed: a Check-only row of denials (say, an identity the
// server no longer accepts) would measure another path than it claims.
func probeCheck(ctx context.Context, addr, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	size, n := protowire.ConsumeVarint(b)
	if n < 0 || uint64(len(b)-n) < size {
		return errors.New(file + ": not count-prefixed CheckRequests")
	}
	req := &authv3.CheckRequest{}
	if err := proto.Unmarshal(b[n:n+int(size)], req); err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req)
	if err != nil {
		return fmt.Errorf("probe Check to %s: %w", addr, err)
	}
	if resp.GetOkResponse() == nil {
		return fmt.Errorf("probe Check to %s was denied (%v): the Check-only rows would measure denials", addr, resp.GetDynamicMetadata().GetFields()["reason"])
	}
	return nil
}
