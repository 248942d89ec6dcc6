package redis

import (
	"context"
	"time"
)

// How often a waiter re-reads its approval besides being woken. Pub/sub is
// at-most-once, so even with a live subscription a waiter polls now and
// then; without one it polls fast enough to notice a decision within about
// 100ms, as it would through pub/sub.
const (
	approvalPollLive  = time.Second
	approvalPollStale = 100 * time.Millisecond
)

// Wait blocks until the approval with this id is no longer pending — it was
// approved, denied, or expired undecided — and returns it; or until ctx
// ends, returning the approval as last read and ctx.Err(). Any other error is
// a store failure: callers tell the two apart by checking their ctx.Err().
//
// A decision made on any replica wakes the waiter through one shared
// pub/sub subscription (no connection per waiter); a fallback poll covers
// lost announcements and a subscription that is down. An approved approval
// still has to be Consumed before a request is let through.
func (a *Approvals) Wait(ctx context.Context, id string) (Approval, error) {
	agent, err := a.agentOf(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	// Register before the first read, so a decision announced between the
	// read and the wait still wakes us.
	wake := a.register(id)
	defer a.unregister(id, wake)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last Approval
	for {
		ap, now, err := a.get(ctx, agent, id)
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if err != nil && deadlinePassed(ctx) {
			// The read failed on ctx's deadline (the connection's own
			// deadline) before ctx's timer marked it done: the wait ended,
			// Redis did not fail.
			return last, context.DeadlineExceeded
		}
		if err != nil {
			return Approval{}, err
		}
		if ap.State != ApprovalPending {
			return ap, nil
		}
		last = ap
		d := approvalPollStale
		if a.live.Load() {
			d = approvalPollLive
		}
		// Wake just after the expiry too, by Redis's clock.
		d = min(d, ap.ExpiresAt.Sub(now)+time.Millisecond)
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-wake:
		case <-timer.C:
		}
	}
}

// Close stops following decisions. Waiters already waiting keep polling
// Redis, at the fast rate.
func (a *Approvals) Close() { a.sub.close() }

func (a *Approvals) register(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiters[id] == nil {
		a.waiters[id] = map[chan struct{}]struct{}{}
	}
	a.waiters[id][ch] = struct{}{}
	return ch
}

func (a *Approvals) unregister(id string, ch chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.waiters[id], ch)
	if len(a.waiters[id]) == 0 {
		delete(a.waiters, id)
	}
}

// wake nudges the waiters of id, or of every approval when id is "".
// Channels hold one nudge; a waiter that has one pending needs no second.
// A nudge only makes a waiter re-read Redis, so a stray or forged
// announcement on the channel cannot decide anything.
func (a *Approvals) wake(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for wid, chans := range a.waiters {
		if id != "" && wid != id {
			continue
		}
		for ch := range chans {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func deadlinePassed(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
