// Package platform holds the vocabulary every part of jifen shares: the
// application error and its codes, the principal and tenant carried in a
// request's context, and the clock.
package platform

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the public API (see the contract): append,
// never rename.
const (
	EInvalidJSON        = "invalid_json"
	EValidation         = "validation_failed"
	EUnauthenticated    = "unauthenticated"
	EForbidden          = "forbidden"
	ETenantSuspended    = "tenant_suspended"
	ENotFound           = "not_found"
	EConflict           = "conflict"
	EOutOfStock         = "out_of_stock"
	EIdempotencyReused  = "idempotency_key_reused"
	EInsufficientPoints = "insufficient_points"
	ERateLimited        = "rate_limited"
	EQuotaExceeded      = "quota_exceeded"
	EInternal           = "internal"
	EPayloadTooLarge    = "payload_too_large"
	EUnsupportedMedia   = "unsupported_media_type"
	EMethodNotAllowed   = "method_not_allowed"
	EServiceUnavailable = "service_unavailable"
)

// Error is an application error: a machine code from the list above, a
// sentence a person can act on, and optional details (for validation
// errors, one entry per bad field).
type Error struct {
	Code    string
	Message string
	Details map[string]any
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an application error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details map[string]any) *Error {
	c := *e
	c.Details = details
	return &c
}

// ErrorCode returns the code of an application error inside err, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of an application error inside err, or a
// generic sentence for any other error so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred; it has been logged."
}

// IsCode reports whether err carries the application error code.
func IsCode(err error, code string) bool {
	return err != nil && ErrorCode(err) == code
}

// FieldErrors collects validation problems field by field. The zero value is
// ready to use.
type FieldErrors map[string]string

// Add records a problem with a field; the first problem of a field wins.
func (f FieldErrors) Add(field, problem string) {
	if _, ok := f[field]; !ok {
		f[field] = problem
	}
}

// Err returns nil when no field failed, else a validation_failed error whose
// details name each bad field.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	details := make(map[string]any, len(f))
	for k, v := range f {
		details[k] = v
	}
	return &Error{Code: EValidation, Message: "Some fields are invalid; see details.", Details: details}
}

// NotFound returns a not_found error naming the kind of thing.
func NotFound(what string) *Error {
	return Errorf(ENotFound, "The %s was not found.", what)
}

// InvalidCursor is the error for a list cursor that did not come from the
// list.
func InvalidCursor() error {
	return (&Error{Code: EValidation, Message: "The cursor is not valid."}).WithDetails(map[string]any{"cursor": "not a cursor from this list"})
}
