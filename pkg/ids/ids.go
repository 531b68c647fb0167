// Package ids makes identifiers: sortable by creation time (so keys stay
// compact in B-trees and lists can page by id) and unguessable.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// entropy makes ids made in one millisecond by this process increase, so
// lists ordered by id keep creation order even within a millisecond.
var entropy = struct {
	sync.Mutex
	r *ulid.MonotonicEntropy
}{r: ulid.Monotonic(rand.Reader, 0)}

// New returns a new lower-case ULID, 26 characters.
func New() string {
	return NewAt(time.Now())
}

// NewAt returns a new ULID whose time part is t.
func NewAt(t time.Time) string {
	entropy.Lock()
	id, err := ulid.New(ulid.Timestamp(t), entropy.r)
	entropy.Unlock()
	if err != nil {
		// The monotonic counter overflowed within one millisecond (2^80
		// ids); fall back to plain random bits.
		id = ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	}
	return lower(id.String())
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token returns n random bytes encoded as lower-case base32, for secrets such
// as API keys, session tokens and codes.
func Token(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return lower(tokenEncoding.EncodeToString(b))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
