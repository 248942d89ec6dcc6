package gateway

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/echo"
	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/redis/redistest"
)

// A Redis behind TLS with a private CA is reached with redis.tls_ca (and
// tls_server_name when the name dialled is not on its certificate); the
// system roots alone, or another name, fail closed at the first operation.
func TestRedisTLSWithPrivateCA(t *testing.T) {
	dir := t.TempDir()
	certs, err := echo.NewCerts("redis.internal")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(certs.Server.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile := filepath.Join(dir, "redis.pem"), filepath.Join(dir, "redis-key.pem"), filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.Server.Certificate[0]}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600))
	must(t, os.WriteFile(caFile, certs.CAPEM, 0o600))
	srv := redistest.StartTLS(t, certFile, keyFile)

	tests := []struct {
		name, redis string
		ok          bool
	}{
		{"private CA and the certificate's name", "{url: \"rediss://" + srv.TLSAddr() + "\", tls_ca: ./ca.pem, tls_server_name: redis.internal}", true},
		{"system roots only", "{url: \"rediss://" + srv.TLSAddr() + "\", tls_server_name: redis.internal}", false},
		{"private CA, another name", "{url: \"rediss://" + srv.TLSAddr() + "\", tls_ca: ./ca.pem, tls_server_name: other.internal}", false},
		{"private CA, the IP dialled (not on the certificate)", "{url: \"rediss://" + srv.TLSAddr() + "\", tls_ca: ./ca.pem}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "bridle.yaml")
			must(t, os.WriteFile(p, []byte("version: 1\nredis: "+tt.redis+"\n"), 0o644))
			plan, err := Load(p, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			g := &gateway{dir: statedir.Dir(t.TempDir()), opts: Options{Log: slog.New(slog.DiscardHandler)}}
			st, err := openState(t.Context(), plan.Config.Redis, plan.Config.Approvals.Timeout, g)
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			err = st.store.Ping(t.Context())
			if (err == nil) != tt.ok {
				t.Errorf("ping: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// The redis block's TLS files are checked at load, with their place.
func TestRedisTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "notpem.txt"), []byte("hello"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "big.pem"), make([]byte, 2<<20), 0o600))
	tests := []struct{ redis, want string }{
		{"{tls_ca: ./notpem.txt}", "need a url, sentinel or cluster"},
		{"{url: \"redis://r:6379\", tls_ca: ./missing.pem}", "redis.tls_ca: reading tls_ca"},
		{"{url: \"redis://r:6379\", tls_ca: ./notpem.txt}", "tls_ca ./notpem.txt holds no PEM certificate"},
		{"{url: \"redis://r:6379\", tls_ca: /dev/zero}", "/dev/zero is not a regular file"}, // would never end
		{"{url: \"redis://r:6379\", tls_ca: ./big.pem}", "big.pem is larger than 1 MiB"},
		{"{url: \"redis://r:6379\", tls_cert: ./notpem.txt}", "give tls_cert and tls_key together"},
		{"{url: \"redis://r:6379\", tls_cert: ./notpem.txt, tls_key: ./notpem.txt}", "redis.tls_cert: tls_cert ./notpem.txt and tls_key ./notpem.txt"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, "bridle.yaml")
		must(t, os.WriteFile(p, []byte("version: 1\nredis: "+tt.redis+"\n"), 0o644))
		_, err := Load(p, noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bridle.yaml:2:") {
			t.Errorf("%s: %v, want file:line and %q", tt.redis, err, tt.want)
		}
	}
}
