package xds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"time"

	"github.com/bridle-gw/bridle/envoy"
)

// CA is Bridle's local certificate authority. Agents trust it (through the
// bundle `bridle run` hands them) so that Envoy can terminate their TLS with
// a leaf minted for each connector host.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// caValidity is long because agents pin the CA through their trust store;
// the leaves it signs are short-lived.
const caValidity = 5 * 365 * 24 * time.Hour

// NewCA makes a CA and returns it with its PEM-encoded private key, for the
// caller to persist (mode 0600).
func NewCA(now time.Time) (*CA, []byte, error) { return newCA(now) }

func newCA(now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Bridle local CA", Organization: []string{"Bridle"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding CA key: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
	return ca, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// ParseCA reads a persisted CA and checks it is still valid at now.
func ParseCA(certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	ca, err := parseCA(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("CA expired on %s", ca.Cert.NotAfter.Format(time.DateOnly))
	}
	return ca, nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("certificate file holds no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("key file holds no PEM key")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("key does not match certificate")
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// Leaf is a minted server certificate for one host.
type Leaf struct {
	Host     string
	CertPEM  []byte // leaf then CA
	KeyPEM   []byte
	NotAfter time.Time
}

// LeafValidity is short so a leaked MITM key is useful only briefly; leaves
// are re-minted well before they expire (see Rotator).
const LeafValidity = 24 * time.Hour

// MintLeaf issues a certificate for host (SAN = host, serverAuth) with a
// fresh key. Leaf keys live only in memory and in Envoy (via SDS).
func (ca *CA) MintLeaf(host string, now time.Time) (*Leaf, error) {
	return ca.mint(CertSpec{Name: host, DNSNames: []string{host}, Server: true, Validity: LeafValidity}, now)
}

// CertSpec describes a certificate for Bridle's own connections.
type CertSpec struct {
	Name     string // common name
	DNSNames []string
	IPs      []netip.Addr
	Server   bool // serverAuth
	Client   bool // clientAuth
	Validity time.Duration
}

// ControlPlaneName is the DNS SAN of the control plane's server
// certificate: Envoys pin it (SNI + SAN), whatever address they dial.
const ControlPlaneName = envoy.ControlPlaneName

// ControlPlaneValidity bounds the control-plane certificates: the Envoy
// client certificate is embedded in a bootstrap, so it lives longer than
// a MITM leaf; regenerate bootstraps within a year.
const ControlPlaneValidity = 365 * 24 * time.Hour

// Mint issues a certificate from spec with a fresh key.
func (ca *CA) Mint(spec CertSpec, now time.Time) (*Leaf, error) { return ca.mint(spec, now) }

func (ca *CA) mint(spec CertSpec, now time.Time) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key for %s: %w", spec.Name, err)
	}
	notAfter := now.Add(spec.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: spec.Name},
		DNSNames:       spec.DNSNames,
		NotBefore:      now.Add(-5 * time.Minute), // tolerate small clock skew on agents
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	for _, ip := range spec.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %s: %w", spec.Name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key for %s: %w", spec.Name, err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, ca.CertPEM...)
	return &Leaf{
		Host:     spec.Name,
		CertPEM:  chain,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		NotAfter: notAfter,
	}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// inside rand.Read instead); keep a non-zero serial regardless.
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}
