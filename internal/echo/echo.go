// Package echo is a TLS upstream that answers every request with what it
// received (method, host, path, headers, body size) as JSON. It stands in
// for a real API in `make run` and in end-to-end tests, so a test can
// check exactly what the gateway forwarded.
package echo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// Request is what the upstream saw.
type Request struct {
	Method   string      `json:"method"`
	Host     string      `json:"host"`
	Path     string      `json:"path"` // as received, escaped form
	Proto    string      `json:"proto"`
	Header   http.Header `json:"header"`
	BodySize int64       `json:"body_size"`
}

// Handler echoes requests and remembers them for tests. It is safe for
// concurrent use.
type Handler struct {
	mu   sync.Mutex
	seen []Request
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	req := Request{Method: r.Method, Host: r.Host, Path: r.URL.EscapedPath(), Proto: r.Proto, Header: r.Header.Clone(), BodySize: n}
	if r.URL.RawQuery != "" {
		req.Path += "?" + r.URL.RawQuery
	}
	h.mu.Lock()
	h.seen = append(h.seen, req)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(req)
}

// Seen returns the requests received so far.
func (h *Handler) Seen() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.seen...)
}

// Reset forgets the requests seen.
func (h *Handler) Reset() {
	h.mu.Lock()
	h.seen = nil
	h.mu.Unlock()
}

// Certs is a throwaway CA and a server certificate it signed.
type Certs struct {
	CAPEM  []byte
	Server tls.Certificate
}

// NewCerts makes a CA and a server certificate valid for hosts (DNS names
// or IP literals).
func NewCerts(hosts ...string) (*Certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "echo upstream test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("echo CA: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(47 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, h := range hosts {
		if ip := parseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("echo server cert: %w", err)
	}
	return &Certs{
		CAPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}, nil
}

// TLSConfig serves the certificate with h2 and http/1.1.
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Server}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}
