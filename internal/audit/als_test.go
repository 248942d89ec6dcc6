package audit

import (
	"io"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeStream replays messages to StreamAccessLogs, then io.EOF as Envoy's
// stream closing.
type fakeStream struct {
	grpc.ServerStream
	msgs []*accesslogv3.StreamAccessLogsMessage
}

func (f *fakeStream) Recv() (*accesslogv3.StreamAccessLogsMessage, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func (f *fakeStream) SendAndClose(*accesslogv3.StreamAccessLogsResponse) error { return nil }

// entry is an access-log entry as Envoy sends it. Its request and response
// headers hold whatever the agent and upstream sent, secrets included.
func entry(decisionID string, status uint32, dur time.Duration, headers map[string]string) *datav3.HTTPAccessLogEntry {
	md := map[string]*structpb.Struct{}
	if decisionID != "" {
		md[ExtAuthzNamespace] = &structpb.Struct{Fields: map[string]*structpb.Value{
			"decision_id": structpb.NewStringValue(decisionID),
			"decision":    structpb.NewStringValue("allow"),
		}}
	}
	return &datav3.HTTPAccessLogEntry{
		CommonProperties: &datav3.AccessLogCommon{
			StartTime: timestamppb.New(base),
			Duration:  durationpb.New(dur),
			Metadata:  &corev3.Metadata{FilterMetadata: md},
		},
		Request: &datav3.HTTPRequestProperties{
			RequestMethod: corev3.RequestMethod_POST, Authority: "api.github.com",
			Path: headers[":path"], RequestBodyBytes: 120, RequestHeaders: headers,
		},
		Response: &datav3.HTTPResponseProperties{
			ResponseCode: wrapperspb.UInt32(status), ResponseBodyBytes: 3400, ResponseHeaders: headers,
		},
	}
}

func stream(entries ...*datav3.HTTPAccessLogEntry) *fakeStream {
	return &fakeStream{msgs: []*accesslogv3.StreamAccessLogsMessage{{
		Identifier: &accesslogv3.StreamAccessLogsMessage_Identifier{LogName: "bridle"},
		LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
			HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries},
		},
	}}}
}

func TestALSJoinsResponsesToRecordsByDecisionID(t *testing.T) {
	allow, deny := testRecord(1), testRecord(4) // deny carries Bridle's own 403
	joined := func(r Record, status int, dur time.Duration) Record {
		r.Status, r.Duration, r.BytesReceived, r.BytesSent, r.Responded = status, dur, 120, 3400, true
		return r
	}
	for _, tc := range []struct {
		name string
		// run feeds the writer in some order.
		run  func(t *testing.T, w *Writer, a *ALS)
		want map[string]Record // fields from the access log, by decision id
	}{
		{"adds status, latency and bytes when the access log follows the record", func(t *testing.T, w *Writer, a *ALS) {
			w.Write(allow)
			w.Write(deny)
			feed(t, a, entry(allow.DecisionID, 201, 42*time.Millisecond, nil))
		}, map[string]Record{allow.DecisionID: joined(allow, 201, 42*time.Millisecond), deny.DecisionID: deny}},
		{"keeps an access-log entry that arrives before its record", func(t *testing.T, w *Writer, a *ALS) {
			feed(t, a, entry(allow.DecisionID, 502, time.Second, nil))
			flush(t, w) // the response is stored on its own first
			w.Write(allow)
		}, map[string]Record{allow.DecisionID: joined(allow, 502, time.Second)}},
		{"keeps a record complete when its access log never arrives", func(t *testing.T, w *Writer, a *ALS) {
			w.Write(allow)
			feed(t, a, entry("", 200, time.Millisecond, nil)) // not ours: no decision_id
		}, map[string]Record{allow.DecisionID: allow}},
		{"lets a later entry for the same decision replace an earlier one", func(t *testing.T, w *Writer, a *ALS) {
			w.Write(allow)
			feed(t, a, entry(allow.DecisionID, 200, time.Millisecond, nil), entry(allow.DecisionID, 200, 3*time.Second, nil))
		}, map[string]Record{allow.DecisionID: joined(allow, 200, 3*time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{})
			w := NewWriter(s, WriterOptions{})
			log, _ := testLogger()
			a := NewALS(log, w)
			tc.run(t, w, a)
			closeWriter(t, w)
			got := queryAll(t, s, Filter{})
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tc.want))
			}
			for _, r := range got {
				if want := tc.want[r.DecisionID]; r != want {
					t.Errorf("got %+v,\nwant %+v", r, want)
				}
			}
		})
	}
}

func feed(t *testing.T, a *ALS, entries ...*datav3.HTTPAccessLogEntry) {
	t.Helper()
	if err := a.StreamAccessLogs(stream(entries...)); err != nil {
		t.Fatal(err)
	}
}

// flush waits until the writer's queue is stored, without closing it.
func flush(t *testing.T, w *Writer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.QueueDepth() > 0 || w.Stats().Responses+w.Stats().Written == 0 {
		if time.Now().After(deadline) {
			t.Fatal("writer did not store within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestALSWithoutASinkOnlyCounts(t *testing.T) {
	log, buf := testLogger()
	a := NewALS(log, nil)
	feed(t, a, entry("abc", 200, time.Millisecond, nil), entry("", 404, time.Millisecond, nil))
	if a.Entries() != 2 || a.Unjoined() != 1 {
		t.Fatalf("got %d entries, %d unjoined; want 2, 1", a.Entries(), a.Unjoined())
	}
	if !strings.Contains(buf.String(), `"decision_id":"abc"`) {
		t.Fatalf("debug line lacks the decision id:\n%s", buf)
	}
}
