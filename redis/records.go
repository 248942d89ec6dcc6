package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrRecordNotFound is returned by Records.Get for a missing or expired
// record.
var ErrRecordNotFound = errors.New("record not found")

// Records keeps small per-agent JSON records with a TTL, shared by every
// replica (the action requests of the HTTP API). It is safe for concurrent
// use.
type Records struct {
	store *Store
	kind  string
}

// NewRecords returns a record store for one kind ("action").
func NewRecords(s *Store, kind string) *Records { return &Records{store: s, kind: kind} }

func (r *Records) key(agent, id string) (string, error) {
	if err := validName("agent", agent); err != nil {
		return "", err
	}
	if id == "" || len(id) > 64 {
		return "", fmt.Errorf("record id: want 1 to 64 characters")
	}
	return "bridle:{" + agent + "}:" + r.kind + ":" + id, nil
}

// Put stores data under (agent, id) for ttl, replacing what was there.
func (r *Records) Put(ctx context.Context, agent, id string, data []byte, ttl time.Duration) error {
	k, err := r.key(agent, id)
	if err != nil {
		return err
	}
	ctx, cancel := r.store.opContext(ctx)
	defer cancel()
	if err := r.store.client.Set(ctx, k, data, ttl+r.store.expirySlack).Err(); err != nil {
		return fmt.Errorf("%s record: storing: %w", r.kind, err)
	}
	return nil
}

// Get reads (agent, id); a record of another agent is simply not found.
func (r *Records) Get(ctx context.Context, agent, id string) ([]byte, error) {
	k, err := r.key(agent, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := r.store.opContext(ctx)
	defer cancel()
	b, err := r.store.client.Get(ctx, k).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, ErrRecordNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s record: reading: %w", r.kind, err)
	}
	return b, nil
}
