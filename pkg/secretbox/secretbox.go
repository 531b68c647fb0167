// Package secretbox encrypts small secrets (channel credentials) at rest with
// AES-256-GCM.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
)

// KeySize is the key length in bytes.
const KeySize = 32

// Box seals and opens secrets with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, errors.New("secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; associated binds the ciphertext to a context
// (such as a tenant id) so it can't be moved to another row.
func (b *Box) Seal(plaintext, associated []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := b.aead.Seal(nonce, nonce, plaintext, associated)
	return base64.StdEncoding.EncodeToString(out)
}

// Open decrypts what Seal produced with the same associated data.
func (b *Box) Open(sealed string, associated []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, errors.New("sealed secret is not valid base64")
	}
	n := b.aead.NonceSize()
	if len(raw) < n {
		return nil, errors.New("sealed secret is too short")
	}
	return b.aead.Open(nil, raw[:n], raw[n:], associated)
}
