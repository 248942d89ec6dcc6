// Package redistest starts real redis-server processes for tests, each on a
// free loopback port with a readiness wait, and lets a test kill, stall
// (SIGSTOP) and restart them to prove that callers fail closed and recover.
//
// When redis-server is not installed, Start fails the test if the CI
// environment variable is set and skips it otherwise. BRIDLE_REDIS_SERVER
// names another binary.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process. Its methods are safe for concurrent
// use; the process is killed when the test ends.
type Server struct {
	t       testing.TB
	bin     string
	port    int
	tlsPort int      // 0: no TLS
	conf    string   // config file given first, if any
	args    []string // extra redis-server arguments

	mu     sync.Mutex
	cmd    *exec.Cmd
	output *bytes.Buffer
	exited chan struct{}
}

// Start starts a redis-server on a free loopback port and waits until it
// answers PING.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "")
}

// start starts redis-server with an optional config file and extra args.
func start(t testing.TB, conf string, args ...string) *Server {
	t.Helper()
	bin := os.Getenv("BRIDLE_REDIS_SERVER")
	if bin == "" {
		bin = "redis-server"
	}
	bin, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found and CI is set: install it (Debian: apt-get install redis-server): %v", err)
		}
		t.Skipf("redis-server not found (%v): install it to run this test (Debian: apt-get install redis-server)", err)
	}
	s := &Server{t: t, bin: bin, conf: conf, args: args}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() && s.output != nil {
			t.Logf("redis-server output:\n%s", s.output)
		}
	})
	// A port found free may be taken before redis-server binds it; try again.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("starting redis-server: %v", err)
	return nil
}

// StartTLS starts a redis-server that also serves TLS on a port of its own
// (TLSAddr), with the PEM certificate and key in certFile and keyFile.
// Clients are not asked for certificates.
func StartTLS(t testing.TB, certFile, keyFile string) *Server {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, "", "--tls-port", strconv.Itoa(p), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-auth-clients", "no")
	s.tlsPort = p
	return s
}

// TLSAddr is host:port of the TLS listener of a StartTLS server.
func (s *Server) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort)) }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Kill stops the server with SIGKILL (resuming it first if stalled) and waits
// for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	<-s.exited // after this, output is complete and safe to read
	s.cmd = nil
}

// Restart kills the server if it runs and starts an empty one on the same
// port (no persistence: data and loaded scripts are gone, as after a crash of
// a cache-only Redis).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	s.killLocked()
	s.mu.Unlock()
	// The port may linger briefly after a kill.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("restarting redis-server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pause stalls the server with SIGSTOP: connections stay open and nothing
// answers, the worst case for a client without timeouts.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signalling redis-server: %v", err)
	}
}

// start runs redis-server on s.port and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &bytes.Buffer{}
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", // tests want an empty server every time
		"--daemonize", "no", "--loglevel", "warning", "--logfile", "",
	}...)
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start: %s", out.String())
		default:
		}
		if ping(s.Addr()) == nil {
			s.cmd, s.output, s.exited = cmd, out, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server not answering on %s after 10s: %s", s.Addr(), out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends one PING and expects PONG.
func ping(addr string) error {
	reply, err := command(addr, "PING")
	if err == nil && reply != "PONG" {
		err = fmt.Errorf("unexpected answer %q", reply)
	}
	return err
}

// command sends one inline command and returns its reply as text (an
// array's elements joined by spaces).
func command(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	reply, err := readReply(bufio.NewReader(c))
	if err != nil {
		return "", fmt.Errorf("%s: %w", line, err)
	}
	return reply, nil
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimSuffix(head, "\r\n")
	if head == "" {
		return "", errors.New("empty reply")
	}
	switch head[0] {
	case '+', ':':
		return head[1:], nil
	case '-':
		return "", errors.New(head[1:])
	case '$', '*':
		n, err := strconv.Atoi(head[1:])
		if err != nil {
			return "", fmt.Errorf("bad reply header %q", head)
		}
		if n < 0 {
			return "", errors.New("nil reply")
		}
		if head[0] == '$' {
			body := make([]byte, n+2)
			if _, err := io.ReadFull(r, body); err != nil {
				return "", err
			}
			return string(body[:n]), nil
		}
		items := make([]string, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(items, " "), nil
	}
	return "", fmt.Errorf("unexpected reply %q", head)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
