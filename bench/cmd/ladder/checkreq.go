//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/bridle-gw/bridle/envoy"
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
func checkRequests(file, dumpDir, pathFormat string, n int) (string, error) {
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
	h.Headers[envoy.HeaderAgentID] = benchAgent
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
