package scheduler

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	httpx "jifen/platform/http"
)

// OpenAPI is the fragment describing the job routes.
//
//go:embed openapi.json
var OpenAPI []byte

// jobList is the job list: the contract's list shape plus who holds the
// lease.
type jobList struct {
	Items      []JobInfo `json:"items"`
	NextCursor string    `json:"next_cursor"`
	Lease      *Lease    `json:"lease"`
}

// PlatformRoutes mounts the job endpoints on an authenticated group; perm is
// the platform permission check ("jobs" "read" and "write").
func PlatformRoutes(r gin.IRouter, perm func(obj, act string) gin.HandlerFunc, s *Scheduler) {
	r.GET("/platform/jobs", perm("jobs", "read"), func(c *gin.Context) {
		ctx := c.Request.Context()
		items, err := s.Jobs(ctx)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		lease, err := s.CurrentLease(ctx)
		httpx.Respond(c, http.StatusOK, jobList{Items: items, Lease: lease}, err)
	})
	r.GET("/platform/jobs/:name/runs", perm("jobs", "read"), func(c *gin.Context) {
		limit, err := httpx.Limit(c)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		items, next, err := s.FindRuns(c.Request.Context(), c.Param("name"), RunFilter{
			Status: c.Query("status"), TenantID: c.Query("tenant_id"), Limit: limit, Cursor: c.Query("cursor"),
		})
		httpx.Respond(c, http.StatusOK, httpx.Page(items, next), err)
	})
	r.POST("/platform/jobs/:name/run", perm("jobs", "write"), func(c *gin.Context) {
		m, err := s.Trigger(c.Request.Context(), c.Param("name"))
		httpx.Respond(c, http.StatusAccepted, m, err)
	})
}
