package config

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// PeekStateDir returns the state directory a config file names, without
// validating the rest of it. `bridle run` and `bridle agent add` need only
// that, and must work in a shell that lacks the credentials' environment
// variables. A missing file means the default next to where it would be.
func PeekStateDir(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("config path %s: %w", path, err)
	}
	stateDir := DefaultStateDir
	data, err := os.ReadFile(abs)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return "", fmt.Errorf("reading config: %w", err)
	default:
		var w struct {
			StateDir string `yaml:"state_dir"`
		}
		if err := yaml.Unmarshal(data, &w); err != nil {
			return "", fmt.Errorf("%s: not valid YAML: %w", abs, err)
		}
		if w.StateDir != "" {
			if stateDir, err = expandEnv(w.StateDir, os.LookupEnv); err != nil {
				return "", fmt.Errorf("%s: state_dir: %w", abs, err)
			}
		}
	}
	if filepath.IsAbs(stateDir) {
		return stateDir, nil
	}
	return filepath.Join(filepath.Dir(abs), stateDir), nil
}
