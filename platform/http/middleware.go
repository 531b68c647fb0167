package http

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"jifen/pkg/ids"
	"jifen/platform"
)

// RequestID gives every request an id (the caller's X-Request-ID when it is
// sane) and echoes it in the response.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if len(id) == 0 || len(id) > 64 {
			id = ids.New()
		}
		c.Header("X-Request-ID", id)
		c.Request = c.Request.WithContext(platform.WithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// AccessLog writes one JSON line per request. It never logs bodies or
// headers, so tokens and keys stay out of logs.
func AccessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		attrs := []any{
			"request_id", platform.RequestID(c.Request.Context()),
			"method", c.Request.Method, "route", route, "status", c.Writer.Status(),
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "bytes", c.Writer.Size(),
			"client_ip", c.ClientIP(),
		}
		if t, ok := platform.TenantFrom(c.Request.Context()); ok {
			attrs = append(attrs, "tenant_id", t.ID)
		}
		if p, ok := platform.PrincipalFrom(c.Request.Context()); ok {
			attrs = append(attrs, "actor", p.Actor())
		}
		log.Info("request", attrs...)
	}
}

// Recovery turns a panic into the contract's 500 internal answer and logs
// the stack.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.Error("panic", "request_id", platform.RequestID(c.Request.Context()),
					"route", c.FullPath(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					Error(c, fmt.Errorf("panic: %v", r))
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// BodyLimit caps request bodies at max bytes, or at the limit perRoute
// gives a route (such as a CSV import).
func BodyLimit(max int64, perRoute map[string]int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		max := max
		if n, ok := perRoute[c.FullPath()]; ok {
			max = n
		}
		if c.Request.ContentLength > max {
			Error(c, platform.Errorf(platform.EPayloadTooLarge, "The request body is larger than %d bytes.", max))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// Metrics are the HTTP server's Prometheus collectors.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the HTTP collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jifen_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jifen_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Middleware observes every request.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}
