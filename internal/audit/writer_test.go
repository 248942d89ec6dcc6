package audit

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// safeBuffer is a log sink for concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *safeBuffer) {
	buf := &safeBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func closeWriter(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// burst writes n records from 8 goroutines and returns how many Write
// accepted.
func burst(w *Writer, n int) int64 {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted int64
	for g := range 8 {
		wg.Go(func() {
			var ok int64
			for i := g; i < n; i += 8 {
				if w.Write(testRecord(i)) {
					ok++
				}
			}
			mu.Lock()
			accepted += ok
			mu.Unlock()
		})
	}
	wg.Wait()
	return accepted
}

func TestWriterStoresABurstOf10000RecordsWithoutLoss(t *testing.T) {
	s := openStore(t, Options{})
	w := NewWriter(s, WriterOptions{Queue: 10000})
	accepted := burst(w, 10000)
	closeWriter(t, w)
	st := w.Stats()
	if accepted != 10000 || st.Written != 10000 || st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("got accepted %d, stats %+v; want all 10000 written", accepted, st)
	}
	if got := count(t, s, "decisions"); got != 10000 {
		t.Fatalf("got %d rows, want 10000", got)
	}
}

func TestWriterCountsEveryDropWithATinyQueue(t *testing.T) {
	s := openStore(t, Options{})
	log, buf := testLogger()
	w := NewWriter(s, WriterOptions{Queue: 2, Log: log})
	accepted := burst(w, 10000)
	closeWriter(t, w)
	st := w.Stats()
	if st.Written+st.Dropped != 10000 || st.Written != accepted || st.Dropped == 0 || w.Dropped() != st.Dropped {
		t.Fatalf("got accepted %d, stats %+v; want written + dropped == 10000 with some dropped", accepted, st)
	}
	if got := count(t, s, "decisions"); int64(got) != st.Written {
		t.Fatalf("got %d rows, want %d written", got, st.Written)
	}
	// Rate-limited: one error line for the whole burst, not one per drop.
	if n := strings.Count(buf.String(), "audit queue full"); n != 1 {
		t.Fatalf("got %d drop error lines, want 1:\n%s", n, buf)
	}
}

func TestWriterNeverBlocksWhileTheStoreIsLocked(t *testing.T) {
	s := openStore(t, Options{})
	unlock := lockStore(t, s)
	w := NewWriter(s, WriterOptions{Queue: 10, Batch: 5})
	done := make(chan int64)
	go func() { done <- burst(w, 1000) }()
	select {
	case accepted := <-done:
		if accepted > 20 {
			t.Errorf("accepted %d records while the store was locked, want at most queue + batch", accepted)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Write blocked while the store was locked")
	}
	unlock()
	closeWriter(t, w)
	if st := w.Stats(); st.Written+st.Dropped != 1000 || st.Failed != 0 {
		t.Fatalf("got %+v, want written + dropped == 1000", st)
	}
}

func TestWriterFlushesAPartialBatchAfterTheInterval(t *testing.T) {
	s := openStore(t, Options{})
	w := NewWriter(s, WriterOptions{Flush: 20 * time.Millisecond})
	defer closeWriter(t, w)
	w.Write(testRecord(1))
	deadline := time.Now().Add(5 * time.Second)
	for count(t, s, "decisions") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("record not stored within 5s without Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWriterCountsWhatItCannotStore(t *testing.T) {
	for _, tc := range []struct {
		name     string
		write    func(*Writer, *Store)
		wantLog  string
		failed   int64
		dropped  int64
		lostResp int64
	}{
		{"drops and counts a write after Close", func(w *Writer, _ *Store) {
			closeWriter(t, w)
			w.Write(testRecord(1))
			w.WriteResponse(Response{DecisionID: "x"})
		}, "audit queue full or closed", 0, 1, 1},
		{"fails a record without decision_id", func(w *Writer, _ *Store) {
			w.Write(Record{Agent: "alice"})
		}, "audit record without decision_id dropped", 1, 0, 0},
		{"fails a batch the store refuses, and says so", func(w *Writer, s *Store) {
			s.Close()
			w.Write(testRecord(1))
			w.WriteResponse(Response{DecisionID: "x"})
		}, "audit batch lost", 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{})
			log, buf := testLogger()
			w := NewWriter(s, WriterOptions{Log: log})
			tc.write(w, s)
			closeWriter(t, w)
			st := w.Stats()
			if st.Failed != tc.failed || st.Dropped != tc.dropped || st.ResponsesLost != tc.lostResp || st.Written != 0 {
				t.Fatalf("got %+v, want failed %d, dropped %d, responses lost %d", st, tc.failed, tc.dropped, tc.lostResp)
			}
			if !strings.Contains(buf.String(), tc.wantLog) || !strings.Contains(buf.String(), `"level":"ERROR"`) {
				t.Fatalf("log lacks an error %q:\n%s", tc.wantLog, buf)
			}
		})
	}
}

func TestWriterCloseGivesUpWhenItsContextEnds(t *testing.T) {
	s := openStore(t, Options{})
	defer lockStore(t, s)()
	w := NewWriter(s, WriterOptions{})
	w.Write(testRecord(1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err != context.DeadlineExceeded {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// lockStore holds SQLite's write lock from another connection, as a long
// cleanup or a slow disk would, until the returned func is called.
func lockStore(t *testing.T, s *Store) (unlock func()) {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+s.Path()+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		lock.Rollback()
		other.Close()
	}
}

// A store that refuses every batch (disk full, locked) must not flood the
// log, which may share its disk: one line per interval, with totals.
func TestWriterThrottlesTheBatchLostLog(t *testing.T) {
	s := openStore(t, Options{})
	log, buf := testLogger()
	w := NewWriter(s, WriterOptions{Log: log, Batch: 1})
	s.Close()
	for i := range 50 {
		w.Write(testRecord(i + 1))
	}
	closeWriter(t, w)
	if st := w.Stats(); st.Failed != 50 {
		t.Fatalf("failed %d, want 50", st.Failed)
	}
	if n := strings.Count(buf.String(), "audit batch lost"); n != 1 {
		t.Errorf("%d \"audit batch lost\" lines for 50 lost batches within 5s; want 1:\n%s", n, buf)
	}
}
