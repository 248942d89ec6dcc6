// Package audit receives what Envoy reports about each request (gRPC
// access logs) so it can be joined with the decision records on
// decision_id. Envoy's log is best effort; the decision service's record is
// authoritative.
package audit

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
)

// ALS is the access-log sink. It does not listen: Register it on a
// grpc.Server. It is safe for concurrent streams (Envoy opens one per
// worker thread).
type ALS struct {
	accesslogv3.UnimplementedAccessLogServiceServer
	log     *slog.Logger
	entries atomic.Int64
}

// NewALS returns a sink that logs each entry at debug level.
func NewALS(log *slog.Logger) *ALS { return &ALS{log: log} }

// Register adds the AccessLogService to g.
func (a *ALS) Register(g *grpc.Server) { accesslogv3.RegisterAccessLogServiceServer(g, a) }

// Entries counts HTTP log entries received.
func (a *ALS) Entries() int64 { return a.entries.Load() }

// StreamAccessLogs consumes one Envoy stream until it closes.
func (a *ALS) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	logName := ""
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if id := msg.GetIdentifier(); id != nil {
			logName = id.GetLogName()
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			a.entries.Add(1)
			props := e.GetCommonProperties()
			md := props.GetMetadata().GetFilterMetadata()["envoy.filters.http.ext_authz"].GetFields()
			// Only metadata: method, authority, status, timing, and our own
			// decision fields. Never headers or path queries.
			a.log.Debug("access",
				"log", logName,
				"decision_id", md["decision_id"].GetStringValue(),
				"method", e.GetRequest().GetRequestMethod().String(),
				"authority", e.GetRequest().GetAuthority(),
				"status", e.GetResponse().GetResponseCode().GetValue(),
				"duration", props.GetDuration().AsDuration().String(),
			)
		}
	}
}
