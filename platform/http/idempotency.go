package http

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"jifen/pkg/idempotency"
	"jifen/platform"
	"jifen/platform/storage"
)

// IdempotencyHeader is the request header that carries an idempotency key.
const IdempotencyHeader = "Idempotency-Key"

type idemRow struct {
	TenantID    string    `gorm:"column:tenant_id"`
	IdemKey     string    `gorm:"column:idem_key"`
	Fingerprint string    `gorm:"column:fingerprint"`
	Status      int       `gorm:"column:status"`
	Response    string    `gorm:"column:response"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (idemRow) TableName() string { return "idempotency_keys" }

// Idempotent makes a tenant route honour the Idempotency-Key header. The
// key row is inserted first inside the transaction that the handler's
// services join, so of two racing requests with one key the second waits
// for the first and then replays its stored response. A success commits the
// change and the key together; a client error rolls the change back and
// stores the answer alone, so a replay answers the same; a server error
// stores nothing, so the client may retry.
func Idempotent(db *storage.DB) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(IdempotencyHeader)
		if key == "" {
			c.Next()
			return
		}
		if err := idempotency.ValidKey(key); err != nil {
			Error(c, (&platform.Error{Code: platform.EValidation, Message: err.Error()}).
				WithDetails(map[string]any{IdempotencyHeader: "must be 1 to 255 printable ASCII characters"}))
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			Error(c, platform.Errorf(platform.EPayloadTooLarge, "The request body is larger than the server accepts."))
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		ctx := c.Request.Context()
		tid := platform.TenantID(ctx)
		fp := idempotency.Fingerprint([]byte(c.Request.Method), []byte(c.Request.URL.Path), body)

		if replayStored(c, db, tid, key, fp) {
			return
		}

		buf := &bufferedWriter{ResponseWriter: c.Writer, status: http.StatusOK}
		var handlerErr = errors.New("handler answered with an error")
		// TxOnce: a retried transaction could not run the handler again, so a
		// deadlock answers 503 and the client retries with the same key.
		txErr := db.TxOnce(ctx, func(txCtx context.Context) error {
			row := idemRow{TenantID: tid, IdemKey: key, Fingerprint: fp, Status: 0, Response: "", CreatedAt: db.Now()}
			if err := db.Conn(txCtx).Create(&row).Error; err != nil {
				return err
			}
			c.Writer = buf
			c.Request = c.Request.WithContext(txCtx)
			c.Next()
			c.Request = c.Request.WithContext(ctx)
			if buf.status >= 300 {
				return handlerErr
			}
			return db.Conn(txCtx).Model(&idemRow{}).Where("tenant_id = ? AND idem_key = ?", tid, key).
				Updates(map[string]any{"status": buf.status, "response": buf.body.String()}).Error
		})
		c.Writer = buf.ResponseWriter
		switch {
		case txErr == nil:
			buf.flush()
		case errors.Is(txErr, handlerErr):
			if buf.status < 500 {
				_ = db.Tx(ctx, func(txCtx context.Context) error {
					return db.Conn(txCtx).Create(&idemRow{TenantID: tid, IdemKey: key, Fingerprint: fp,
						Status: buf.status, Response: buf.body.String(), CreatedAt: db.Now()}).Error
				})
			}
			buf.flush()
		case storage.IsUniqueViolation(txErr):
			if !replayStored(c, db, tid, key, fp) {
				Error(c, platform.Errorf(platform.EConflict, "A request with this Idempotency-Key is still in progress; retry shortly."))
			}
		default:
			if !c.Writer.Written() {
				Error(c, txErr)
			}
		}
	}
}

// replayStored answers from a stored response for the key, if there is one.
func replayStored(c *gin.Context, db *storage.DB, tid, key, fp string) bool {
	var row idemRow
	err := db.Conn(c.Request.Context()).Where("tenant_id = ? AND idem_key = ?", tid, key).Limit(1).Find(&row).Error
	if err != nil || row.IdemKey == "" || row.Status == 0 {
		return false
	}
	if row.Fingerprint != fp {
		Error(c, platform.Errorf(platform.EIdempotencyReused, "This Idempotency-Key was already used with a different request."))
		return true
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(row.Status, "application/json; charset=utf-8", []byte(row.Response))
	c.Abort()
	return true
}

// bufferedWriter holds a handler's response until the transaction decides.
type bufferedWriter struct {
	gin.ResponseWriter
	status  int
	body    bytes.Buffer
	written bool
}

func (w *bufferedWriter) WriteHeader(code int) { w.status = code; w.written = true }
func (w *bufferedWriter) WriteHeaderNow()      { w.written = true }
func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.body.Write(b)
}
func (w *bufferedWriter) WriteString(s string) (int, error) {
	w.written = true
	return w.body.WriteString(s)
}
func (w *bufferedWriter) Status() int   { return w.status }
func (w *bufferedWriter) Size() int     { return w.body.Len() }
func (w *bufferedWriter) Written() bool { return w.written }

func (w *bufferedWriter) flush() {
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
}
