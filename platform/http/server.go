package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"jifen/platform"
)

// Config holds the HTTP server's settings.
type Config struct {
	Addr              string
	BodyLimitBytes    int64
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For is believed; none by default, so the client address
	// (used by login throttling and logs) can't be spoofed.
	TrustedProxies []string
	// RouteBodyLimits raise (or lower) the body limit of single routes, by
	// their full route path.
	RouteBodyLimits map[string]int64
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.BodyLimitBytes <= 0 {
		c.BodyLimitBytes = 1 << 20
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
}

// NewEngine returns a Gin engine with jifen's middleware and its answers for
// unknown routes and methods.
func NewEngine(cfg Config, log *slog.Logger, reg prometheus.Registerer) *gin.Engine {
	cfg.Defaults()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		log.Error("invalid trusted proxies; trusting none", "err", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(RequestID(), AccessLog(log), Recovery(log), NewMetrics(reg).Middleware(), BodyLimit(cfg.BodyLimitBytes, cfg.RouteBodyLimits))
	e.NoRoute(func(c *gin.Context) { Error(c, platform.NotFound("resource")) })
	e.NoMethod(func(c *gin.Context) {
		Error(c, platform.Errorf(platform.EMethodNotAllowed, "This method is not allowed on this path."))
	})
	return e
}

// Serve runs h on cfg.Addr until ctx is cancelled, then stops taking
// requests, lets those in flight finish and returns nil.
func Serve(ctx context.Context, cfg Config, h http.Handler, log *slog.Logger, ready func(addr net.Addr)) error {
	cfg.Defaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down HTTP server", "addr", ln.Addr().String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
