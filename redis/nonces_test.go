package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNoncesAreFreshOnlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		n, other := NewNonces(s), NewNonces(replica())
		steps := []struct {
			name      string
			nonces    *Nonces
			nonce     string
			wantFresh bool
		}{
			{"accepts a new nonce", n, "n1", true},
			{"refuses it a second time", n, "n1", false},
			{"refuses it through another replica", other, "n1", false},
			{"accepts another nonce", other, "n2", true},
		}
		for _, st := range steps {
			fresh, err := st.nonces.Use(t.Context(), st.nonce, time.Minute)
			if err != nil || fresh != st.wantFresh {
				t.Errorf("%s: got %v, %v; want %v", st.name, fresh, err, st.wantFresh)
			}
		}
	})
}

func TestNoncesConcurrentUsesHaveExactlyOneWinner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		stores := []*Nonces{NewNonces(s), NewNonces(replica())}
		var fresh atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				ok, err := stores[i%2].Use(t.Context(), "contended", time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Errorf("%d uses were fresh; want exactly 1", fresh.Load())
		}
	})
}

func TestNoncesAreForgottenAfterTheirTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		n := NewNonces(s)
		if fresh, err := n.Use(t.Context(), "short", 100*time.Millisecond); err != nil || !fresh {
			t.Fatalf("first use: %v, %v", fresh, err)
		}
		// The embedded Redis may keep it up to embeddedExpiryStep longer.
		took := waitFor(t, 5*time.Second, "nonce forgotten", func() bool {
			fresh, err := n.Use(t.Context(), "short", time.Hour)
			return err == nil && fresh
		})
		if took < 80*time.Millisecond {
			t.Errorf("forgotten after %s, before its 100ms TTL", took)
		}
	})
}

func TestNoncesRefuseInvalidArguments(t *testing.T) {
	n := NewNonces(openStore(t, Options{}))
	if fresh, err := n.Use(t.Context(), "", time.Minute); err == nil || fresh {
		t.Errorf("empty nonce: got %v, %v", fresh, err)
	}
	if fresh, err := n.Use(t.Context(), "x", 0); err == nil || fresh {
		t.Errorf("zero ttl: got %v, %v", fresh, err)
	}
}
