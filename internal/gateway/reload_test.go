package gateway

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The file watch reloads on an edit of the config, and on the update of a
// Kubernetes ConfigMap mounted as a volume, where the kubelet writes the
// new files into a new directory and renames a "..data" link onto it;
// other files in the directory do not reload.
func TestWatchSeesConfigChanges(t *testing.T) {
	const cfg = "version: 1\n"
	tests := []struct {
		name      string
		configMap bool // the layout of a ConfigMap volume, else a plain file
		change    func(t *testing.T, dir string)
		reload    bool
	}{
		{"an editor replaces the file", false, func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "bridle.yaml.tmp"), cfg+"# edited\n")
			must(t, os.Rename(filepath.Join(dir, "bridle.yaml.tmp"), filepath.Join(dir, "bridle.yaml")))
		}, true},
		{"the kubelet updates the ConfigMap", true, func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "..2026_11_25_02", "bridle.yaml"), cfg+"# new version\n")
			must(t, os.Symlink("..2026_11_25_02", filepath.Join(dir, "..data_tmp")))
			must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		}, true},
		{"another file changes", true, func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "notes.txt"), "hello")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A ConfigMap volume: bridle.yaml → ..data/bridle.yaml, ..data →
			// ..<timestamp>.
			dir := t.TempDir()
			path := filepath.Join(dir, "bridle.yaml")
			if tt.configMap {
				write(t, filepath.Join(dir, "..2026_11_25_01", "bridle.yaml"), cfg)
				must(t, os.Symlink("..2026_11_25_01", filepath.Join(dir, "..data")))
				must(t, os.Symlink(filepath.Join("..data", "bridle.yaml"), path))
			} else {
				write(t, path, cfg)
			}
			plan, err := Load(path, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			g := &gateway{opts: Options{ConfigPath: path, Log: slog.New(slog.DiscardHandler)}, plan: plan}
			changes := g.watch(t.Context())
			tt.change(t, dir)
			wait := 5 * time.Second
			if !tt.reload {
				wait = time.Second // 300 ms of coalescing, and room to spare
			}
			select {
			case <-changes:
				if !tt.reload {
					t.Error("reloaded for a file that is not config")
				}
			case <-time.After(wait):
				if tt.reload {
					t.Error("no reload within 5 s")
				}
			}
		})
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(body), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
