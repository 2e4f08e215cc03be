// Package mariadblocal runs a private, throwaway MariaDB server from the
// machine's own binaries (Debian's mariadb-server: mariadb-install-db and
// mariadbd) for tests: in a new temporary folder, listening only on a Unix
// socket in that folder, with a root account without a password that only
// whoever can enter the folder reaches. Stop ends the server and removes
// the folder.
package mariadblocal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is a running private MariaDB.
type Server struct {
	dir    string
	socket string
	logger *slog.Logger

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	mu      sync.Mutex
	stopped bool
}

// FindBinaries returns the paths of mariadb-install-db and mariadbd (or
// their older names, mysql_install_db and mysqld): PATH first, then the
// folders Debian installs them in, which are not on every user's PATH.
func FindBinaries() (installDB, server string, err error) {
	look := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"} {
				p := filepath.Join(dir, n)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p
				}
			}
		}
		return ""
	}
	installDB = look("mariadb-install-db", "mysql_install_db")
	server = look("mariadbd", "mysqld")
	if installDB == "" || server == "" {
		return "", "", errors.New("mariadblocal: no MariaDB server binaries (mariadb-install-db and mariadbd): install them (Debian/Ubuntu: apt-get install mariadb-server; scripts/test does it)")
	}
	return installDB, server, nil
}

// StartTemporary initialises and starts a server in a new temporary folder
// and waits until it accepts connections. ctx bounds the start only.
func StartTemporary(ctx context.Context, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	installDB, server, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	// Short, under os.TempDir: the socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "rdmy-")
	if err != nil {
		return nil, fmt.Errorf("mariadblocal: create temporary folder: %w", err)
	}
	s := &Server{dir: dir, socket: filepath.Join(dir, "mysqld.sock"), logger: logger.With("component", "mariadblocal", "dir", dir)}
	if err := s.start(ctx, installDB, server); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx)) // the start error is the one to report
		return nil, err
	}
	return s, nil
}

// serverUser is who the server runs as: mariadbd refuses to run as root, so
// root hands it to the mysql system user (nobody without one); anyone else
// runs it as themselves.
func serverUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"mysql", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("mariadblocal: running as root, MariaDB needs an unprivileged user, but neither mysql nor nobody exists")
}

func (s *Server) start(ctx context.Context, installDB, server string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	acc, err := serverUser()
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return fmt.Errorf("mariadblocal: %w", err)
	}
	var userArgs []string
	if acc != nil {
		// The folder stays 0700, owned by the server's user: only it (and
		// root) can reach the socket, which is what makes the root account
		// without a password safe.
		uid, _ := strconv.Atoi(acc.Uid)
		gid, _ := strconv.Atoi(acc.Gid)
		for _, p := range []string{s.dir, data} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("mariadblocal: hand %s to user %s: %w", p, acc.Username, err)
			}
		}
		userArgs = []string{"--user=" + acc.Username}
	}
	// #nosec G204 -- MariaDB's own installer, found in PATH or Debian's folders, with arguments built here
	install := exec.CommandContext(ctx, installDB, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}, userArgs...)...)
	install.Dir = "/"
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadblocal: %s: %w\n%s", filepath.Base(installDB), err, lastLines(string(out), 20))
	}
	errLog := filepath.Join(s.dir, "error.log")
	args := append([]string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + s.socket,
		"--pid-file=" + filepath.Join(s.dir, "mysqld.pid"),
		"--log-error=" + errLog,
		"--skip-networking",
		"--skip-log-bin",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_unicode_ci",
		// A throwaway server: speed over durability.
		"--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--sync-binlog=0",
		"--max-connections=300",
	}, userArgs...)
	// #nosec G204 -- MariaDB's own server binary with arguments built here
	cmd := exec.Command(server, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = serverProcAttr()
	s.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that started the child: keep it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		s.exited = nil
		return fmt.Errorf("mariadblocal: run %s: %w", server, err)
	}
	s.cmd = cmd
	s.logger.Info("mariadb starting", "pid", cmd.Process.Pid, "socket", s.socket)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = s.ping(ctx); last == nil {
			s.logger.Info("mariadb ready")
			return nil
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(errLog) // #nosec G304 -- the server's log in our own folder
			return fmt.Errorf("mariadblocal: mariadbd exited while starting: %v\n%s", s.waitErr, lastLines(string(b), 20))
		case <-ctx.Done():
			return fmt.Errorf("mariadblocal: mariadbd did not accept connections: %w (last attempt: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", s.socket
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Socket is the server's Unix socket.
func (s *Server) Socket() string { return s.socket }

// URL is a connection URL for a database as root over the socket, in the
// form rightsdesk's MySQL systems take: mysql://root@/db?socket=/path.
func (s *Server) URL(database string) string {
	u := url.URL{Scheme: "mysql", User: url.User("root"), Host: "", Path: "/" + database,
		RawQuery: url.Values{"socket": {s.socket}}.Encode()}
	return u.String()
}

// Stop shuts the server down (SIGTERM, after 30 s SIGKILL), waits for it
// and removes its folder. Calling it again does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var err error
	if s.cmd != nil && s.exited != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		timer := time.NewTimer(stopTimeout)
		select {
		case <-s.exited:
		case <-timer.C:
			_ = s.cmd.Process.Kill() // escalation
			<-s.exited
			err = errors.New("mariadblocal: mariadbd needed SIGKILL to stop")
		case <-ctx.Done():
			_ = s.cmd.Process.Kill() // the caller stopped waiting
			<-s.exited
		}
		timer.Stop()
		s.logger.Info("mariadb stopped")
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("mariadblocal: remove %s: %w", s.dir, rmErr))
	}
	return err
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
