// Package xds is Bridle's control plane: it turns a validated spec into an
// xDS snapshot (via package envoy), serves it to every Envoy over ADS
// (listeners, routes, clusters, endpoints and secrets), mints the MITM leaf
// certificates from Bridle's local CA, and resolves and vets connector
// upstream addresses before Envoy may dial them.
package xds

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/bridle-gw/bridle/envoy"
)

// allNodes gives every Envoy the same snapshot: Bridle's config does not
// vary by node, and a mesh operator's Envoys can join without being listed.
type allNodes struct{}

func (allNodes) ID(*corev3.Node) string { return snapshotKey }

const snapshotKey = "bridle"

// Server serves snapshots over ADS. It does not listen: Register it on a
// grpc.Server the caller owns. Update is safe for concurrent use.
type Server struct {
	cache   cachev3.SnapshotCache
	xds     serverv3.Server
	log     *slog.Logger
	mu      sync.Mutex // serialises Update so versions increase in order
	version uint64
	streams atomic.Int64
}

// NewServer returns a control plane with no snapshot yet: Envoys that
// connect before the first Update wait (and deny nothing, since they have
// no listener to accept agents on).
func NewServer(ctx context.Context, log *slog.Logger) *Server {
	s := &Server{log: log}
	// ads=false although Envoy talks ADS: in "ADS mode" the cache answers
	// a by-name request only when it names every resource of that type in
	// the snapshot, but Envoy asks for the upstream trust secrets (from
	// CDS) before it knows the leaf secrets (from LDS), so startup would
	// stall until SDS's 15 s initial-fetch timeout.
	s.cache = cachev3.NewSnapshotCache(false, allNodes{}, logAdapter{log})
	s.xds = serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			s.streams.Add(1)
			return nil
		},
		StreamClosedFunc: func(int64, *corev3.Node) { s.streams.Add(-1) },
		StreamRequestFunc: func(id int64, r *discoverygrpc.DiscoveryRequest) error {
			if d := r.GetErrorDetail(); d != nil {
				// A NACK means Envoy rejected config we built: it keeps
				// serving the previous version. Loud, because it is a bug.
				log.Error("envoy rejected config", "type", r.GetTypeUrl(), "version", r.GetVersionInfo(),
					"node", r.GetNode().GetId(), "error", d.GetMessage())
			}
			return nil
		},
	})
	return s
}

// Register adds the ADS service (and the per-type services, for Envoys
// configured without ADS) to g.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
	secretservice.RegisterSecretDiscoveryServiceServer(g, s.xds)
}

// Streams is the number of open xDS streams (connected Envoys × types).
func (s *Server) Streams() int64 { return s.streams.Load() }

// Update validates r as a snapshot and serves it. A snapshot that fails
// Consistent() is refused and the previous one keeps serving.
func (s *Server) Update(ctx context.Context, r *envoy.Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := Snapshot(strconv.FormatUint(s.version+1, 10), r)
	if err != nil {
		return err
	}
	if err := s.cache.SetSnapshot(ctx, snapshotKey, snap); err != nil {
		return fmt.Errorf("setting snapshot: %w", err)
	}
	s.version++
	return nil
}

// Snapshot assembles and checks a snapshot: every route and endpoint set
// referenced must be present, and nothing unreferenced.
func Snapshot(version string, r *envoy.Resources) (*cachev3.Snapshot, error) {
	snap, err := cachev3.NewSnapshot(version, map[resource.Type][]types.Resource{
		resource.ListenerType: res(r.Listeners),
		resource.RouteType:    res(r.Routes),
		resource.ClusterType:  res(r.Clusters),
		resource.EndpointType: res(r.Endpoints),
		resource.SecretType:   res(r.Secrets),
	})
	if err != nil {
		return nil, fmt.Errorf("building snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return snap, nil
}

func res(ms []proto.Message) []types.Resource {
	out := make([]types.Resource, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// logAdapter sends go-control-plane's logs to slog at debug level (its
// info level is per-request chatter).
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Debugf(f string, args ...any) { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a logAdapter) Infof(f string, args ...any)  { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a logAdapter) Warnf(f string, args ...any)  { a.l.Warn(fmt.Sprintf(f, args...)) }
func (a logAdapter) Errorf(f string, args ...any) { a.l.Error(fmt.Sprintf(f, args...)) }
