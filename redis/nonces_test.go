package redis

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// issued returns a nonce store on s with the given nonces registered, as
// the token issuer does.
func issued(t *testing.T, s *Store, nonces ...string) *Nonces {
	t.Helper()
	n := NewNonces(s)
	for _, v := range nonces {
		if err := n.Register(t.Context(), v, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestNoncesAreFreshOnlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		n, other := issued(t, s, "n1"), issued(t, replica(), "n2")
		steps := []struct {
			name      string
			nonces    *Nonces
			nonce     string
			wantFresh bool
			wantErr   error
		}{
			{"accepts an issued nonce", n, "n1", true, nil},
			{"refuses it a second time", n, "n1", false, nil},
			{"refuses it through another replica", other, "n1", false, nil},
			{"accepts a nonce issued by another replica", n, "n2", true, nil},
			{"refuses a nonce never issued", other, "forged", false, ErrUnknownNonce},
		}
		for _, st := range steps {
			fresh, err := st.nonces.Use(t.Context(), st.nonce)
			if fresh != st.wantFresh || !errors.Is(err, st.wantErr) {
				t.Errorf("%s: got %v, %v; want %v, %v", st.name, fresh, err, st.wantFresh, st.wantErr)
			}
		}
		if err := n.Register(t.Context(), "n1", time.Minute); err == nil {
			t.Error("registering a nonce twice succeeded")
		}
	})
}

// Invariant 5 across data loss: once Redis forgets its data, no token
// issued before is accepted (used or not), and new ones work.
func TestNoncesIssuedBeforeADataLossAreRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		n := issued(t, s, "used", "unused")
		if fresh, err := n.Use(t.Context(), "used"); err != nil || !fresh {
			t.Fatalf("first use: %v, %v", fresh, err)
		}
		if err := s.client.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		other := issued(t, replica(), "after")
		for _, st := range []struct {
			nonce string
			fresh bool
			err   error
		}{{"used", false, ErrUnknownNonce}, {"unused", false, ErrUnknownNonce}, {"after", true, nil}, {"after", false, nil}} {
			fresh, err := other.Use(t.Context(), st.nonce)
			if fresh != st.fresh || !errors.Is(err, st.err) {
				t.Errorf("%s after the loss: got %v, %v; want %v, %v", st.nonce, fresh, err, st.fresh, st.err)
			}
		}
	})
}

func TestNoncesConcurrentUsesHaveExactlyOneWinner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		stores := []*Nonces{issued(t, s, "contended"), NewNonces(replica())}
		var fresh atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				ok, err := stores[i%2].Use(t.Context(), "contended")
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
		if err := n.Register(t.Context(), "short", 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if fresh, err := n.Use(t.Context(), "short"); err != nil || !fresh {
			t.Fatalf("first use: %v, %v", fresh, err)
		}
		// Consuming keeps the registration's TTL. The embedded Redis may
		// keep it up to embeddedExpiryStep longer.
		took := waitFor(t, 5*time.Second, "nonce forgotten", func() bool {
			_, err := n.Use(t.Context(), "short")
			return errors.Is(err, ErrUnknownNonce)
		})
		if took < 80*time.Millisecond {
			t.Errorf("forgotten after %s, before its 100ms TTL", took)
		}
	})
}

func TestNoncesRefuseInvalidArguments(t *testing.T) {
	n := NewNonces(openStore(t, Options{}))
	if fresh, err := n.Use(t.Context(), ""); err == nil || fresh {
		t.Errorf("empty nonce: got %v, %v", fresh, err)
	}
	if err := n.Register(t.Context(), "", time.Minute); err == nil {
		t.Error("registering an empty nonce succeeded")
	}
	if err := n.Register(t.Context(), "x", 0); err == nil {
		t.Error("zero ttl: registered")
	}
}
