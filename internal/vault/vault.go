// Package vault encrypts and decrypts the secrets held in bridle.yaml
// (DESIGN §4 invariant 7): AES-256-GCM with a fresh 96-bit random nonce per
// value, written as "enc:" + base64(nonce | ciphertext | tag). The 32-byte key
// comes from BRIDLE_ENCRYPTION_KEY as 64 hex characters.
//
// No error, String or log value of this package ever contains a key or a
// plaintext: callers put errors in startup messages and logs, where a secret
// must never appear (invariant 2).
//
// AES-GCM cannot tell a wrong key from an altered value: both fail the same
// authentication check. Decrypt therefore reports ErrAuthentication for one
// value, and DecryptAll, which sees every secret of a config at once, tells
// the two apart: when no value opens, the key is wrong (ErrWrongKey); when
// some open and others do not, those others were altered (ErrTampered).
// Rekey and RekeyFile, which move a config's values to a new key, tell them
// apart the same way.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// Prefix marks an encrypted value in bridle.yaml.
const Prefix = "enc:"

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // 96-bit nonce, the GCM standard size
	tagSize   = 16
)

var (
	// ErrMalformed means the value is not "enc:" + base64 of at least a
	// nonce and a tag: it was truncated or edited by hand.
	ErrMalformed = errors.New("malformed encrypted value")
	// ErrAuthentication means the value did not authenticate: the key is
	// wrong or the value was altered (GCM cannot tell which for one value).
	ErrAuthentication = errors.New("authentication failed: wrong key or altered value")
	// ErrWrongKey means no value of a set authenticated under the key.
	ErrWrongKey = errors.New("wrong key: no secret decrypts with BRIDLE_ENCRYPTION_KEY")
	// ErrTampered means a value failed authentication while others of the
	// same set, encrypted under the same key, opened: it was altered.
	ErrTampered = errors.New("tampered value: it does not authenticate although other secrets do")
	// ErrBadKey means the key text is not 64 hex characters.
	ErrBadKey = errors.New("encryption key must be 64 hex characters (32 bytes)")
)

// Key is an AES-256 key. Its zero value is not a usable key; get one from
// ParseKey. Formatting a Key with fmt or slog prints "[redacted]".
type Key struct {
	b   [keySize]byte
	set bool
}

// ParseKey parses 64 hex characters (either case; surrounding white space,
// such as the newline of a key file, is ignored). The error never repeats
// the input, which may be a real key with a typo.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*keySize {
		return Key{}, fmt.Errorf("parsing key: %w, got %d characters", ErrBadKey, len(s))
	}
	var k Key
	if _, err := hex.Decode(k.b[:], []byte(s)); err != nil {
		// hex errors quote the offending byte; do not wrap them.
		return Key{}, fmt.Errorf("parsing key: %w, found a non-hex character", ErrBadKey)
	}
	k.set = true
	return k, nil
}

// GenerateKey returns a new random key as 64 lower-case hex characters.
func GenerateKey() (string, error) {
	var b [keySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// String redacts the key.
func (k Key) String() string { return "vault.Key([redacted])" }

// GoString redacts the key for %#v.
func (k Key) GoString() string { return k.String() }

// Format redacts the key for every fmt verb, including %x and %d, which
// would otherwise print the bytes.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue redacts the key for log/slog.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k Key) aead() (cipher.AEAD, error) {
	if !k.set {
		return nil, fmt.Errorf("%w: zero Key", ErrBadKey)
	}
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return gcm, nil
}

// Encrypt seals plaintext under key with a fresh random nonce and returns
// "enc:" + base64(nonce | ciphertext | tag). A random 96-bit nonce per value
// keeps the chance of a repeat negligible for the few secrets a config holds
// (a repeat under GCM would leak the XOR of two plaintexts and the
// authentication key).
func Encrypt(key Key, plaintext []byte) (string, error) {
	gcm, err := key.aead()
	if err != nil {
		return "", fmt.Errorf("encrypting: %w", err)
	}
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("encrypting: reading nonce: %w", err)
	}
	sealed := gcm.Seal(buf, buf[:nonceSize], plaintext, nil)
	return Prefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value made by Encrypt. It returns ErrMalformed when the
// value is not well formed and ErrAuthentication when it does not
// authenticate under key.
func Decrypt(key Key, value string) ([]byte, error) {
	gcm, err := key.aead()
	if err != nil {
		return nil, fmt.Errorf("decrypting: %w", err)
	}
	enc, ok := strings.CutPrefix(value, Prefix)
	if !ok {
		return nil, fmt.Errorf("decrypting: %w: missing %q prefix", ErrMalformed, Prefix)
	}
	// Strict decoding rejects non-canonical padding bits, so one value has
	// exactly one spelling; the bytes themselves are authenticated by GCM.
	raw, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("decrypting: %w: invalid base64", ErrMalformed)
	}
	if len(raw) < nonceSize+tagSize {
		return nil, fmt.Errorf("decrypting: %w: %d bytes, shorter than nonce and tag", ErrMalformed, len(raw))
	}
	plain, err := gcm.Open(nil, raw[:nonceSize], raw[nonceSize:], nil)
	if err != nil {
		return nil, fmt.Errorf("decrypting: %w", ErrAuthentication)
	}
	return plain, nil
}

// DecryptAll decrypts every value of a named set (the secrets: section of a
// config) and reports every failure at once, each naming its secret and
// never its value. Failed authentication is reported as ErrWrongKey when no
// value of the set opened and as ErrTampered otherwise; see the package
// comment for why a single value cannot tell.
func DecryptAll(key Key, values map[string]string) (map[string][]byte, error) {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	sealed := make([]string, len(names))
	for i, name := range names {
		sealed[i] = values[name]
	}

	plains, failures := openEach(key, sealed)
	out := make(map[string][]byte, len(values))
	var errs []error
	var wrongKey []string
	for i, name := range names {
		switch err := failures[i]; {
		case errors.Is(err, ErrWrongKey):
			wrongKey = append(wrongKey, name)
		case err != nil:
			errs = append(errs, fmt.Errorf("secret %s: %w", name, err))
		default:
			out[name] = plains[i]
		}
	}
	if len(wrongKey) > 0 {
		errs = append(errs, fmt.Errorf("secrets %s: %w", strings.Join(wrongKey, ", "), ErrWrongKey))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// openEach decrypts each value and returns, at the same index, its
// plaintext or its error. A failed authentication becomes ErrWrongKey when
// no value opened and ErrTampered when some did (see the package comment).
func openEach(key Key, values []string) ([][]byte, []error) {
	plains := make([][]byte, len(values))
	errs := make([]error, len(values))
	opened := 0
	for i, v := range values {
		if plains[i], errs[i] = Decrypt(key, v); errs[i] == nil {
			opened++
		}
	}
	for i, err := range errs {
		if errors.Is(err, ErrAuthentication) {
			if opened == 0 {
				errs[i] = ErrWrongKey
			} else {
				errs[i] = ErrTampered
			}
		}
	}
	return plains, errs
}
