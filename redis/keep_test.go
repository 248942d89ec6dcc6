package redis

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmbeddedKillSwitchesSurviveARestart: a switch turned on with the
// embedded Redis is on again after the store is closed and reopened on the
// same keep file, with who and why; one turned off stays off.
func TestEmbeddedKillSwitchesSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "killswitches.json")
	first, err := Open(t.Context(), Options{KeepFile: path, OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k := liveKillSwitch(t, first)
	for _, c := range []struct {
		scope string
		on    bool
	}{{KillAgent("runaway"), true}, {KillConnector("stripe"), true}, {KillAll, true}, {KillAll, false}} {
		if err := k.Set(t.Context(), c.scope, c.on, "incident 42", "alice"); err != nil {
			t.Fatal(err)
		}
	}
	k.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("keep file: %v, mode %v (want no group or other access)", err, fi.Mode())
	}

	second := openStore(t, Options{KeepFile: path})
	k2 := liveKillSwitch(t, second)
	for _, c := range []struct {
		agent, connector string
		on               bool
	}{
		{"runaway", "github", true}, // agent switch kept
		{"other", "stripe", true},   // connector switch kept
		{"other", "github", false},  // all: turned off before the restart, still off
	} {
		sw, on, err := k2.Active(t.Context(), c.agent, c.connector)
		if err != nil || on != c.on {
			t.Errorf("after restart, %s via %s: on=%v err=%v, want on=%v", c.agent, c.connector, on, err, c.on)
		}
		if on && (sw.Who != "alice" || sw.Reason != "incident 42") {
			t.Errorf("after restart, %s: who %q why %q", sw.Scope, sw.Who, sw.Reason)
		}
	}
	list, err := k2.List(t.Context())
	if err != nil || len(list) != 3 {
		t.Errorf("List after restart: %+v, %v (want 3 scopes, all's last change included)", list, err)
	}
}

// TestEmbeddedKeepFileUnreadableRefusesToStart: a keep file that exists but
// cannot be decoded stops Open with an error naming it, rather than starting
// with every switch lifted.
func TestEmbeddedKeepFileUnreadableRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated":     `{"version": 1, "killswitch": {"all": "{\"on\":tr`,
		"wrong version": `{"version": 9, "killswitch": {}}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), Options{KeepFile: path})
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name %s", name, err, path)
		}
	}
}

// TestEmbeddedKeepFileSaveFailureIsReported: when the change cannot be
// saved, Set says so (ErrNotKept) and the switch still takes effect now.
func TestEmbeddedKeepFileSaveFailureIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone", "killswitches.json") // directory missing
	s := openStore(t, Options{KeepFile: path})
	k := liveKillSwitch(t, s)
	err := k.Set(t.Context(), KillAll, true, "", "bob")
	if !errors.Is(err, ErrNotKept) {
		t.Fatalf("Set: %v, want ErrNotKept", err)
	}
	waitFor(t, 5*time.Second, "switch active despite the save failure", func() bool {
		_, on, err := k.Active(t.Context(), "a", "github")
		return err == nil && on
	})
}
