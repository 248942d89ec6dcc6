package policies

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
)

// boundedCache is a concurrency-safe map holding at most max entries. It
// keeps two generations: when the current one fills, it becomes the old one
// and the previous old one is dropped; a hit in the old generation is copied
// forward. That approximates LRU without per-entry bookkeeping.
type boundedCache[V any] struct {
	mu       sync.Mutex
	half     int
	cur, old map[string]V
}

func newBoundedCache[V any](size int) *boundedCache[V] {
	half := max(size/2, 1)
	return &boundedCache[V]{half: half, cur: make(map[string]V)}
}

func (c *boundedCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		c.insert(k, v)
	}
	return v, ok
}

func (c *boundedCache[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insert(k, v)
}

func (c *boundedCache[V]) insert(k string, v V) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]V, c.half)
	}
	c.cur[k] = v
}

// appendKey appends the canonical encoding of one field value to a cache
// key. The encoding is injective: every value is tagged with its type and
// strings and collections carry their lengths, so two different inputs never
// share a key.
func appendKey(b []byte, v any, present bool) []byte {
	if !present {
		return append(b, 0)
	}
	switch x := v.(type) {
	case nil:
		return append(b, 'z')
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case string:
		b = binary.AppendUvarint(append(b, 's'), uint64(len(x)))
		return append(b, x...)
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'n'), math.Float64bits(x))
	case []any:
		b = binary.AppendUvarint(append(b, 'a'), uint64(len(x)))
		for _, e := range x {
			b = appendKey(b, e, true)
		}
		return b
	case map[string]any:
		b = binary.AppendUvarint(append(b, 'o'), uint64(len(x)))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendKey(b, k, true)
			b = appendKey(b, x[k], true)
		}
		return b
	}
	// normalize admits no other type; mark it so it can never alias.
	return append(b, '?')
}
