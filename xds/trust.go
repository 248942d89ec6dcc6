package xds

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// systemBundles are where Linux distributions keep the system root bundle
// (the same list Go's crypto/x509 reads).
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

// SystemRoots returns the PEM bundle of system roots. $SSL_CERT_FILE wins,
// as it does for Go and OpenSSL.
func SystemRoots() ([]byte, error) {
	paths := systemBundles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		paths = []string{f}
	}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && hasPEM(b) {
			return b, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return nil, fmt.Errorf("no system root certificates found (looked in %v): %w", paths, errors.Join(errs...))
}

func hasPEM(b []byte) bool { return bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) }

// Bundle concatenates PEM bundles, each ending in a newline.
func Bundle(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
		if len(p) > 0 && p[len(p)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out
}
