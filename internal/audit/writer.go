package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Writer defaults.
const (
	DefaultQueue = 8192
	DefaultBatch = 500
	DefaultFlush = 100 * time.Millisecond
	// dropLogEvery bounds the drop error log to one line per interval, so a
	// store that has stalled cannot flood the log from the decision path.
	dropLogEvery = 5 * time.Second
)

// WriterOptions configure a Writer; zero values take the defaults.
type WriterOptions struct {
	Queue int           // queue capacity (records and responses)
	Batch int           // most items per transaction
	Flush time.Duration // longest wait before a partial batch is written
	Log   *slog.Logger  // drop and store errors; nil discards
}

// Writer takes records from the decision path and responses from the
// access log and stores them in batches from one goroutine. Write and
// WriteResponse never block: when the queue is full the item is dropped and
// counted, and an error is logged (at most once per 5 s). All methods are
// safe for concurrent use.
type Writer struct {
	store *Store
	log   *slog.Logger
	batch int
	flush time.Duration
	q     chan item

	mu     sync.RWMutex // held for reading around each enqueue; Close takes it to stop them
	closed bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	written, dropped, failed atomic.Int64 // records
	responses, responsesLost atomic.Int64 // access-log entries stored, and dropped or failed
	lastDropLog              atomic.Int64 // unix ns of the last drop error line
	lastLostLog              atomic.Int64 // unix ns of the last "batch lost" line
}

// item is a record or, when isResp is set, a response.
type item struct {
	rec    Record
	resp   Response
	isResp bool
}

// Stats are the Writer's counters, for metrics. Every record given to Write
// ends up in exactly one of Written, Dropped (queue full or Writer closed)
// and Failed (invalid, or the store refused the batch), or is still queued.
type Stats struct {
	Depth, Capacity int
	Written         int64
	Dropped         int64
	Failed          int64
	Responses       int64
	ResponsesLost   int64
}

// NewWriter starts a Writer on s. Close it to drain, then close the Store
// (the Store stays the caller's).
func NewWriter(s *Store, opt WriterOptions) *Writer {
	w := &Writer{
		store: s, log: opt.Log, batch: opt.Batch, flush: opt.Flush,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if w.batch <= 0 {
		w.batch = DefaultBatch
	}
	if w.flush <= 0 {
		w.flush = DefaultFlush
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.q = make(chan item, opt.Queue)
	go w.run()
	return w
}

// Write queues r and returns at once; it reports whether r was queued. The
// path is redacted and the record bounded by the writer goroutine, off the
// decision path. A zero r.Time is set to now.
func (w *Writer) Write(r Record) bool {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if w.enqueue(item{rec: r}) {
		return true
	}
	w.dropped.Add(1)
	w.logDrop()
	return false
}

// WriteResponse queues an access-log entry for the join; it never blocks.
func (w *Writer) WriteResponse(x Response) bool {
	if w.enqueue(item{resp: x, isResp: true}) {
		return true
	}
	w.responsesLost.Add(1)
	w.logDrop()
	return false
}

func (w *Writer) enqueue(it item) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	select {
	case w.q <- it:
		return true
	default:
		return false
	}
}

func (w *Writer) logDrop() {
	if !due(&w.lastDropLog) {
		return
	}
	w.log.Error("audit queue full or closed: dropping records",
		"dropped", w.dropped.Load(), "responses_dropped", w.responsesLost.Load(), "queue", cap(w.q))
}

// due reports whether a throttled log line may be written now (at most one
// per dropLogEvery per kind), and claims the slot if so. A failing disk or
// a full queue must not flood the log, which may share that disk.
func due(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(dropLogEvery) && last.CompareAndSwap(prev, now)
}

// Dropped counts records dropped because the queue was full or the Writer
// closed.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// QueueDepth is the number of items waiting to be stored.
func (w *Writer) QueueDepth() int { return len(w.q) }

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Depth: len(w.q), Capacity: cap(w.q),
		Written: w.written.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load(),
		Responses: w.responses.Load(), ResponsesLost: w.responsesLost.Load(),
	}
}

// Close stops accepting items and waits until every queued item is stored
// or ctx ends; later Writes are dropped and counted.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch is what one transaction stores.
type batch struct {
	recs  []Record
	resps []Response
}

func (b *batch) add(it item) {
	if it.isResp {
		b.resps = append(b.resps, it.resp)
	} else {
		b.recs = append(b.recs, it.rec)
	}
}

func (b *batch) len() int { return len(b.recs) + len(b.resps) }

func (b *batch) reset() { b.recs, b.resps = b.recs[:0], b.resps[:0] }

// run collects up to w.batch items, waiting at most w.flush after the first,
// and stores them in one transaction, until Close.
func (w *Writer) run() {
	defer close(w.done)
	var b batch
	timer := time.NewTimer(w.flush)
	timer.Stop()
	for {
		select {
		case it := <-w.q:
			b.add(it)
		case <-w.stop:
			w.drain(&b)
			return
		}
		timer.Reset(w.flush)
	fill:
		for b.len() < w.batch {
			select {
			case it := <-w.q:
				b.add(it)
			case <-timer.C:
				break fill
			case <-w.stop:
				timer.Stop()
				w.drain(&b)
				return
			}
		}
		timer.Stop()
		w.store1(&b)
	}
}

// drain stores what is queued after Close. Close has blocked enqueues
// first, so the queue only shrinks here.
func (w *Writer) drain(b *batch) {
	for {
		select {
		case it := <-w.q:
			b.add(it)
			if b.len() < w.batch {
				continue
			}
		default:
		}
		if b.len() == 0 {
			return
		}
		w.store1(b)
	}
}

// store1 writes one batch. Invalid items are counted as failed; a store
// error fails the whole batch, which is counted and logged, never silent.
func (w *Writer) store1(b *batch) {
	defer b.reset()
	valid := b.recs[:0]
	for _, r := range b.recs {
		if r.DecisionID == "" {
			w.failed.Add(1)
			w.log.Error("audit record without decision_id dropped", "agent", r.Agent, "connector", r.Connector)
			continue
		}
		valid = append(valid, r)
	}
	validResps := b.resps[:0]
	for _, x := range b.resps {
		if x.DecisionID != "" {
			validResps = append(validResps, x)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.store.Insert(ctx, valid, validResps); err != nil {
		w.failed.Add(int64(len(valid)))
		w.responsesLost.Add(int64(len(validResps)))
		if due(&w.lastLostLog) {
			w.log.Error("audit batch lost (logged at most every 5s; totals since start)", "records", len(valid), "responses", len(validResps),
				"records_lost_total", w.failed.Load(), "responses_lost_total", w.responsesLost.Load(), "err", err)
		}
		return
	}
	w.written.Add(int64(len(valid)))
	w.responses.Add(int64(len(validResps)))
}
