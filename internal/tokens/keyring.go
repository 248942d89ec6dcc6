package tokens

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

const (
	// EnvSigningKey is the environment variable that may hold the key ring
	// as PEM (give it to FromPEM); without it, use LoadOrCreate on the state
	// dir. Every replica that verifies must hold the same ring.
	EnvSigningKey = "BRIDLE_SIGNING_KEY"
	// KeyFile is the key ring's file name in the state directory.
	KeyFile = "signing-key.pem"
	// validUntilHeader marks, on a retired key's PUBLIC KEY block, the last
	// moment tokens it signed can still verify.
	validUntilHeader = "Valid-Until"
)

// Keyring holds the active ECDSA P-256 signing key and the public keys of
// retired ones, each still accepted until every token it signed has expired
// (its retirement + TTL + Leeway), so rotation has no gap.
//
// The PEM form is the active key as a PKCS#8 "PRIVATE KEY" block (a SEC 1
// "EC PRIVATE KEY" is accepted too), followed by a "PUBLIC KEY" block with a
// Valid-Until header (RFC 3339) per retired key.
//
// All methods are safe for concurrent use. The zero Keyring holds no key:
// make one with Generate, FromPEM or LoadOrCreate.
type Keyring struct {
	path string // file LoadOrCreate read, rewritten by Rotate; "" when not file-backed

	mu     sync.RWMutex
	active *ecdsa.PrivateKey
	kid    string
	keys   map[string]verifyKey // by kid, the active key included
}

type verifyKey struct {
	pub   *ecdsa.PublicKey
	until time.Time // zero for the active key
}

// Generate returns a ring with one fresh key, held only in memory.
func Generate() (*Keyring, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	return newKeyring(priv, nil)
}

// FromPEM reads a ring in the PEM form described on Keyring, such as the
// value of BRIDLE_SIGNING_KEY. Errors never quote the input.
func FromPEM(data []byte) (*Keyring, error) {
	var priv *ecdsa.PrivateKey
	retired := map[string]verifyKey{}
	rest := data
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch b.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY":
			if priv != nil {
				return nil, errors.New("signing key: more than one private key")
			}
			p, err := parsePrivate(b)
			if err != nil {
				return nil, err
			}
			priv = p
		case "PUBLIC KEY":
			kid, vk, err := parseRetired(b)
			if err != nil {
				return nil, err
			}
			retired[kid] = vk
		default:
			return nil, fmt.Errorf("signing key: unexpected PEM block %q", b.Type)
		}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("signing key: data that is not PEM")
	}
	if priv == nil {
		return nil, errors.New("signing key: no PRIVATE KEY block")
	}
	return newKeyring(priv, retired)
}

// LoadOrCreate reads the ring from dir/KeyFile, or on first boot generates
// one and writes it there (0600, dir created 0700). A file others can read
// is refused rather than used: whoever reads the key can mint tokens. Rotate
// rewrites the file.
func LoadOrCreate(dir string) (*Keyring, error) {
	path := filepath.Join(dir, KeyFile)
	k, err := load(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("signing key: creating %s: %w", dir, err)
		}
		if k, err = Generate(); err != nil {
			return nil, err
		}
		data, err := k.marshalPEM()
		if err != nil {
			return nil, err
		}
		switch err := writeFile(path, data, true); {
		case errors.Is(err, fs.ErrExist): // another process won the race: use its key
			k, err = load(path)
			if err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	k.path = path
	return k, nil
}

// Load reads the ring LoadOrCreate keeps in dir/KeyFile, with the same
// checks, but never creates one: for tools that change an existing ring.
// Rotate rewrites the file.
func Load(dir string) (*Keyring, error) {
	path := filepath.Join(dir, KeyFile)
	k, err := load(path)
	if err != nil {
		return nil, err
	}
	k.path = path
	return k, nil
}

func load(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is readable or writable by others (mode %04o): chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := FromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// KeyID returns the kid of the active key: the first 16 hex digits of the
// SHA-256 of its public key's PKIX DER.
func (k *Keyring) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.kid
}

// Rotate makes a fresh key active. The previous one signs no more tokens but
// verifies those it signed until now + TTL + Leeway; retired keys past that
// are dropped. A file-backed ring is rewritten first, and an error leaves the
// ring as it was.
func (k *Keyring) Rotate(now time.Time) error { return k.RotateWithGrace(now, 0) }

// RotateWithGrace is Rotate for a ring whose previous key may go on signing
// for up to grace after now: a running gateway that holds it until it is
// restarted. That key verifies until now + grace + TTL + Leeway, so the
// tokens it signs meanwhile live their full TTL; retired keys past their
// Valid-Until at now are dropped.
func (k *Keyring) RotateWithGrace(now time.Time, grace time.Duration) error {
	if grace < 0 {
		return fmt.Errorf("rotating signing key: negative grace %s", grace)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("rotating signing key: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	retired := map[string]verifyKey{}
	for kid, vk := range k.keys {
		switch {
		case kid == k.kid:
			retired[kid] = verifyKey{pub: vk.pub, until: now.Add(grace + TTL + Leeway).UTC().Truncate(time.Second).Add(time.Second)}
		case vk.until.After(now):
			retired[kid] = vk
		}
	}
	next, err := newKeyring(priv, retired)
	if err != nil {
		return err
	}
	if k.path != "" {
		data, err := next.marshalPEM()
		if err != nil {
			return err
		}
		if err := writeFile(k.path, data, false); err != nil {
			return err
		}
	}
	k.active, k.kid, k.keys = next.active, next.kid, next.keys
	return nil
}

// RetiredKey is a retired key still listed in a ring.
type RetiredKey struct {
	KID        string
	ValidUntil time.Time // tokens it signed verify before this moment
}

// Retired lists the ring's retired keys, latest Valid-Until first,
// including any past it that no Rotate has dropped yet.
func (k *Keyring) Retired() []RetiredKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kids := k.sortedKIDs()[1:]
	out := make([]RetiredKey, len(kids))
	for i, kid := range kids {
		out[i] = RetiredKey{KID: kid, ValidUntil: k.keys[kid].until}
	}
	return out
}

// WriteFile writes the ring, private key included, to a new file at path
// (0600; it fails with fs.ErrExist if path exists): for a ring an operator
// hands to every replica as BRIDLE_SIGNING_KEY.
func (k *Keyring) WriteFile(path string) error {
	k.mu.RLock()
	data, err := k.marshalPEM()
	k.mu.RUnlock()
	if err != nil {
		return err
	}
	return writeFile(path, data, true)
}

// PublicPEM returns the public keys that currently verify: the active one,
// then the retired ones with their Valid-Until. It holds nothing secret.
func (k *Keyring) PublicPEM() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []byte
	for _, kid := range k.sortedKIDs() {
		vk := k.keys[kid]
		b, err := publicBlock(vk)
		if err == nil {
			out = append(out, pem.EncodeToMemory(b)...)
		}
	}
	return out
}

// signer returns the active key and its kid.
func (k *Keyring) signer() (*ecdsa.PrivateKey, string) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active, k.kid
}

// verifier returns the public key for kid if it verifies tokens at now.
func (k *Keyring) verifier(kid string, now time.Time) *ecdsa.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	vk, ok := k.keys[kid]
	if !ok || (!vk.until.IsZero() && !now.Before(vk.until)) {
		return nil
	}
	return vk.pub
}

// marshalPEM encodes the ring, private key included: for the key file only.
func (k *Keyring) marshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.active)
	if err != nil {
		return nil, fmt.Errorf("encoding signing key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, kid := range k.sortedKIDs() {
		if kid == k.kid {
			continue
		}
		b, err := publicBlock(k.keys[kid])
		if err != nil {
			return nil, err
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out, nil
}

// sortedKIDs lists the active kid first, then retired ones, latest expiry
// first. The caller holds k.mu.
func (k *Keyring) sortedKIDs() []string {
	kids := make([]string, 0, len(k.keys))
	for kid := range k.keys {
		if kid != k.kid {
			kids = append(kids, kid)
		}
	}
	sort.Slice(kids, func(i, j int) bool { return k.keys[kids[i]].until.After(k.keys[kids[j]].until) })
	return append([]string{k.kid}, kids...)
}

func newKeyring(priv *ecdsa.PrivateKey, retired map[string]verifyKey) (*Keyring, error) {
	kid, err := keyID(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if _, dup := retired[kid]; dup {
		return nil, errors.New("signing key: the active key is also listed as retired")
	}
	keys := map[string]verifyKey{kid: {pub: &priv.PublicKey}}
	for rk, vk := range retired {
		keys[rk] = vk
	}
	return &Keyring{active: priv, kid: kid, keys: keys}, nil
}

func keyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

func parsePrivate(b *pem.Block) (*ecdsa.PrivateKey, error) {
	var key any
	var err error
	if b.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(b.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, errors.New("signing key: private key does not parse")
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		// ES256 is ECDSA on P-256 by definition (RFC 7518 §3.4).
		return nil, errors.New("signing key: not an ECDSA P-256 key")
	}
	return priv, nil
}

func parseRetired(b *pem.Block) (string, verifyKey, error) {
	key, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return "", verifyKey{}, errors.New("signing key: retired public key does not parse")
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return "", verifyKey{}, errors.New("signing key: retired key is not ECDSA P-256")
	}
	// A retired key must say when it stops verifying: an open-ended one would
	// keep accepting tokens from a key that was retired, perhaps because it
	// leaked.
	until, err := time.Parse(time.RFC3339, b.Headers[validUntilHeader])
	if err != nil {
		return "", verifyKey{}, fmt.Errorf("signing key: retired public key needs a %s header (RFC 3339)", validUntilHeader)
	}
	kid, err := keyID(pub)
	if err != nil {
		return "", verifyKey{}, err
	}
	return kid, verifyKey{pub: pub, until: until}, nil
}

func publicBlock(vk verifyKey) (*pem.Block, error) {
	der, err := x509.MarshalPKIXPublicKey(vk.pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	b := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if !vk.until.IsZero() {
		b.Headers = map[string]string{validUntilHeader: vk.until.UTC().Format(time.RFC3339)}
	}
	return b, nil
}

// writeFile writes data to path with mode 0600 through a temporary file in
// the same directory, so a reader never sees half a key. With exclusive it
// fails with fs.ErrExist when path exists (two processes booting at once
// keep one key); otherwise it replaces path atomically.
func writeFile(path string, data []byte, exclusive bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; say so explicitly all the same.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	if exclusive {
		err = os.Link(tmp.Name(), path)
	} else {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	return nil
}
