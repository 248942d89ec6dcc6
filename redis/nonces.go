package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Nonces records one-time values, such as decision-token nonces (DESIGN §4
// invariant 5), shared by every replica. It is safe for concurrent use.
//
// A nonce is registered when its token is issued and consumed when the
// token is used; only a registered, unconsumed nonce is accepted. So a store
// that loses its data (a Redis restart without persistence, a failover to an
// empty replica, a restart of the embedded Redis) forgets the tokens it
// issued rather than the ones that were used: every outstanding token is
// refused (ErrUnknownNonce), none is accepted twice, and no clock is
// involved. A token signed by a leaked key but never issued is refused too.
type Nonces struct {
	store *Store
}

// noncePrefix keys a nonce: "issued" until used, then "used" (kept until
// the token could no longer verify).
const noncePrefix = "bridle:nonce:"

// ErrUnknownNonce reports a nonce that was never registered, or whose
// record was lost with Redis's data: it must be refused.
var ErrUnknownNonce = errors.New("nonce: not issued by this store (or Redis lost its data since); ask for a new token")

// NewNonces returns a nonce store on s.
func NewNonces(s *Store) *Nonces { return &Nonces{store: s} }

// Register records nonce as issued and unused for ttl, which should outlast
// whatever the nonce protects (a token's expiry plus clock-skew leeway). A
// nonce registered twice is an error: nonces are random, so it is a bug.
func (n *Nonces) Register(ctx context.Context, nonce string, ttl time.Duration) error {
	if err := checkNonce(nonce, ttl); err != nil {
		return err
	}
	ctx, cancel := n.store.opContext(ctx)
	defer cancel()
	ok, err := n.store.client.SetNX(ctx, noncePrefix+nonce, "issued", ttl+n.store.expirySlack).Result()
	if err != nil {
		return fmt.Errorf("nonce: registering: %w", err)
	}
	if !ok {
		return errors.New("nonce: already registered")
	}
	return nil
}

// useScript consumes KEYS[1]: 1 if it was issued and unused, 0 if it was
// used, -1 if it is unknown. The TTL set at registration is kept.
var useScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == 'issued' then
  redis.call('SET', KEYS[1], 'used', 'KEEPTTL')
  return 1
end
if v then return 0 end
return -1
`)

// Use consumes nonce and reports whether this call was its first use (one
// atomic script, so of concurrent calls on any replicas exactly one sees
// fresh). An unregistered nonce is ErrUnknownNonce. On any error fresh is
// false and the caller must refuse: the nonce may have been used.
func (n *Nonces) Use(ctx context.Context, nonce string) (fresh bool, err error) {
	if err := checkNonce(nonce, time.Millisecond); err != nil {
		return false, err
	}
	ctx, cancel := n.store.opContext(ctx)
	defer cancel()
	res, err := useScript.Run(ctx, n.store.client, []string{noncePrefix + nonce}).Int64()
	if err != nil {
		return false, fmt.Errorf("nonce: recording: %w", err)
	}
	switch res {
	case 1:
		return true, nil
	case 0:
		return false, nil
	default:
		return false, ErrUnknownNonce
	}
}

func checkNonce(nonce string, ttl time.Duration) error {
	if nonce == "" {
		return errors.New("nonce: empty")
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("nonce: ttl %s shorter than 1ms", ttl)
	}
	return nil
}
