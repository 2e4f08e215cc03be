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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"rightsdesk/internal/launch"
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

	proc *launch.Process // nil until mariadbd runs

	mu      sync.Mutex
	stopped bool
}

// FindBinaries returns the paths of mariadb-install-db and mariadbd (or
// their older names, mysql_install_db and mysqld): PATH first, then the
// folders Debian installs them in, which are not on every user's PATH.
func FindBinaries() (installDB, server string, err error) {
	dirs := []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"}
	installDB = launch.FindProgram([]string{"mariadb-install-db", "mysql_install_db"}, dirs...)
	server = launch.FindProgram([]string{"mariadbd", "mysqld"}, dirs...)
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
	dir, err := launch.TempDir("rdmy-")
	if err != nil {
		return nil, fmt.Errorf("mariadblocal: %w", err)
	}
	s := &Server{dir: dir, socket: filepath.Join(dir, "mysqld.sock"), logger: logger.With("component", "mariadblocal", "dir", dir)}
	if err := s.start(ctx, installDB, server); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx)) // the start error is the one to report
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, installDB, server string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// mariadbd refuses to run as root: root hands it to the mysql system
	// user, or nobody without one. mariadbd is started as root with --user
	// and drops to it itself, as Debian runs it.
	acc, err := launch.Unprivileged("mysql")
	if err != nil {
		return fmt.Errorf("mariadblocal: %w", err)
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
		if err := acc.ChownTree(s.dir); err != nil {
			return fmt.Errorf("mariadblocal: %w", err)
		}
		userArgs = []string{"--user=" + acc.Name()}
	}
	// #nosec G204 -- MariaDB's own installer, found in PATH or Debian's folders, with arguments built here
	install := exec.CommandContext(ctx, installDB, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}, userArgs...)...)
	install.Dir = "/"
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadblocal: %s: %w\n%s", filepath.Base(installDB), err, launch.LastLines(string(out), 20))
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
	// SIGTERM, mariadbd's clean shutdown, if we die without stopping it.
	proc, err := launch.Start(cmd, launch.Options{DeathSignal: syscall.SIGTERM})
	if err != nil {
		return fmt.Errorf("mariadblocal: %w", err)
	}
	s.proc = proc
	s.logger.Info("mariadb starting", "pid", proc.PID(), "socket", s.socket)
	if err := proc.WaitReady(ctx, 100*time.Millisecond, s.ping); err != nil {
		return fmt.Errorf("mariadblocal: %w\n%s", err, launch.LogTail(errLog, 0, 20))
	}
	s.logger.Info("mariadb ready")
	return nil
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
	if s.proc != nil {
		sent, stopErr := s.proc.Stop(ctx,
			launch.Step{Signal: syscall.SIGTERM, Wait: stopTimeout},
			launch.Step{Signal: syscall.SIGKILL, Wait: stopTimeout})
		switch {
		case stopErr != nil:
			err = fmt.Errorf("mariadblocal: %w", stopErr)
		case sent == 2 && ctx.Err() == nil:
			err = errors.New("mariadblocal: mariadbd needed SIGKILL to stop")
		}
		s.logger.Info("mariadb stopped")
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("mariadblocal: remove %s: %w", s.dir, rmErr))
	}
	return err
}
