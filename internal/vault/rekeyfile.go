package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BackupSuffix is appended to a config's name for the copy RekeyFile keeps
// of it as it was.
const BackupSuffix = ".bak"

// RekeyOptions tunes RekeyFile.
type RekeyOptions struct {
	// NoBackup skips the copy of the file as it was (path + BackupSuffix).
	NoBackup bool
	// Verify, when set, is given the path of the re-keyed file, written and
	// synced next to the original, before it replaces it. An error leaves
	// the original and its backup as they were and removes the new file.
	// The caller loads it there with the new key, as `bridle up` would.
	Verify func(newPath string) error
}

// RekeyFile re-keys the config file at path in place (see Rekey): it writes
// the result to a temporary file in the same directory with the original's
// mode, syncs it, has opts.Verify check it, keeps the original as
// path + BackupSuffix (0600) unless opts.NoBackup, then renames the new file
// over path, so a reader sees the old file or the new one, never half of
// one. A symbolic link is followed and its target rewritten. When the file
// has no enc: value, nothing is written.
func RekeyFile(path string, oldKey, newKey Key, opts RekeyOptions) (RekeyResult, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return RekeyResult{}, fmt.Errorf("re-keying: %w", err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return RekeyResult{}, fmt.Errorf("re-keying: %w", err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return RekeyResult{}, fmt.Errorf("re-keying: %w", err)
	}
	out, res, err := Rekey(path, data, oldKey, newKey)
	if err != nil || len(res.Reencrypted) == 0 {
		return res, err
	}
	tmp, err := writeTemp(target, out, fi.Mode().Perm())
	if err != nil {
		return RekeyResult{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	if opts.Verify != nil {
		if err := opts.Verify(tmp); err != nil {
			return RekeyResult{}, fmt.Errorf("re-keying: the new file does not load with the new key, %s left unchanged: %w", path, err)
		}
	}
	if !opts.NoBackup {
		bak, err := writeTemp(target+BackupSuffix, data, 0o600)
		if err != nil {
			return RekeyResult{}, err
		}
		if err := os.Rename(bak, target+BackupSuffix); err != nil {
			os.Remove(bak)
			return RekeyResult{}, fmt.Errorf("re-keying: keeping a backup: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return RekeyResult{}, fmt.Errorf("re-keying: replacing %s: %w", path, err)
	}
	syncDir(filepath.Dir(target))
	return res, nil
}

// writeTemp writes data with mode perm to a new hidden file next to path,
// synced to disk, and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("re-keying: %w", err)
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("re-keying: writing %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// syncDir makes a rename in dir durable. It is best effort: some
// filesystems refuse to sync a directory, and the rename has happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
