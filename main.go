// Command jifen is the control plane of the jifen loyalty platform: the HTTP
// API and dashboards, the scheduler, the outbox dispatcher and the plugin
// host. This file is the only place that knows every concrete type.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	_ "time/tzdata" // tenants' zones work in minimal containers too

	"jifen/pkg/clock"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/auth"
	httpx "jifen/platform/http"
	"jifen/platform/rbac"
	"jifen/platform/scheduler"
	"jifen/platform/storage"
	"jifen/platform/tenancy"
	"jifen/tenants/events"
	"jifen/tenants/ledger"
	"jifen/tenants/mall"
	"jifen/tenants/members"
	"jifen/tenants/rules"
	"jifen/tenants/tiers"
)

// importBodyLimitBytes is the body limit of the member CSV import (about
// half a million rows); every other route keeps JIFEN_BODY_LIMIT_BYTES.
const importBodyLimitBytes = 32 << 20

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := rootCmd(os.Getenv, os.Stdout).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "jifen:", err)
		os.Exit(1)
	}
}

func rootCmd(getenv func(string) string, out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "jifen",
		Short:         "jifen runs merchants' member-points programmes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Apply migrations and serve the API, dashboards and webhooks",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
				defer stop()
				return serve(ctx, getenv, nil)
			},
		},
		&cobra.Command{
			Use:   "migrate",
			Short: "Apply the database migrations and exit",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := loadSettings(getenv)
				if err != nil {
					return err
				}
				db, err := openDB(cmd.Context(), s, newLogger(s.LogLevel))
				if err != nil {
					return err
				}
				defer db.Close()
				res, err := db.Migrate(cmd.Context())
				for _, r := range res {
					fmt.Fprintf(cmd.OutOrStdout(), "applied %05d %s\n", r.Version, r.Name)
				}
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "schema is up to date (%d applied now)\n", len(res))
				}
				return err
			},
		},
		adminCmd(getenv),
		pointsCmd(getenv),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "jifen", version) },
		},
	)
	return root
}

func adminCmd(getenv func(string) string) *cobra.Command {
	admin := &cobra.Command{Use: "admin", Short: "Manage platform admins"}
	var email, password string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a platform admin (the password is read from JIFEN_NEW_ADMIN_PASSWORD or --password)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if password == "" {
				password = getenv("JIFEN_NEW_ADMIN_PASSWORD")
			}
			s, err := loadSettings(getenv)
			if err != nil {
				return err
			}
			a, err := build(cmd.Context(), s, newLogger(s.LogLevel), clock.Real{})
			if err != nil {
				return err
			}
			defer a.close()
			u, err := a.auth.CreateUser(cmd.Context(), email, password, true)
			if err != nil {
				return errors.New(platform.ErrorMessage(err) + detailsOf(err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created platform admin %s (%s)\n", u.Email, u.ID)
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "the admin's email (required)")
	create.Flags().StringVar(&password, "password", "", "the admin's password (prefer JIFEN_NEW_ADMIN_PASSWORD: flags show in process lists)")
	_ = create.MarkFlagRequired("email")
	admin.AddCommand(create)
	return admin
}

func detailsOf(err error) string {
	var ae *platform.Error
	if errors.As(err, &ae) && len(ae.Details) > 0 {
		return fmt.Sprintf(" %v", ae.Details)
	}
	return ""
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: l}))
}

func openDB(ctx context.Context, s settings, log *slog.Logger) (*storage.DB, error) {
	return storage.Open(ctx, storage.Config{
		Driver: s.DBDriver, DSN: s.DBDSN, MaxOpenConns: s.DBMaxOpenConns, MaxIdleConns: s.DBMaxIdleConns,
		ConnMaxLifetime: s.DBConnLifetime, Logger: log,
	})
}

// app is the wired program.
type app struct {
	settings settings
	log      *slog.Logger
	db       *storage.DB
	registry *prometheus.Registry
	engine   *gin.Engine
	auth     *auth.Service
	tenancy  *tenancy.Service
	ledger   *ledger.Service
	tiers    *tiers.Service
	sched    *scheduler.Scheduler
}

func (a *app) close() { a.db.Close() }

// build opens and migrates the database and wires every service and route.
func build(ctx context.Context, s settings, log *slog.Logger, clk platform.Clock) (*app, error) {
	if s.DBDriver == storage.SQLite {
		if err := s.ensureSecretKey(); err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
	}
	db, err := openDB(ctx, s, log)
	if err != nil {
		return nil, err
	}
	a := &app{settings: s, log: log, db: db, registry: prometheus.NewRegistry()}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db.SQL(), "write"))
	if db.ReadSQL() != db.SQL() {
		a.registry.MustRegister(collectors.NewDBStatsCollector(db.ReadSQL(), "read"))
	}

	enforcer, err := rbac.New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	auditLog := &audit.Log{DB: db}
	a.auth = &auth.Service{DB: db, Clock: clk, Audit: auditLog, Throttle: auth.NewThrottle(clk), TokenKey: s.SecretKey}
	a.tenancy = &tenancy.Service{DB: db, Clock: clk, Auth: a.auth, Audit: auditLog}
	memberStore := &members.Store{DB: db}
	memberSvc := &members.Service{Store: memberStore, Clock: clk, Audit: auditLog}
	a.ledger = &ledger.Service{DB: db, Members: memberStore, Clock: clk, Audit: auditLog}
	rulesSvc := rules.NewService(db, auditLog, clk)
	mallSvc := &mall.Service{DB: db, Members: memberStore, Ledger: a.ledger, Clock: clk, Audit: auditLog}
	a.tiers = &tiers.Service{Store: &tiers.Store{DB: db}, Members: memberStore, Growth: a.ledger, Clock: clk, Audit: auditLog, Coupons: mallSvc, Items: mallSvc}
	eventsSvc := &events.Service{DB: db, Members: memberStore, Ledger: a.ledger, Rules: rulesSvc, Multiplier: a.tiers, Clock: clk}
	rulesSvc.SimulationUsage = events.Usage{DB: db}
	a.sched = scheduler.New(db, clk, log)
	a.sched.Audit = auditLog
	a.sched.Config = map[string]scheduler.JobConfig{}
	for _, name := range s.JobsDisabled {
		a.sched.Config[name] = scheduler.JobConfig{Disabled: true}
	}
	jobs := append(scheduler.PlatformJobs(db), auth.Jobs(db)...)
	if err := a.sched.Register(append(jobs, tenantJobs(a.ledger, a.tiers, eventsSvc)...)...); err != nil {
		db.Close()
		return nil, err
	}
	a.registry.MustRegister(a.sched.Collectors()...)
	a.ledger.OnGrowth = a.tiers
	memberSvc.Points = a.ledger
	memberSvc.Tiers = a.tiers
	mallSvc.Tiers = a.tiers

	if s.AdminEmail != "" {
		created, err := a.auth.EnsurePlatformAdmin(ctx, s.AdminEmail, s.AdminPassword)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("first platform admin: %v%s", platform.ErrorMessage(err), detailsOf(err))
		}
		if created {
			log.Info("created the first platform admin", "email", auth.NormalizeEmail(s.AdminEmail))
		}
	}

	guard := &httpx.Guard{Authn: a.auth, Authz: enforcer, Tenants: a.tenancy}
	e := httpx.NewEngine(httpx.Config{
		BodyLimitBytes: s.BodyLimitBytes, TrustedProxies: s.TrustedProxies,
		RouteBodyLimits: map[string]int64{"/api/v1/tenants/:tid/members/import": importBodyLimitBytes},
	}, log, a.registry)
	api := e.Group("/api/v1")
	api.GET("/healthz", func(c *gin.Context) {
		hctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(hctx); err != nil {
			httpx.Error(c, platform.Errorf(platform.EServiceUnavailable, "The database does not answer."))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	doc, err := openAPIDocument()
	if err != nil {
		db.Close()
		return nil, err
	}
	api.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", doc) })
	auth.PublicRoutes(api, a.auth)

	signedIn := api.Group("", guard.Authenticated())
	auth.SessionRoutes(signedIn, a.auth)
	signedIn.GET("/me", auth.Me)
	tenancy.SessionRoutes(signedIn, a.tenancy)
	tenancy.PlatformRoutes(signedIn, guard.Platform, a.tenancy)
	scheduler.PlatformRoutes(signedIn, guard.Platform, a.sched)
	audit.PlatformRoutes(signedIn, guard.Platform, auditLog)

	t := signedIn.Group("/tenants/:tid", guard.TenantScope())
	can := guard.Can
	tenancy.Routes(t, can, a.tenancy)
	auth.KeyRoutes(t, can, a.auth)
	audit.Routes(t, can, auditLog)
	idem := httpx.Idempotent(db)
	members.Routes(t, can, memberSvc)
	ledger.Routes(t, can, a.ledger, idem)
	rules.Routes(t, can, rulesSvc)
	events.Routes(t, can, idem, eventsSvc)
	tiers.Routes(t, can, a.tiers)
	mall.Routes(t, can, mallSvc, idem)

	a.engine = e
	return a, nil
}

// serve runs jifen until ctx ends. ready, when set, is told the addresses
// the listeners took (tests listen on port 0).
func serve(ctx context.Context, getenv func(string) string, ready func(api, metrics net.Addr)) error {
	s, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	log := newLogger(s.LogLevel)
	slog.SetDefault(log)
	a, err := build(ctx, s, log, clock.Real{})
	if err != nil {
		return err
	}
	defer a.close()

	if err := a.sched.Start(ctx); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := a.sched.Stop(sctx); err != nil {
			log.Warn("scheduler did not stop cleanly", "err", err)
		}
	}()

	metricsLn, err := net.Listen("tcp", s.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	metricsSrv := &http.Server{Handler: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
	go metricsSrv.Serve(metricsLn)
	defer metricsSrv.Close()

	log.Info("jifen serving", "version", version, "http_addr", s.HTTPAddr, "metrics_addr", metricsLn.Addr().String(), "db_driver", s.DBDriver)
	return httpx.Serve(ctx, httpx.Config{Addr: s.HTTPAddr, ShutdownTimeout: s.ShutdownTimeout}, a.engine, log, func(addr net.Addr) {
		if ready != nil {
			ready(addr, metricsLn.Addr())
		}
	})
}
