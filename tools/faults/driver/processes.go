package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/pglocal"
)

func (d *driver) startShared() error {
	d.pgDir = filepath.Join(d.cfg.work, "pg")
	if err := d.startPG(); err != nil {
		return err
	}
	sp := d.cfg.basePort + 90
	d.smtp = fmt.Sprintf("127.0.0.1:%d", sp)
	d.ctl = fmt.Sprintf("http://127.0.0.1:%d", sp+1)
	p, err := startProc(filepath.Join(d.cfg.work, "smtpsink.log"), nil, d.cfg.sink, "-smtp", d.smtp, "-control", strings.TrimPrefix(d.ctl, "http://"))
	if err != nil {
		return err
	}
	d.sinkP = p
	for range 100 {
		if _, err := d.sinkIDs(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the SMTP sink did not start")
}

func (d *driver) startPG() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: d.pgDir, Database: "postgres", Settings: pglocal.EphemeralSettings(), Logger: d.logger})
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	d.pg = srv
	return nil
}

func (d *driver) stopPG() error {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	return d.pg.Stop(ctx)
}

func (d *driver) cleanup() {
	if d.sinkP != nil {
		d.sinkP.signal(syscall.SIGTERM)
		d.sinkP.wait(5 * time.Second)
	}
	if d.pg != nil {
		_ = d.stopPG()
	}
}

// createDB makes a fresh database for one scenario and returns its URL.
func (d *driver) createDB(name string) (string, error) {
	if _, err := d.exec("postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return d.pg.ConnString(name), nil
}

func (d *driver) conn(dbURL string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, dbURL)
}

func (d *driver) exec(db, sql string, args ...any) (int64, error) {
	c, err := d.conn(d.pg.ConnString(db))
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	tag, err := c.Exec(context.Background(), sql, args...)
	return tag.RowsAffected(), err
}

func queryInt(dbURL, sql string, args ...any) (int, error) {
	c, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var n int
	err = c.QueryRow(context.Background(), sql, args...).Scan(&n)
	return n, err
}

func queryStrings(dbURL, sql string, args ...any) ([]string, error) {
	c, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startProc(logPath string, env []string, name string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // #nosec G302 G304 -- our own log file
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...) // #nosec G204 -- the binaries scripts/faults built
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	if env == nil {
		cmd.Env = os.Environ()
	}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits up to d for the process to exit; false when it still runs.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *proc) exitCode() int {
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.signal(syscall.SIGKILL)
		p.wait(10 * time.Second)
	}
}

// serveEnv is the environment of one instance.
func (d *driver) serveEnv(port int, dbURL string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"BASE_URL=http://127.0.0.1:" + strconv.Itoa(port),
		"SMTP_URL=smtp://" + d.smtp + "?tls=none",
		"PRIVACY_CONTACT_EMAIL=privacy@example.kz",
		"ORG_NAME=Faults School",
		"INTAKE_RATE_LIMIT=0",
		"LOG_LEVEL=info",
		"RIGHTSDESK_DATA_DIR=" + filepath.Join(d.cfg.work, "data-"+strconv.Itoa(port)),
		// One key for every instance: two instances on one database must
		// open each other's rows.
		"ENCRYPTION_KEY=" + faultsKey,
	}
	if dbURL != "" {
		env = append(env, "DATABASE_URL="+dbURL)
	}
	return append(env, extra...)
}

// faultsKey is the ENCRYPTION_KEY of every serve the driver starts: a
// throwaway key for throwaway data.
const faultsKey = "ZmF1bHRzIGRyaXZlciBrZXksIHRocm93YXdheSBkYXQ="

func (d *driver) startServe(port int, env []string, logName string) (*proc, error) {
	p, err := startProc(filepath.Join(d.cfg.work, logName), env, d.cfg.bin, "serve")
	if err != nil {
		return nil, err
	}
	if err := waitReady(port, 60*time.Second, p); err != nil {
		p.kill()
		return nil, fmt.Errorf("%s: %w (log %s)", logName, err, p.log)
	}
	return p, nil
}

func waitReady(port int, timeout time.Duration, p *proc) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("exited before ready: %v", p.err)
			default:
			}
		}
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not ready in time")
}
