package redis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/alicebob/miniredis/v2"
)

// keptFile is what the embedded Redis keeps across restarts: the kill
// switches, every scope ever set with its last change, as stored in Redis.
// Rate windows, pending approvals and nonces are not kept: losing them
// denies (a token registered before the restart is refused) or starts a
// fresh rate window, whereas a lost kill switch would let a stopped agent
// run again after a restart.
type keptFile struct {
	Version    int               `json:"version"`
	KillSwitch map[string]string `json:"killswitch"` // scope → stored JSON Switch
}

const keptVersion = 1

// keeper saves the embedded Redis's kill switches to a file.
type keeper struct {
	path string
	mu   sync.Mutex // one save at a time, so the last change is the last write
}

// restore loads path, if it exists, into m. A file that exists but cannot be
// read is an error: starting without switches that were on would lift them.
func (k *keeper) restore(m *miniredis.Miniredis) error {
	b, err := os.ReadFile(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redis: reading the embedded Redis's kill switches: %w", err)
	}
	var f keptFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("redis: %s: %w (kill switches that were on would be lifted; fix or remove the file)", k.path, err)
	}
	if f.Version != keptVersion {
		return fmt.Errorf("redis: %s: version %d, want %d", k.path, f.Version, keptVersion)
	}
	for scope, v := range f.KillSwitch {
		m.HSet(killKey, scope, v)
	}
	return nil
}

// save writes the kill switches of m to the file: a temporary file in the
// same directory, synced, then renamed over the old one, so a crash leaves
// either the old or the new set, never half of one.
func (k *keeper) save(m *miniredis.Miniredis) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := keptFile{Version: keptVersion, KillSwitch: map[string]string{}}
	scopes, _ := m.HKeys(killKey) // an error means no such key: nothing set yet
	sort.Strings(scopes)
	for _, scope := range scopes {
		f.KillSwitch[scope] = m.HGet(killKey, scope)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(k.path), ".killswitch-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), k.path)
}
