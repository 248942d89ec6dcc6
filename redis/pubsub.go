package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// subscription keeps one pub/sub subscription to a channel up until closed:
// it resubscribes with backoff (minBackoff doubling to maxBackoff), pings a
// subscription that stays quiet for pingEvery, and declares it down when a
// ping goes unanswered, so a replica silently cut off from Redis notices
// within 2×pingEvery.
//
// up runs on every (re)subscription: announcements sent while down are lost,
// so it must resynchronise. message runs on every announcement, down every
// time the subscription ends. An error from up or message ends the
// subscription, which is then retried. The callbacks run on the
// subscription's goroutine, one at a time.
//
// The kill switch cache and the approvals' waiters use it.
type subscription struct {
	client   goredis.UniversalClient
	channel  string
	log      *slog.Logger
	name     string // for log lines: "<name> subscription down; <downNote>"
	downNote string
	up       func(ctx context.Context) error
	message  func(ctx context.Context, payload string) error
	down     func()
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex      // guards ps
	ps       *goredis.PubSub // the current subscription, closed by close to end a wait
}

// start starts following s.channel with s's callbacks, and returns s.
func (s *subscription) start() *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(ctx)
	return s
}

// close stops following and waits for the goroutine to end. down has run
// by the time it returns.
func (s *subscription) close() {
	s.mu.Lock()
	s.cancel()
	if s.ps != nil {
		_ = s.ps.Close() // unblocks a pending receive
	}
	s.mu.Unlock()
	<-s.done
}

func (s *subscription) run(ctx context.Context) {
	defer close(s.done)
	backoff := minBackoff
	for {
		wasLive, err := s.follow(ctx)
		s.down()
		if ctx.Err() != nil {
			return
		}
		if wasLive {
			backoff = minBackoff
		}
		s.log.Warn(s.name+" subscription down; "+s.downNote, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow subscribes and hands events to the callbacks until the
// subscription, a ping or a callback fails. It reports whether it was ever
// live.
func (s *subscription) follow(ctx context.Context) (wasLive bool, err error) {
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		return false, ctx.Err()
	}
	ps := s.client.Subscribe(ctx, s.channel)
	s.ps = ps
	s.mu.Unlock()
	defer ps.Close()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if err != nil {
			if pinged || !isTimeout(err) || ctx.Err() != nil {
				return wasLive, fmt.Errorf("%s subscription: %w", s.name, err)
			}
			if err := ps.Ping(ctx); err != nil {
				return wasLive, fmt.Errorf("%s subscription ping: %w", s.name, err)
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if err := s.up(ctx); err != nil {
				return wasLive, err
			}
			wasLive = true
		case *goredis.Message:
			if err := s.message(ctx, m.Payload); err != nil {
				return wasLive, err
			}
		}
	}
}
