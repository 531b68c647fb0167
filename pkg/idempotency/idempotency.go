// Package idempotency validates idempotency keys and fingerprints request
// bodies so a replay can be told from a reuse of the key.
package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// MaxKeyLen is the longest key accepted.
const MaxKeyLen = 255

// ErrInvalidKey describes what a key must be.
var ErrInvalidKey = errors.New("Idempotency-Key must be 1 to 255 printable ASCII characters")

// ValidKey reports whether k is 1 to 255 printable ASCII characters.
func ValidKey(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return ErrInvalidKey
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return ErrInvalidKey
		}
	}
	return nil
}

// Fingerprint returns a hex SHA-256 over the parts that define a request
// (typically the route and the body).
func Fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		l := len(p)
		for i := 0; i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
