// Package cursor encodes and decodes opaque pagination cursors and parses
// the limit of a list request.
package cursor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
)

// Default and maximum page sizes of list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ErrInvalid is returned for a cursor that was not produced by Encode.
var ErrInvalid = errors.New("cursor is not valid")

// Encode turns the sort key of the last item of a page into a cursor.
func Encode(key any) string {
	b, err := json.Marshal(key)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor made by Encode into key. An empty cursor leaves key
// untouched and returns false.
func Decode(s string, key any) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false, ErrInvalid
	}
	if err := json.Unmarshal(b, key); err != nil {
		return false, ErrInvalid
	}
	return true, nil
}

// ParseLimit parses a limit query value: empty means DefaultLimit; it must
// be an integer from 1 to MaxLimit.
func ParseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, errors.New("limit must be an integer from 1 to 200")
	}
	return n, nil
}
