// Package audit records who changed what and when: configuration, staff,
// keys and points, in the same transaction as the change.
package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"jifen/pkg/ids"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/platform/storage"
)

// Entry is one audit record.
type Entry struct {
	TenantID   string         `json:"-" gorm:"column:tenant_id"`
	ID         string         `json:"id" gorm:"column:id"`
	Actor      string         `json:"actor" gorm:"column:actor"`
	Action     string         `json:"action" gorm:"column:action"`
	TargetType string         `json:"target_type" gorm:"column:target_type"`
	TargetID   string         `json:"target_id" gorm:"column:target_id"`
	Details    map[string]any `json:"details" gorm:"-"`
	DetailsRaw string         `json:"-" gorm:"column:details"`
	CreatedAt  time.Time      `json:"created_at" gorm:"column:created_at"`
}

// TableName is the audit table.
func (Entry) TableName() string { return "audit_log" }

// Log writes and reads audit records.
type Log struct {
	DB *storage.DB
}

// Record writes one record in the tenant of ctx (platform records use an
// empty tenant id), joining the context's transaction.
func (l *Log) Record(ctx context.Context, action, targetType, targetID string, details map[string]any) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	if details == nil {
		raw = []byte("{}")
	}
	e := Entry{
		TenantID: platform.TenantID(ctx), ID: ids.New(), Actor: platform.ActorFrom(ctx),
		Action: action, TargetType: targetType, TargetID: targetID, DetailsRaw: string(raw),
		CreatedAt: l.DB.Now(),
	}
	return l.DB.Tx(ctx, func(ctx context.Context) error { return l.DB.Conn(ctx).Create(&e).Error })
}

// Filter narrows a listing.
type Filter struct {
	Action     string
	TargetType string
	TargetID   string
	Limit      int
	Cursor     string
}

// List returns the records of the context's tenant, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, string, error) {
	return l.list(l.DB.Scoped(ctx).Model(&Entry{}), f)
}

// ListPlatform returns the platform's own records (tenants created,
// suspended, reactivated; jobs run by hand), newest first.
func (l *Log) ListPlatform(ctx context.Context, f Filter) ([]Entry, string, error) {
	return l.list(l.DB.Conn(ctx).Model(&Entry{}).Where("tenant_id = ?", ""), f)
}

func (l *Log) list(q *gorm.DB, f Filter) ([]Entry, string, error) {
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.TargetType != "" {
		q = q.Where("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		q = q.Where("target_id = ?", f.TargetID)
	}
	out, next, err := storage.FindPage[Entry](q, f.Limit, f.Cursor, true)
	if err != nil {
		return nil, "", err
	}
	for i := range out {
		_ = json.Unmarshal([]byte(out[i].DetailsRaw), &out[i].Details)
	}
	return out, next, nil
}

// Routes mounts GET /audit on a tenant group.
func Routes(r gin.IRouter, can func(obj, act string) gin.HandlerFunc, l *Log) {
	r.GET("/audit", can("audit", "read"), listHandler(l.List))
}

// PlatformRoutes mounts GET /platform/audit for platform admins.
func PlatformRoutes(r gin.IRouter, perm func(obj, act string) gin.HandlerFunc, l *Log) {
	r.GET("/platform/audit", perm("tenants", "read"), listHandler(l.ListPlatform))
}

func listHandler(list func(context.Context, Filter) ([]Entry, string, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := httpx.Limit(c)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		items, next, err := list(c.Request.Context(), Filter{
			Action: c.Query("action"), TargetType: c.Query("target_type"), TargetID: c.Query("target_id"),
			Limit: limit, Cursor: c.Query("cursor"),
		})
		httpx.Respond(c, 200, httpx.Page(items, next), err)
	}
}
