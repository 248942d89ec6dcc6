package notify

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Log field names, shared by every line this package writes.
const (
	logFieldDestination = "destination" // "slack" or "webhook"
	logFieldWhat        = "delivery"    // what was being delivered, e.g. approval.created
	logFieldApprovalID  = "approval_id"
	logFieldAttempt     = "attempt"
	logFieldError       = "error"
	logFieldDropped     = "dropped_total"
)

// maxRetryAfter caps how long a receiver's Retry-After may park a worker.
const maxRetryAfter = 30 * time.Second

// job is one delivery. send is called once per attempt; an error wrapped
// in permanentError is not retried, one in retryAfterError waits at least
// its duration. attrs are log fields: never a URL, token or body.
type job struct {
	what  string
	attrs []any
	send  func(ctx context.Context) error
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// outbox delivers jobs from a bounded queue with a fixed number of
// workers, so a slow or dead receiver costs a bounded amount of memory and
// goroutines and never blocks the approval flow: enqueue never waits.
type outbox struct {
	name string
	log  *slog.Logger
	cfg  Delivery
	q    chan job

	mu     sync.RWMutex // guards closed against a send on a closed q
	closed bool

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	delivered, failed, dropped atomic.Uint64
	lastDropLog                atomic.Int64 // unix nanos
}

func newOutbox(name string, log *slog.Logger, cfg Delivery) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{name: name, log: log, cfg: cfg, q: make(chan job, cfg.QueueSize), ctx: ctx, cancel: cancel}
	for range cfg.Workers {
		o.wg.Go(o.run)
	}
	return o
}

// enqueue queues j and reports whether it was taken; a full or closed
// queue drops it.
func (o *outbox) enqueue(j job) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if !o.closed {
		select {
		case o.q <- j:
			return true
		default:
		}
	}
	n := o.dropped.Add(1)
	// At most one line a second: a dead receiver under load must not turn
	// into a flood of log lines.
	now := time.Now().UnixNano()
	if last := o.lastDropLog.Load(); now-last >= int64(time.Second) && o.lastDropLog.CompareAndSwap(last, now) {
		o.log.Warn("notification dropped: queue full or closed", append([]any{
			logFieldDestination, o.name, logFieldWhat, j.what, logFieldDropped, n}, j.attrs...)...)
	}
	return false
}

func (o *outbox) run() {
	for j := range o.q {
		if o.ctx.Err() != nil {
			o.dropped.Add(1) // Close gave up: abandon what is left
			continue
		}
		o.deliver(j)
	}
}

func (o *outbox) deliver(j job) {
	for attempt := 1; ; attempt++ {
		err := o.attempt(j)
		if err == nil {
			o.delivered.Add(1)
			return
		}
		_, perm := errors.AsType[permanentError](err)
		last := perm || attempt >= o.cfg.MaxAttempts || o.ctx.Err() != nil
		fields := append([]any{logFieldDestination, o.name, logFieldWhat, j.what,
			logFieldAttempt, attempt, logFieldError, err.Error()}, j.attrs...)
		if last {
			o.failed.Add(1)
			o.log.Warn("notification failed", fields...)
			return
		}
		o.log.Info("notification attempt failed, will retry", fields...)
		wait := o.backoff(attempt)
		if ra, ok := errors.AsType[retryAfterError](err); ok {
			wait = max(wait, min(ra.after, maxRetryAfter))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.ctx.Done():
			t.Stop()
			o.failed.Add(1)
			o.log.Warn("notification abandoned at shutdown", fields...)
			return
		}
	}
}

func (o *outbox) attempt(j job) error {
	ctx, cancel := context.WithTimeout(o.ctx, o.cfg.Timeout)
	defer cancel()
	return j.send(ctx)
}

// backoff is the wait after failed attempt n (1-based): BaseBackoff
// doubling, capped at MaxBackoff, with the upper half jittered so that
// many deliveries failing together do not retry together.
func (o *outbox) backoff(n int) time.Duration {
	d := o.cfg.BaseBackoff
	for i := 1; i < n && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// close stops enqueue, lets the workers finish the queue, and when ctx
// ends first cancels what is in flight and drops what is queued.
func (o *outbox) close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.q)
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		o.cancel()
		return nil
	case <-ctx.Done():
		o.cancel()
		<-done
		return ctx.Err()
	}
}

func (o *outbox) stats() DeliveryStats {
	if o == nil {
		return DeliveryStats{}
	}
	return DeliveryStats{Delivered: o.delivered.Load(), Failed: o.failed.Load(), Dropped: o.dropped.Load()}
}
