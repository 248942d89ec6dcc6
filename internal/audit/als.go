package audit

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
)

// ExtAuthzNamespace is the dynamic-metadata namespace where the decision
// service puts decision_id (and decision, agent, connector, reason, status)
// for Envoy's access log.
const ExtAuthzNamespace = "envoy.filters.http.ext_authz"

// ResponseSink takes the access-log side of the join. *Writer implements
// it. WriteResponse must not block: Envoy's log stream waits on it.
type ResponseSink interface {
	WriteResponse(Response) bool
}

// ALS is the access-log sink. It does not listen: Register it on a
// grpc.Server. It is safe for concurrent streams (Envoy opens one per
// worker thread).
type ALS struct {
	accesslogv3.UnimplementedAccessLogServiceServer
	log      *slog.Logger
	sink     ResponseSink
	entries  atomic.Int64
	unjoined atomic.Int64
}

// NewALS returns a sink that logs each entry at debug level and, when sink
// is not nil, passes status, duration and bytes of entries carrying a
// decision_id to it.
func NewALS(log *slog.Logger, sink ResponseSink) *ALS {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ALS{log: log, sink: sink}
}

// Register adds the AccessLogService to g.
func (a *ALS) Register(g *grpc.Server) { accesslogv3.RegisterAccessLogServiceServer(g, a) }

// Entries counts HTTP log entries received.
func (a *ALS) Entries() int64 { return a.entries.Load() }

// Unjoined counts HTTP log entries without a decision_id (requests that
// never reached ext_authz, such as Envoy's own local replies).
func (a *ALS) Unjoined() int64 { return a.unjoined.Load() }

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
			md := props.GetMetadata().GetFilterMetadata()[ExtAuthzNamespace].GetFields()
			id := md["decision_id"].GetStringValue()
			// Envoy reports the whole stream's duration when it knows it;
			// older builds only time the last byte sent.
			dur := props.GetDuration()
			if dur == nil {
				dur = props.GetTimeToLastDownstreamTxByte()
			}
			// Only metadata: method, authority, status, timing, and our own
			// decision fields. Never headers or path queries.
			a.log.Debug("access",
				"log", logName,
				"decision_id", id,
				"method", e.GetRequest().GetRequestMethod().String(),
				"authority", e.GetRequest().GetAuthority(),
				"status", e.GetResponse().GetResponseCode().GetValue(),
				"duration", dur.AsDuration().String(),
			)
			if id == "" || len(id) > maxIDLen {
				a.unjoined.Add(1)
				continue
			}
			if a.sink != nil {
				start := time.Now()
				if t := props.GetStartTime(); t != nil {
					start = t.AsTime()
				}
				// Bytes as Envoy's %BYTES_RECEIVED% / %BYTES_SENT%: bodies.
				a.sink.WriteResponse(Response{
					DecisionID:    id,
					Time:          start,
					Status:        int(e.GetResponse().GetResponseCode().GetValue()),
					Duration:      dur.AsDuration(),
					BytesReceived: int64(e.GetRequest().GetRequestBodyBytes()),
					BytesSent:     int64(e.GetResponse().GetResponseBodyBytes()),
				})
			}
		}
	}
}
