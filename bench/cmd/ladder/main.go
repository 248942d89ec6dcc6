//go:build bench

// Command ladder runs Bridle's benchmark ladder (bench/README.md) in one
// invocation on one machine and prints one table: the cost of every layer
// between an agent and its upstream, each figure beside the rung above it
// and the ceiling.
//
//  1. client → local TLS upstream directly;
//  2. through Envoy with no ext_authz (Bridle's own Envoy config minus the
//     decision service: the proxy ceiling), plain HTTP and CONNECT+MITM;
//  3. Envoy + a no-op ext_authz server (the decision-service ceiling),
//     with exactly the Envoy config Bridle serves;
//  4. Envoy + Bridle: 200-rule policy, rate limit in a real redis-server,
//     kill switch, credential injection;
//  5. Bridle's deny path, and a fresh TLS connection (and CONNECT) per
//     request;
//
// plus Check-only runs (ghz straight at the gRPC service) and the server
// CPU per Check at saturation, read from /proc/PID/stat.
//
// Everything is a child of this process, pinned with taskset: load
// generators and the upstream on one CPU, the gateway (Envoy, the
// decision service, Redis) on the other.
//
// bench/run.sh builds and runs it; by hand: go build -tags bench
// ./bench/cmd/ladder (the tag keeps the bench tools out of ./...).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ladder:", err)
		os.Exit(1)
	}
}
