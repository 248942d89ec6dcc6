//go:build bench

// Command noop-authz is an Envoy ext_authz v3 server that allows every Check
// and does nothing else: the decision-service ceiling of Bridle's benchmark
// ladder (bench/README.md). Any decision service costs at least what this
// one costs — gRPC, protobuf decode of the CheckRequest, an OK answer.
//
// It also accepts Envoy's gRPC access-log stream and discards it, because
// Bridle's Envoy config sends access logs to the same cluster as its Checks:
// pointing that cluster here keeps the Envoy side identical to Bridle's.
//
//	go build -tags bench -o bin/noop-authz ./bench/cmd/noop-authz
//	noop-authz -listen 127.0.0.1:18101
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "noop-authz:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("noop-authz", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18101", "address to serve gRPC (ext_authz v3 and access logs) on")
	dump := fs.String("dump", "", "directory to write the first CheckRequest of each phase to, as JSON (<phase>.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// The same server options as Bridle's decision service, so the two
	// differ only in what Check does.
	g := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 10 * time.Second}),
	)
	s := &server{dump: *dump}
	authv3.RegisterAuthorizationServer(g, s)
	accesslogv3.RegisterAccessLogServiceServer(g, s)
	go func() {
		<-ctx.Done()
		g.Stop()
		fmt.Fprintf(os.Stderr, "noop-authz: %d checks\n", s.checks.Load())
	}()
	fmt.Fprintf(os.Stderr, "noop-authz: serving on %s\n", l.Addr())
	if err := g.Serve(l); err != nil && err != grpc.ErrServerStopped {
		return err
	}
	return nil
}

type server struct {
	authv3.UnimplementedAuthorizationServer
	accesslogv3.UnimplementedAccessLogServiceServer
	checks atomic.Int64
	dump   string
	dumped sync.Map // phase → true
}

// ok is shared by every answer: the server never changes it and gRPC only
// reads it while marshalling.
var ok = &authv3.CheckResponse{
	Status:       &status.Status{Code: int32(codes.OK)},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

// Check allows everything.
func (s *server) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s.checks.Add(1)
	if s.dump != "" {
		s.save(req)
	}
	return ok, nil
}

// save writes the first request of each phase (the context extension
// Bridle's routes set), so benchmarks can replay exactly what Envoy sends.
func (s *server) save(req *authv3.CheckRequest) {
	phase := req.GetAttributes().GetContextExtensions()["phase"]
	if phase == "" {
		phase = "none"
	}
	if _, seen := s.dumped.LoadOrStore(phase, true); seen {
		return
	}
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(req)
	if err == nil {
		err = os.WriteFile(filepath.Join(s.dump, phase+".json"), b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "noop-authz: dump:", err)
	}
}

// StreamAccessLogs reads and drops Envoy's access-log entries.
func (s *server) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
