package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"jifen/pkg/secretbox"
)

// settings are jifen's settings: from the environment (JIFEN_*), to which an
// optional YAML file named by JIFEN_CONFIG may add; the environment wins.
type settings struct {
	HTTPAddr        string
	MetricsAddr     string
	DBDriver        string
	DBDSN           string
	DBMaxOpenConns  int
	DBMaxIdleConns  int
	DBConnLifetime  time.Duration
	AdminEmail      string
	AdminPassword   string
	SecretKey       []byte
	PluginDir       string
	LogLevel        string
	BodyLimitBytes  int64
	ShutdownTimeout time.Duration
	TrustedProxies  []string
	JobsDisabled    []string
}

// settingNames are the keys, as environment variables without the JIFEN_
// prefix; in the YAML file they are written in lower case.
var settingNames = []string{
	"HTTP_ADDR", "METRICS_ADDR", "DB_DRIVER", "DB_DSN", "DB_MAX_OPEN_CONNS", "DB_MAX_IDLE_CONNS",
	"DB_CONN_MAX_LIFETIME", "ADMIN_EMAIL", "ADMIN_PASSWORD", "SECRET_KEY", "PLUGIN_DIR", "LOG_LEVEL",
	"BODY_LIMIT_BYTES", "SHUTDOWN_TIMEOUT", "TRUSTED_PROXIES", "JOBS_DISABLED",
}

// loadSettings reads the settings; getenv is os.Getenv outside tests.
func loadSettings(getenv func(string) string) (settings, error) {
	values := map[string]string{}
	if path := getenv("JIFEN_CONFIG"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return settings{}, fmt.Errorf("read JIFEN_CONFIG: %w", err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(raw, &file); err != nil {
			return settings{}, fmt.Errorf("parse JIFEN_CONFIG %s: %w", path, err)
		}
		known := map[string]bool{}
		for _, n := range settingNames {
			known[strings.ToLower(n)] = true
		}
		for k, v := range file {
			if !known[k] {
				return settings{}, fmt.Errorf("JIFEN_CONFIG %s: unknown setting %q", path, k)
			}
			values[strings.ToUpper(k)] = fmt.Sprint(v)
		}
	}
	for _, n := range settingNames {
		if v := getenv("JIFEN_" + n); v != "" {
			values[n] = v
		}
	}
	get := func(k, def string) string {
		if v, ok := values[k]; ok {
			return v
		}
		return def
	}
	s := settings{
		HTTPAddr:      get("HTTP_ADDR", ":8080"),
		MetricsAddr:   get("METRICS_ADDR", ":9090"),
		DBDriver:      get("DB_DRIVER", "sqlite"),
		DBDSN:         get("DB_DSN", ""),
		AdminEmail:    get("ADMIN_EMAIL", ""),
		AdminPassword: get("ADMIN_PASSWORD", ""),
		PluginDir:     get("PLUGIN_DIR", "bin/plugins"),
		LogLevel:      get("LOG_LEVEL", "info"),
	}
	var errs []error
	intSetting := func(k string, def int) int {
		v := get(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("JIFEN_%s must be a non-negative integer, got %q", k, v))
		}
		return n
	}
	durSetting := func(k string, def time.Duration) time.Duration {
		v := get(k, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("JIFEN_%s must be a duration such as 30s, got %q", k, v))
		}
		return d
	}
	s.DBMaxOpenConns = intSetting("DB_MAX_OPEN_CONNS", 0)
	s.DBMaxIdleConns = intSetting("DB_MAX_IDLE_CONNS", 0)
	s.DBConnLifetime = durSetting("DB_CONN_MAX_LIFETIME", 0)
	s.BodyLimitBytes = int64(intSetting("BODY_LIMIT_BYTES", 1<<20))
	s.ShutdownTimeout = durSetting("SHUTDOWN_TIMEOUT", 30*time.Second)
	s.TrustedProxies = list(get("TRUSTED_PROXIES", ""))
	s.JobsDisabled = list(get("JOBS_DISABLED", ""))
	switch s.DBDriver {
	case "sqlite":
		if s.DBDSN == "" {
			s.DBDSN = "data/jifen.db"
		}
	case "mysql":
		if s.DBDSN == "" {
			errs = append(errs, errors.New("JIFEN_DB_DSN is required when JIFEN_DB_DRIVER is mysql"))
		}
	default:
		errs = append(errs, fmt.Errorf("JIFEN_DB_DRIVER must be sqlite or mysql, got %q", s.DBDriver))
	}
	if (s.AdminEmail == "") != (s.AdminPassword == "") {
		errs = append(errs, errors.New("set both JIFEN_ADMIN_EMAIL and JIFEN_ADMIN_PASSWORD, or neither"))
	}
	if k := get("SECRET_KEY", ""); k != "" {
		key, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(key) != secretbox.KeySize {
			errs = append(errs, errors.New("JIFEN_SECRET_KEY must be the base64 of 32 bytes (openssl rand -base64 32)"))
		}
		s.SecretKey = key
	} else if s.DBDriver == "mysql" {
		errs = append(errs, errors.New("JIFEN_SECRET_KEY is required with mysql (openssl rand -base64 32)"))
	}
	return s, errors.Join(errs...)
}

// ensureSecretKey generates the SQLite deployment's secret key once into
// the data folder, beside the database, and reads it on later starts.
func (s *settings) ensureSecretKey() error {
	if s.SecretKey != nil {
		return nil
	}
	path := filepath.Join(filepath.Dir(s.DBDSN), "secret.key")
	if raw, err := os.ReadFile(path); err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != secretbox.KeySize {
			return fmt.Errorf("%s does not hold the base64 of 32 bytes", path)
		}
		s.SecretKey = key
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	key := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return s.ensureSecretKey()
		}
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return err
	}
	s.SecretKey = key
	return nil
}

// list splits a comma-separated setting, dropping blanks.
func list(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
