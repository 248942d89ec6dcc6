package audit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchRecord is a realistic record: 20 agents, 4 connectors, a query
// string to redact, a deny in seven.
func benchRecord(i int) Record {
	r := testRecord(i)
	r.Time = base.Add(time.Duration(i) * 25 * time.Second) // 100k rows span ~29 days
	r.Agent = fmt.Sprintf("agent-%02d", i%20)
	r.Connector = []string{"github", "stripe", "openai", "slack"}[i%4]
	r.Path = fmt.Sprintf("/repos/acme/app/pulls/%d/merge?access_token=x%d&page=2", i, i)
	r.ContentType, r.UserAgent = "application/json", "python-requests/2.32"
	r.Decision, r.Reason, r.Status = DecisionAllow, "allowed", 0
	if i%7 == 0 {
		r.Decision, r.Reason, r.Status = DecisionDeny, "policy_deny", 403
	}
	return r
}

// BenchmarkWriter measures what the writer goroutine sustains end to end
// (records/s committed to SQLite), the producer never letting the queue
// overflow.
func BenchmarkWriter(b *testing.B) {
	s := openStore(b, Options{})
	w := NewWriter(s, WriterOptions{})
	recs := make([]Record, 4096)
	for i := range recs {
		recs[i] = benchRecord(i)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for w.QueueDepth() > DefaultQueue-64 {
			time.Sleep(100 * time.Microsecond) // leave the CPU to the writer
		}
		r := recs[i%len(recs)]
		r.DecisionID = fmt.Sprintf("%032x", i)
		w.Write(r)
	}
	closeWriter(b, w)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if st := w.Stats(); st.Written != int64(b.N) {
		b.Fatalf("got %+v, want %d written", st, b.N)
	}
}

// BenchmarkWrite measures what Write costs the decision path while the
// writer drains behind it: with room in the queue (the writer is given time
// to catch up between rounds, off the clock), and with the queue full (the
// drop path, from concurrent callers).
func BenchmarkWrite(b *testing.B) {
	r := benchRecord(1) // one decision_id over and over: the insert ignores repeats
	b.Run("queue has room", func(b *testing.B) {
		s := openStore(b, Options{})
		w := NewWriter(s, WriterOptions{})
		defer closeWriter(b, w)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			w.Write(r)
			if n++; n%4096 == 0 {
				b.StopTimer()
				for w.QueueDepth() > 0 {
					time.Sleep(time.Millisecond)
				}
				b.StartTimer()
			}
		}
		if w.Dropped() != 0 {
			b.Fatalf("dropped %d", w.Dropped())
		}
	})
	b.Run("queue full", func(b *testing.B) {
		s := openStore(b, Options{})
		w := NewWriter(s, WriterOptions{Queue: 1})
		defer closeWriter(b, w)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Write(r)
			}
		})
	})
}

// BenchmarkQuery measures Query and Follow over 100,000 records.
func BenchmarkQuery(b *testing.B) {
	const rows = 100_000
	s := openStore(b, Options{})
	for i := 0; i < rows; i += 5000 {
		recs := make([]Record, 5000)
		resps := make([]Response, 0, 5000)
		for j := range recs {
			recs[j] = benchRecord(i + j)
			if recs[j].Decision == DecisionAllow {
				resps = append(resps, Response{DecisionID: recs[j].DecisionID, Time: recs[j].Time, Status: 200, Duration: 80 * time.Millisecond})
			}
		}
		insert(b, s, recs, resps)
	}
	deep := Filter{Limit: 50}
	for range 100 { // the cursor of page 101
		p, err := s.Query(context.Background(), deep)
		if err != nil {
			b.Fatal(err)
		}
		deep.Cursor = p.NextCursor
	}
	mid := base.Add(rows / 2 * 25 * time.Second)
	for _, bc := range []struct {
		name   string
		follow bool
		f      Filter
	}{
		{"newest 50", false, Filter{Limit: 50}},
		{"newest 50 of one agent", false, Filter{Agent: "agent-07", Limit: 50}},
		{"newest 50 denies of one agent", false, Filter{Agent: "agent-07", Decision: DecisionDeny, Limit: 50}},
		{"newest 50 of one connector", false, Filter{Connector: "slack", Limit: 50}},
		{"newest 50 of an action prefix", false, Filter{Action: "stripe.*", Limit: 50}},
		{"one hour window", false, Filter{Since: mid, Until: mid.Add(time.Hour), Limit: 500}},
		{"page 101 by cursor", false, deep},
		{"follow tail 50", true, Filter{Limit: 50}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var p Page
				var err error
				if bc.follow {
					p, err = s.Follow(context.Background(), bc.f)
				} else {
					p, err = s.Query(context.Background(), bc.f)
				}
				if err != nil || len(p.Records) == 0 {
					b.Fatalf("got %d records, %v", len(p.Records), err)
				}
			}
		})
	}
}

// BenchmarkInsert measures one batch as the writer stores it (a
// transaction of DefaultBatch records), per record.
func BenchmarkInsert(b *testing.B) {
	s := openStore(b, Options{})
	batch := make([]Record, DefaultBatch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i] = benchRecord(n)
			batch[i].DecisionID = fmt.Sprintf("%032x", n)
			n++
		}
		if err := s.Insert(b.Context(), batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
