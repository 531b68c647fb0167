// Package http is jifen's HTTP layer: the Gin server, its middleware, the
// one table that maps error codes to statuses, JSON binding, idempotency
// keys and the guards that authenticate and authorise every request.
package http

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"jifen/pkg/cursor"
	"jifen/platform"
	"jifen/platform/storage"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	platform.EInvalidJSON:        http.StatusBadRequest,
	platform.EValidation:         http.StatusUnprocessableEntity,
	platform.EUnauthenticated:    http.StatusUnauthorized,
	platform.EForbidden:          http.StatusForbidden,
	platform.ETenantSuspended:    http.StatusForbidden,
	platform.ENotFound:           http.StatusNotFound,
	platform.EMethodNotAllowed:   http.StatusMethodNotAllowed,
	platform.EConflict:           http.StatusConflict,
	platform.EOutOfStock:         http.StatusConflict,
	platform.EIdempotencyReused:  http.StatusConflict,
	platform.EPayloadTooLarge:    http.StatusRequestEntityTooLarge,
	platform.EUnsupportedMedia:   http.StatusUnsupportedMediaType,
	platform.EInsufficientPoints: http.StatusUnprocessableEntity,
	platform.ERateLimited:        http.StatusTooManyRequests,
	platform.EQuotaExceeded:      http.StatusTooManyRequests,
	platform.EInternal:           http.StatusInternalServerError,
	platform.EServiceUnavailable: http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the contract's error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// Error writes err in the contract's shape and aborts the request. Anything
// that is not an application error is logged and answered as internal.
func Error(c *gin.Context, err error) {
	code := platform.ErrorCode(err)
	body := ErrorBody{Error: ErrorDetail{Code: code, Message: platform.ErrorMessage(err)}}
	var ae *platform.Error
	if errors.As(err, &ae) {
		body.Error.Details = ae.Details
	} else if storage.IsRetryable(err) {
		// A deadlock victim or a lock-wait timeout: nothing was changed and
		// the same request will most likely succeed at once.
		c.Header("Retry-After", "1")
		body.Error = ErrorDetail{Code: platform.EServiceUnavailable, Message: "The change collided with a concurrent one and was not applied; retry the request."}
		code = platform.EServiceUnavailable
	} else {
		slog.ErrorContext(c.Request.Context(), "internal error",
			"request_id", platform.RequestID(c.Request.Context()), "method", c.Request.Method,
			"route", c.FullPath(), "err", err.Error())
	}
	c.AbortWithStatusJSON(StatusOf(code), body)
}

// Respond writes v as JSON with status, or the error when err is not nil.
func Respond(c *gin.Context, status int, v any, err error) {
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(status, v)
}

// PageBody is the contract's list shape.
type PageBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Page wraps a page of items; a nil slice becomes [].
func Page[T any](items []T, next string) PageBody[T] {
	if items == nil {
		items = []T{}
	}
	return PageBody[T]{Items: items, NextCursor: next}
}

// Limit parses the ?limit= of a list request into a validation error when
// it is not an integer from 1 to 200.
func Limit(c *gin.Context) (int, error) {
	n, err := cursor.ParseLimit(c.Query("limit"))
	if err != nil {
		return 0, (&platform.Error{Code: platform.EValidation, Message: "The limit is not valid."}).WithDetails(map[string]any{"limit": err.Error()})
	}
	return n, nil
}

// InvalidCursor is the error for a cursor that did not come from the list.
func InvalidCursor() error { return platform.InvalidCursor() }
