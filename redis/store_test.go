package redis

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

func TestOpenRefusesInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"refuses a url and a cluster together", Options{URL: "redis://127.0.0.1:1", Cluster: []string{"127.0.0.1:2"}}},
		{"refuses a sentinel and a cluster together", Options{Sentinel: &SentinelOptions{MasterName: "m", Addrs: []string{"a:1"}}, Cluster: []string{"b:2"}}},
		{"refuses a sentinel without a master name", Options{Sentinel: &SentinelOptions{Addrs: []string{"a:1"}}}},
		{"refuses a sentinel without addresses", Options{Sentinel: &SentinelOptions{MasterName: "m"}}},
		{"refuses url query parameters that would override timeouts", Options{URL: "redis://127.0.0.1:1?read_timeout=10s"}},
		{"refuses a url that is not redis", Options{URL: "http://127.0.0.1:1"}},
		{"refuses credentials beside a url", Options{URL: "redis://127.0.0.1:1", Password: "p"}},
		{"refuses credentials without a server", Options{Password: "p"}},
		{"refuses TLS without a server", Options{TLS: &tls.Config{}}},
		{"refuses a negative operation timeout", Options{URL: "redis://127.0.0.1:1", OpTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestOpenAcceptsEveryDeployment(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		timeout time.Duration
	}{
		{"single node by url", Options{URL: "redis://user:pw@127.0.0.1:1/2"}, DefaultOpTimeout},
		{"single node over TLS", Options{URL: "rediss://127.0.0.1:1"}, DefaultOpTimeout},
		{"sentinel", Options{Sentinel: &SentinelOptions{MasterName: "m", Addrs: []string{"127.0.0.1:1"}}, Password: "p"}, DefaultOpTimeout},
		{"cluster", Options{Cluster: []string{"127.0.0.1:1", "127.0.0.1:2"}, TLS: &tls.Config{}}, DefaultOpTimeout},
		{"embedded", Options{}, DefaultEmbeddedOpTimeout},
		{"embedded, op_timeout set", Options{OpTimeout: 20 * time.Millisecond}, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Open does not dial, so unreachable addresses are fine here.
			s, err := Open(t.Context(), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if s.opTimeout != tt.timeout {
				t.Errorf("op timeout %s, want %s", s.opTimeout, tt.timeout)
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEmbeddedStoreAnswersOnLoopback(t *testing.T) {
	s := openStore(t, Options{})
	if !s.Embedded() {
		t.Error("Embedded() is false")
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if host := s.embedded.Host(); host != "127.0.0.1" {
		t.Errorf("embedded redis listens on %s, want 127.0.0.1", host)
	}
	// Another local process (an agent, say) cannot use it without the password.
	c, err := net.Dial("tcp", s.embedded.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("*2\r\n$3\r\nDEL\r\n$17\r\nbridle:killswitch\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(reply, "-NOAUTH") {
		t.Errorf("command without the password: got %q, %v; want NOAUTH", reply, err)
	}
}

func TestStoreOnRedisServerAnswersPing(t *testing.T) {
	s, _ := realStore(t, Options{})
	if s.Embedded() {
		t.Error("Embedded() is true")
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsStringRedactsPasswords(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"redacts the url's password", Options{URL: "redis://bridle:s3cret@redis:6379/1"}, "redis://bridle:xxxxx@redis:6379/1"},
		{"omits sentinel passwords", Options{Sentinel: &SentinelOptions{MasterName: "m", Addrs: []string{"s:1"}, Password: "s3cret"}, Password: "s3cret"}, `sentinel master "m" via [s:1]`},
		{"omits the cluster password", Options{Cluster: []string{"a:1"}, Password: "s3cret"}, "cluster [a:1]"},
		{"names the embedded redis", Options{}, "embedded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
