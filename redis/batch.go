package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// maxBatch bounds the script calls sent in one pipeline, so one round trip
// (and the time Redis spends on it before answering anyone) stays short.
const maxBatch = 128

// errStoreClosed answers calls made after, or still queued at, Close.
var errStoreClosed = errors.New("store closed")

// scriptCall is one caller's script run, queued for the sender.
type scriptCall struct {
	ctx  context.Context // the caller's, bounded by the operation timeout
	keys []string
	args []any
	// done receives the result exactly once. It is buffered so the sender
	// never waits for a caller that gave up (timed out) before it answered.
	done chan scriptResult
}

type scriptResult struct {
	vals []int64
	err  error
}

// batcher sends the script calls of concurrent callers to Redis together:
// callers queue their calls, and one sender goroutine takes everything
// queued (up to maxBatch) and sends it as one pipeline — one write and one
// read for many calls, on both sides of the connection (DESIGN §7,
// envoyproxy/ratelimit's pipeline window). It never waits for a batch to
// fill: a call made while few others are being answered (no more than the
// process has CPUs) is sent at once from its own goroutine, and the calls
// beyond those form the sender's batches, each sent as soon as the previous
// one is answered.
//
// Every failure reaches the callers as an error (fail closed): a pipeline
// error fails every call it carried, a caller whose context ends first
// stops waiting and gets the context's error, and a full queue or a closed
// store refuses the call. Each call's script runs at most once: nothing is
// retried except an EVALSHA that Redis refused with NOSCRIPT, which did not
// run.
type batcher struct {
	client    goredis.UniversalClient
	script    *goredis.Script
	opTimeout time.Duration
	queue     chan *scriptCall
	stop      chan struct{}
	done      chan struct{}
	closing   sync.Once
	// inflight counts the calls being answered. While it is at most alone
	// (GOMAXPROCS) a call goes straight to Redis (evalAlone): that few
	// callers can each wait on their own connection in parallel, and a
	// single sender would only serialise their round trips and add two
	// goroutine hand-offs per call. Beyond it callers would queue for a CPU
	// anyway, and the rest go to the sender, where batching saves each
	// call's write and read on both sides.
	inflight atomic.Int32
	alone    int32
	// pipelines counts the pipelines sent (NOSCRIPT retries not included),
	// so tests can tell that calls were batched.
	pipelines atomic.Int64
}

func newBatcher(client goredis.UniversalClient, script *goredis.Script, opTimeout time.Duration) *batcher {
	b := &batcher{
		client: client, script: script, opTimeout: opTimeout,
		alone: int32(runtime.GOMAXPROCS(0)),
		// A few batches' worth of room: callers beyond it are refused at
		// once rather than waiting for a Redis that is already behind.
		queue: make(chan *scriptCall, 8*maxBatch),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// eval runs the batcher's script with keys and args and returns its integer
// results. ctx bounds the wait: the caller gets ctx's error if no answer
// came in time, whether or not the script has run since (as with a single
// command that timed out). It is safe for concurrent use.
func (b *batcher) eval(ctx context.Context, keys []string, args ...any) ([]int64, error) {
	select {
	case <-b.stop:
		return nil, errStoreClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queueing script call: %w", err)
	}
	defer b.inflight.Add(-1)
	if b.inflight.Add(1) <= b.alone {
		return b.evalAlone(ctx, keys, args)
	}
	c := &scriptCall{ctx: ctx, keys: keys, args: args, done: make(chan scriptResult, 1)}
	select {
	case b.queue <- c:
	default:
		return nil, errors.New("too many script calls waiting for redis")
	}
	select {
	case r := <-c.done:
		return r.vals, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for script result: %w", ctx.Err())
	case <-b.done:
		// Closed: the sender answered this call before it stopped, or
		// never will (queued after it drained the queue).
		select {
		case r := <-c.done:
			return r.vals, r.err
		default:
			return nil, errStoreClosed
		}
	}
}

// evalAlone sends one call from the caller's goroutine (see inflight).
// Script.Run sends EVALSHA, and EVAL after NOSCRIPT.
func (b *batcher) evalAlone(ctx context.Context, keys []string, args []any) ([]int64, error) {
	vals, err := b.script.Run(ctx, b.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("running script: %w", err)
	}
	return vals, nil
}

// run is the sender: it takes the queued calls in batches until close.
func (b *batcher) run() {
	defer close(b.done)
	calls := make([]*scriptCall, 0, maxBatch)
	for {
		select {
		case c := <-b.queue:
			calls = append(calls[:0], c)
		case <-b.stop:
			b.failQueued()
			return
		}
	more:
		for len(calls) < maxBatch {
			select {
			case c := <-b.queue:
				calls = append(calls, c)
			default:
				break more
			}
		}
		b.send(calls)
		clear(calls) // drop references to answered calls
	}
}

// send runs one batch as a pipeline and answers each call.
func (b *batcher) send(calls []*scriptCall) {
	// Calls whose caller already gave up are not sent: their request has
	// been denied, so it must not consume rate-limit budget either.
	live := calls[:0:0]
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.done <- scriptResult{err: fmt.Errorf("waiting to send script call: %w", err)}
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	// The batch is bounded by one operation timeout from now; each caller
	// also stops waiting at its own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), b.opTimeout)
	defer cancel()
	b.pipelines.Add(1)
	cmds := b.exec(ctx, live, b.script.EvalSha)
	// Redis lost its script cache (restart, SCRIPT FLUSH, failover to a
	// node that never saw it): those EVALSHAs did not run, so they are sent
	// again as EVAL, which also loads the script for the next calls.
	var retry []*scriptCall
	var retryAt []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			retry, retryAt = append(retry, live[i]), append(retryAt, i)
		}
	}
	if len(retry) > 0 {
		for j, cmd := range b.exec(ctx, retry, b.script.Eval) {
			cmds[retryAt[j]] = cmd
		}
	}
	for i, c := range live {
		vals, err := cmds[i].Int64Slice()
		if err != nil {
			err = fmt.Errorf("running script: %w", err)
		}
		c.done <- scriptResult{vals: vals, err: err}
	}
}

// exec sends one pipeline of calls through run (EvalSha or Eval) and
// returns their commands, each holding its own result or error. A failed
// pipeline leaves its error on every command it could not complete.
func (b *batcher) exec(ctx context.Context, calls []*scriptCall, run func(context.Context, goredis.Scripter, []string, ...any) *goredis.Cmd) []*goredis.Cmd {
	pipe := b.client.Pipeline()
	cmds := make([]*goredis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = run(ctx, pipe, c.keys, c.args...)
	}
	// Exec's error is the first failed command's; each command carries its own.
	_, _ = pipe.Exec(ctx)
	return cmds
}

func isNoScript(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// close stops the sender; calls still queued, and later ones, fail.
// It may be called more than once.
func (b *batcher) close() {
	b.closing.Do(func() { close(b.stop) })
	<-b.done
}

// failQueued answers every call still queued at close.
func (b *batcher) failQueued() {
	for {
		select {
		case c := <-b.queue:
			c.done <- scriptResult{err: errStoreClosed}
		default:
			return
		}
	}
}
