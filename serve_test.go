package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"jifen/pkg/clock"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// jifenBinary builds the real binary once per test run.
func jifenBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "jifen-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "jifen")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startJifen runs `jifen serve` on SQLite in a fresh folder and waits until
// it answers.
func startJifen(t *testing.T, extraEnv ...string) (cmd *exec.Cmd, addr, metricsAddr string, logs *strings.Builder) {
	t.Helper()
	dir := t.TempDir()
	addr, metricsAddr = freePort(t), freePort(t)
	cmd = exec.Command(jifenBinary(t), "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JIFEN_HTTP_ADDR="+addr, "JIFEN_METRICS_ADDR="+metricsAddr,
		"JIFEN_ADMIN_EMAIL="+adminEmail, "JIFEN_ADMIN_PASSWORD="+adminPassword, "JIFEN_DB_DRIVER=sqlite", "JIFEN_DB_DSN=")
	cmd.Env = append(cmd.Env, extraEnv...)
	logs = &strings.Builder{}
	var mu sync.Mutex
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get("http://" + addr + "/api/v1/healthz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return cmd, addr, metricsAddr, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jifen did not answer in time; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func clockReal() clock.Real { return clock.Real{} }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestServeDefaultsAndGracefulStop starts the real binary with nothing but
// defaults (SQLite in data/, a generated secret key), then sends SIGTERM
// while a request is still uploading its body: the request completes, new
// connections are refused, and the process exits 0.
func TestServeDefaultsAndGracefulStop(t *testing.T) {
	cmd, addr, metricsAddr, logs := startJifen(t)
	for _, f := range []string{"data/jifen.db", "data/secret.key"} {
		if _, err := os.Stat(filepath.Join(cmd.Dir, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	res, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if login.Token == "" {
		t.Fatalf("login failed: %d", res.StatusCode)
	}

	mres, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	for _, want := range []string{
		`jifen_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"} 1`,
		"jifen_http_request_duration_seconds_bucket", "go_sql_open_connections", "go_goroutines",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if r, err := http.Get("http://" + addr + "/metrics"); err == nil {
		if r.StatusCode != 404 {
			t.Errorf("/metrics on the API listener: got %d, want 404", r.StatusCode)
		}
		r.Body.Close()
	}

	body := `{"name":"在途的店","owner":{"email":"late@shop.test","password":"owner-password"}}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/platform/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		login.Token, len(body), body[:10])
	time.Sleep(500 * time.Millisecond) // the server is now reading the body
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	refused := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("new connections were still accepted 10 s after SIGTERM")
	}
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v\nlogs:\n%s", err, logs.String())
	}
	if resp.StatusCode != 201 {
		t.Fatalf("in-flight request: got %d, want 201", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: got %v, want status 0; logs:\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("jifen did not exit after SIGTERM")
	}
	if strings.Contains(logs.String(), login.Token) || strings.Contains(logs.String(), adminPassword) {
		t.Fatal("a token or password appeared in the logs")
	}
}

// TestMigrateAndAdminCommands runs `jifen migrate` twice (the second applies
// nothing), `jifen admin create`, and `jifen version`.
func TestMigrateAndAdminCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(context.Background(), jifenBinary(t), args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "JIFEN_DB_DRIVER=sqlite", "JIFEN_DB_DSN="), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(nil, "migrate")
	if err != nil || !strings.Contains(out, "applied 00001") {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	out, err = run(nil, "migrate")
	if err != nil || !strings.Contains(out, "0 applied now") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	out, err = run([]string{"JIFEN_NEW_ADMIN_PASSWORD=second-admin-pw"}, "admin", "create", "--email", "ops@jifen.test")
	if err != nil || !strings.Contains(out, "created platform admin ops@jifen.test") {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	out, err = run([]string{"JIFEN_NEW_ADMIN_PASSWORD=second-admin-pw"}, "admin", "create", "--email", "ops@jifen.test")
	if err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("admin create twice: got %v\n%s, want a clear refusal", err, out)
	}
	out, err = run([]string{"JIFEN_DB_DRIVER=mysql", "JIFEN_DB_DSN=root@tcp(127.0.0.1:3306)/x"}, "migrate")
	if err == nil || !strings.Contains(out, "JIFEN_SECRET_KEY is required") {
		t.Fatalf("mysql without a secret key: got %v\n%s", err, out)
	}
	if out, err := run(nil, "version"); err != nil || !strings.HasPrefix(out, "jifen ") {
		t.Fatalf("version: %v %s", err, out)
	}
}

func TestSettingsFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jifen.yaml")
	os.WriteFile(path, []byte("http_addr: \":7000\"\nlog_level: debug\ndb_max_open_conns: 7\n"), 0o600)
	env := map[string]string{"JIFEN_CONFIG": path, "JIFEN_HTTP_ADDR": ":7100"}
	s, err := loadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr != ":7100" || s.LogLevel != "debug" || s.DBMaxOpenConns != 7 || s.DBDSN != "data/jifen.db" {
		t.Fatalf("got %+v", s)
	}
	os.WriteFile(path, []byte("htp_addr: \":7000\"\n"), 0o600)
	if _, err := loadSettings(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Fatalf("a misspelt key: got %v, want an error", err)
	}
	bad := map[string]string{"JIFEN_DB_DRIVER": "postgres", "JIFEN_SECRET_KEY": "short", "JIFEN_ADMIN_EMAIL": "a@b.c"}
	_, err = loadSettings(func(k string) string { return bad[k] })
	for _, want := range []string{"JIFEN_DB_DRIVER", "JIFEN_SECRET_KEY", "JIFEN_ADMIN_PASSWORD"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to name %s", err, want)
		}
	}
}

// TestPointsExpireCommand gives a member points, then runs
// `jifen points expire --at` thirteen months later: the points expire with
// an expire entry, and a second run expires nothing more.
func TestPointsExpireCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"JIFEN_ADMIN_EMAIL": adminEmail, "JIFEN_ADMIN_PASSWORD": adminPassword,
		"JIFEN_DB_DRIVER": "sqlite", "JIFEN_DB_DSN": filepath.Join(dir, "jifen.db"),
	}
	open := func() (*app, *client) {
		s, err := loadSettings(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		a, err := build(context.Background(), s, slogDiscard(), clockReal())
		if err != nil {
			t.Fatal(err)
		}
		return a, &client{t: t, h: a.engine}
	}
	a, c := open()
	f := newTenant(c)
	c.must(200, "POST", f.path("/members/"+f.IDs["mid"]+"/points/adjust"), f.Owner, map[string]any{"delta": 300, "reason": "opening balance"})
	a.close()

	at := time.Now().UTC().AddDate(1, 1, 0).Format(time.RFC3339)
	run := func() string {
		cmd := exec.Command(jifenBinary(t), "points", "expire", "--at", at)
		cmd.Env = append(os.Environ(), "JIFEN_DB_DRIVER=sqlite", "JIFEN_DB_DSN="+env["JIFEN_DB_DSN"])
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("points expire: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "300 points expired") {
		t.Fatalf("first run: got %s, want 300 points expired", out)
	}
	if out := run(); !strings.Contains(out, "done: 0 points expired") {
		t.Fatalf("second run: got %s, want nothing expired", out)
	}
	a, c = open()
	defer a.close()
	m := c.must(200, "GET", f.path("/members/"+f.IDs["mid"]), f.Owner, nil)
	if got := m["points"].(map[string]any)["available"]; got != float64(0) {
		t.Fatalf("available after expiry: got %v, want 0", got)
	}
	entries := c.must(200, "GET", f.path("/members/"+f.IDs["mid"]+"/ledger?kind=expire"), f.Owner, nil)["items"].([]any)
	if len(entries) != 1 || entries[0].(map[string]any)["points"] != float64(-300) {
		t.Fatalf("expire entries: got %v, want one of -300", entries)
	}
}

// TestJobsDisabledSetting: a disabled job can't be run, and a name that is
// no job stops the start with a clear message.
func TestJobsDisabledSetting(t *testing.T) {
	cmd, addr, _, _ := startJifen(t, "JIFEN_JOBS_DISABLED=members.birthdays, tiers.evaluate")
	defer cmd.Process.Signal(syscall.SIGTERM)
	res, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/platform/jobs/members.birthdays/run", nil)
	req.Header.Set("Authorization", "Bearer "+login.Token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 409 {
		t.Fatalf("running a disabled job: got %d, want 409", r.StatusCode)
	}

	bad := exec.Command(jifenBinary(t), "serve")
	bad.Dir = t.TempDir()
	bad.Env = append(os.Environ(), "JIFEN_HTTP_ADDR="+freePort(t), "JIFEN_METRICS_ADDR="+freePort(t), "JIFEN_DB_DSN=", "JIFEN_JOBS_DISABLED=no.such.job")
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no.such.job") {
		t.Fatalf("an unknown job name: got %v\n%s, want a refusal naming it", err, out)
	}
}
