package redis

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Nonces records one-time values, such as decision-token nonces (DESIGN §4
// invariant 5), shared by every replica. It is safe for concurrent use.
type Nonces struct {
	store *Store
}

// NewNonces returns a nonce store on s.
func NewNonces(s *Store) *Nonces { return &Nonces{store: s} }

// Use marks nonce as used for ttl and reports whether this call was the first
// use within ttl (one atomic SET NX PX, so of concurrent calls on any replicas
// exactly one sees fresh). ttl should outlast whatever the nonce protects
// (a token's expiry plus clock-skew leeway). On error fresh is false and the
// caller must refuse: the nonce may have been used.
func (n *Nonces) Use(ctx context.Context, nonce string, ttl time.Duration) (fresh bool, err error) {
	if nonce == "" {
		return false, errors.New("nonce: empty")
	}
	if ttl < time.Millisecond {
		return false, fmt.Errorf("nonce: ttl %s shorter than 1ms", ttl)
	}
	ctx, cancel := n.store.opContext(ctx)
	defer cancel()
	fresh, err = n.store.client.SetNX(ctx, "bridle:nonce:"+nonce, 1, ttl+n.store.expirySlack).Result()
	if err != nil {
		return false, fmt.Errorf("nonce: recording: %w", err)
	}
	return fresh, nil
}
