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
	"net/netip"
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

// NodeInfo is what Bridle knows of one Envoy from its bootstrap.
type NodeInfo struct {
	ID string
	// Proxy is where this Envoy binds the agent-facing listener, from the
	// node metadata key MetadataProxyAddress; zero means the config's.
	Proxy netip.AddrPort
}

// MetadataProxyAddress is the node metadata key (set by `bridle envoy
// bootstrap --proxy`) that gives an Envoy its own proxy listener address,
// so several Envoys can share one control plane (and one host).
const MetadataProxyAddress = envoy.MetadataProxyAddress

// Builder makes the resources for one node. It must be safe to call from
// several goroutines and must not keep the NodeInfo.
type Builder func(NodeInfo) (*envoy.Resources, error)

func nodeInfo(n *corev3.Node) NodeInfo {
	info := NodeInfo{ID: n.GetId()}
	if v := n.GetMetadata().GetFields()[MetadataProxyAddress].GetStringValue(); v != "" {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			info.Proxy = ap
		}
	}
	return info
}

type byID struct{}

func (byID) ID(n *corev3.Node) string { return n.GetId() }

// Server serves snapshots over ADS. It does not listen: Register it on a
// grpc.Server the caller owns. Update is safe for concurrent use.
type Server struct {
	cache cachev3.SnapshotCache
	xds   serverv3.Server
	log   *slog.Logger
	open  atomic.Int64

	mu      sync.Mutex // serialises snapshot changes so versions increase in order
	version uint64
	build   Builder
	nodes   map[string]NodeInfo // connected nodes, for rebuilding on Update
	streams map[int64]string    // open stream → node id
}

// NewServer returns a control plane with no snapshot yet: Envoys that
// connect before the first Update wait (and deny nothing, since they have
// no listener to accept agents on).
func NewServer(ctx context.Context, log *slog.Logger) *Server {
	s := &Server{log: log, nodes: map[string]NodeInfo{}, streams: map[int64]string{}}
	// ads=false although Envoy talks ADS: in "ADS mode" the cache answers
	// a by-name request only when it names every resource of that type in
	// the snapshot, but Envoy asks for the upstream trust secrets (from
	// CDS) before it knows the leaf secrets (from LDS), so startup would
	// stall until SDS's 15 s initial-fetch timeout.
	s.cache = cachev3.NewSnapshotCache(false, byID{}, logAdapter{log})
	s.xds = serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			s.open.Add(1)
			return nil
		},
		StreamClosedFunc: func(id int64, _ *corev3.Node) {
			s.open.Add(-1)
			s.forgetStream(id)
		},
		StreamRequestFunc: func(id int64, r *discoverygrpc.DiscoveryRequest) error {
			if n := r.GetNode(); n != nil {
				// The first request of a stream carries the node: make sure
				// it has a snapshot before its watch is created.
				s.mu.Lock()
				s.streams[id] = n.GetId()
				s.mu.Unlock()
				if err := s.ensureNode(nodeInfo(n)); err != nil {
					log.Error("no config for envoy", "node", n.GetId(), "error", err)
				}
			}
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
func (s *Server) Streams() int64 { return s.open.Load() }

// forgetStream drops a node once its last stream closes, so Envoys that
// come and go (pods) do not pile up snapshots rebuilt on every Update.
func (s *Server) forgetStream(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	node, ok := s.streams[id]
	if !ok {
		return
	}
	delete(s.streams, id)
	for _, other := range s.streams {
		if other == node {
			return
		}
	}
	delete(s.nodes, node)
	s.cache.ClearSnapshot(node)
}

// Update installs a new builder and rebuilds every known node's snapshot.
// If any node's snapshot cannot be built or is inconsistent, nothing
// changes: every Envoy keeps serving its previous config.
func (s *Server) Update(ctx context.Context, build Builder) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	version := strconv.FormatUint(s.version+1, 10)
	snaps := map[string]*cachev3.Snapshot{}
	for id, info := range s.nodes {
		snap, err := snapshotFor(build, info, version)
		if err != nil {
			return fmt.Errorf("envoy node %s: %w", id, err)
		}
		snaps[id] = snap
	}
	for id, snap := range snaps {
		if err := s.cache.SetSnapshot(ctx, id, snap); err != nil {
			return fmt.Errorf("setting snapshot: %w", err)
		}
	}
	s.version++
	s.build = build
	return nil
}

// Check builds a snapshot for a node without serving it (validate).
func Check(build Builder, info NodeInfo) error {
	_, err := snapshotFor(build, info, "check")
	return err
}

// ensureNode gives a newly connected node its snapshot.
func (s *Server) ensureNode(info NodeInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.nodes[info.ID]; ok && old == info {
		return nil
	}
	s.nodes[info.ID] = info
	if s.build == nil {
		return nil // no config yet: the node waits for the first Update
	}
	snap, err := snapshotFor(s.build, info, strconv.FormatUint(s.version, 10))
	if err != nil {
		return err
	}
	return s.cache.SetSnapshot(context.Background(), info.ID, snap)
}

func snapshotFor(build Builder, info NodeInfo, version string) (*cachev3.Snapshot, error) {
	r, err := build(info)
	if err != nil {
		return nil, err
	}
	return Snapshot(version, r)
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
