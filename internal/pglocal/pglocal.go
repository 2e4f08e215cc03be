// Package pglocal runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries. The cluster listens only on a Unix socket in a folder
// that only the server's user can enter, which is what makes trust
// authentication safe. `rightsdesk serve` uses it when no DATABASE_URL is set,
// and tests use it for one throwaway cluster per test run.
package pglocal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rightsdesk/internal/launch"
)

const (
	defaultPort     = 5432
	defaultUser     = "rightsdesk"
	defaultDatabase = "rightsdesk"

	// DefaultOwner is the ordinary role serve's private PostgreSQL gives
	// its database to (Options.Owner).
	DefaultOwner = "rightsdesk_owner"

	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	quitTimeout  = 10 * time.Second
	pollInterval = 100 * time.Millisecond

	logTailLines = 20
)

// Options describes the cluster to run. Only DataDir is required.
type Options struct {
	// DataDir is the cluster folder, e.g. ./var/postgres. It is made
	// absolute, created when missing and initialised when it has no
	// PG_VERSION file.
	DataDir string
	// SocketDir holds the Unix socket; default DataDir. It must be a folder
	// dedicated to the server: Start makes it mode 0700.
	SocketDir string
	// Port only names the socket file (.s.PGSQL.<port>); default 5432.
	// The server never listens on TCP.
	Port int
	// User is the superuser created by initdb; default "rightsdesk".
	User string
	// Database is created when missing; default "rightsdesk".
	Database string
	// Owner, when set, is an ordinary role (NOSUPERUSER NOBYPASSRLS) made
	// to own Database and everything in it, which OwnerConnString connects
	// as: PostgreSQL never applies row-level security to a superuser, so
	// the application connects as the owner, whom FORCE ROW LEVEL SECURITY
	// binds, as in production. A database the superuser owns (made by an
	// earlier version, or before Owner was set) is handed over at every
	// start, idempotently. Empty: Database stays the superuser's.
	Owner string
	// BinDir holds initdb and postgres; default FindBinDir().
	BinDir string
	// Settings are extra server settings passed as -c name=value; they
	// override the defaults (fsync=on). Tests use EphemeralSettings.
	Settings map[string]string
	// Logger receives the launcher's own logs; nil discards them. The
	// server's log goes to DataDir/log/postgres.log.
	Logger *slog.Logger
}

// Server is a running cluster. It is either a child process started by this
// launcher or, after a crash of a previous launcher, a still-running server of
// the same data folder that Start adopted.
type Server struct {
	dataDir   string
	socketDir string
	port      int
	user      string
	database  string
	owner     string
	logPath   string
	logger    *slog.Logger

	pid     int
	proc    *launch.Process // nil when an already-running server was adopted
	logFile *os.File

	removeDir string // removed after the server stopped (StartTemporary)

	mu      sync.Mutex
	stopped bool
}

// settings the launcher owns: trust authentication is only safe while they hold.
var reservedSettings = []string{"listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions", "data_directory"}

// Start runs the cluster described by opts, initialising it first when needed,
// waits until it accepts connections and creates opts.Database when missing.
// ctx bounds the start only (at most 60 s), not the server's life: call Stop.
//
// A postmaster.pid left by a killed run does not prevent start: when its
// process is gone postgres replaces the file itself, when its PID now belongs
// to an unrelated process the file is removed, and when a postgres of this
// data folder still runs (its launcher was SIGKILLed) and answers on the
// socket, Start adopts that server instead of failing.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	// postgres refuses to run as root: root hands it to the postgres
	// system user, or nobody without one.
	acc, err := launch.Unprivileged("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	if err := prepareFolders(s.dataDir, s.socketDir, acc); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, binDir, s.dataDir, s.user, acc, opts.Settings["fsync"] == "off", s.logger); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("check data folder %s: %w", s.dataDir, err)
	}

	adopted, err := s.adoptRunning(ctx)
	if err != nil {
		return nil, err
	}
	if !adopted {
		if err := s.spawn(ctx, binDir, acc, opts.Settings); err != nil {
			return nil, err
		}
	}
	if err := s.ensureDatabase(ctx); err != nil {
		return nil, errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
	}
	if err := s.ensureOwner(ctx); err != nil {
		return nil, errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
	}
	return s, nil
}

func newServer(opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pglocal: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data folder %q: %w", opts.DataDir, err)
	}
	socketDir := dataDir
	if opts.SocketDir != "" {
		if socketDir, err = filepath.Abs(opts.SocketDir); err != nil {
			return nil, fmt.Errorf("pglocal: socket folder %q: %w", opts.SocketDir, err)
		}
	}
	s := &Server{
		dataDir:   dataDir,
		socketDir: socketDir,
		port:      cmp.Or(opts.Port, defaultPort),
		user:      cmp.Or(opts.User, defaultUser),
		database:  cmp.Or(opts.Database, defaultDatabase),
		owner:     opts.Owner,
		logPath:   filepath.Join(dataDir, "log", "postgres.log"),
		logger:    opts.Logger,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "pglocal", "data_dir", dataDir)
	if s.port <= 0 || s.port > 65535 {
		return nil, fmt.Errorf("pglocal: port %d out of range", s.port)
	}
	// The kernel stores a socket's path in a fixed-size sun_path buffer; a
	// longer path would make postgres fail with a far less helpful message.
	if sock := s.socketPath(); len(sock) > launch.MaxSocketPathLen {
		return nil, fmt.Errorf("pglocal: Unix socket path %s is %d bytes, more than the %d this OS allows: choose a shorter DataDir or SocketDir", sock, len(sock), launch.MaxSocketPathLen)
	}
	for name := range opts.Settings {
		if slices.Contains(reservedSettings, strings.ToLower(name)) {
			return nil, fmt.Errorf("pglocal: setting %q is managed by the launcher", name)
		}
		if !validSettingName(name) {
			return nil, fmt.Errorf("pglocal: invalid setting name %q", name)
		}
	}
	return s, nil
}

func validSettingName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Adopted says the cluster was already running when Start was called: Stop
// leaves it running.
func (s *Server) Adopted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc == nil
}

// ConnString returns a pgx URL for dbname as the cluster's superuser over the
// Unix socket, e.g. postgres://rightsdesk@/rightsdesk?host=%2Fsrv%2Fvar%2Fpostgres&port=5432&sslmode=disable.
// It works with pgx.ParseConfig, database/sql's "pgx" driver and psql.
func (s *Server) ConnString(dbname string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.User(s.user),
		Path:   "/" + dbname,
		RawQuery: url.Values{
			"host":    {s.socketDir},
			"port":    {strconv.Itoa(s.port)},
			"sslmode": {"disable"},
		}.Encode(),
	}
	return u.String()
}

// OwnerConnString is ConnString as the database's owner (Options.Owner),
// the role the application connects as; as the superuser when there is none.
func (s *Server) OwnerConnString(dbname string) string {
	u, _ := url.Parse(s.ConnString(dbname))
	if s.owner != "" {
		u.User = url.User(s.owner)
	}
	return u.String()
}

// DataDir returns the absolute cluster folder.
func (s *Server) DataDir() string { return s.dataDir }

// SocketDir returns the absolute folder holding the Unix socket.
func (s *Server) SocketDir() string { return s.socketDir }

// Port returns the port that names the socket file.
func (s *Server) Port() int { return s.port }

// User returns the cluster's superuser.
func (s *Server) User() string { return s.user }

// Database returns the database Start made sure exists.
func (s *Server) Database() string { return s.database }

// PID returns the postmaster's process ID.
func (s *Server) PID() int { return s.pid }

// LogPath returns the file the server's own log is written to.
func (s *Server) LogPath() string { return s.logPath }

func (s *Server) socketPath() string {
	return filepath.Join(s.socketDir, ".s.PGSQL."+strconv.Itoa(s.port))
}

// Stop shuts a server this launcher started down (an adopted one is left
// running for its owner) and waits for it to exit: SIGINT (fast
// shutdown: sessions are disconnected, data is flushed), after 30 s SIGQUIT
// (immediate shutdown: crash recovery at the next start), then SIGKILL. A
// cancelled ctx skips straight to SIGQUIT. Calling Stop again is a no-op.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true

	if s.proc == nil {
		// An adopted server belongs to another launcher - typically a running
		// `serve` while `rightsdesk user add` or `migrate` borrows its
		// database: stopping it would take the portal down.
		s.logger.Info("leaving running the postgres this launcher adopted", "pid", s.pid)
		if s.logFile != nil {
			_ = s.logFile.Close()
		}
		return nil
	}
	err := s.shutdown(ctx)
	if s.logFile != nil {
		_ = s.logFile.Close() // best effort at shutdown
	}
	if err == nil {
		s.logger.Info("postgres stopped")
	}
	if s.removeDir != "" {
		if rmErr := os.RemoveAll(s.removeDir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove cluster folder: %w", rmErr))
		}
	}
	return err
}

// shutdown: SIGINT is postgres's fast shutdown, SIGQUIT its immediate one.
func (s *Server) shutdown(ctx context.Context) error {
	sent, err := s.proc.Stop(ctx,
		launch.Step{Signal: syscall.SIGINT, Wait: stopTimeout},
		launch.Step{Signal: syscall.SIGQUIT, Wait: quitTimeout},
		launch.Step{Signal: syscall.SIGKILL, Wait: quitTimeout})
	switch {
	case errors.Is(err, launch.ErrStillRunning):
		return fmt.Errorf("postgres (pid %d) still runs after SIGKILL", s.pid)
	case err != nil:
		return fmt.Errorf("pglocal: %w", err)
	case sent == 2:
		return fmt.Errorf("postgres (pid %d) needed SIGQUIT to stop; it will run crash recovery at next start", s.pid)
	case sent == 3:
		return fmt.Errorf("postgres (pid %d) needed SIGKILL to stop", s.pid)
	}
	if exitErr := s.proc.ExitErr(); exitErr != nil {
		return fmt.Errorf("postgres exited: %w (log: %s)", exitErr, s.logPath)
	}
	return nil
}

// spawn runs postgres as a child process and waits until it accepts connections.
func (s *Server) spawn(ctx context.Context, binDir string, acc *launch.Account, extra map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o700); err != nil {
		return fmt.Errorf("create log folder: %w", err)
	}
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open postgres log: %w", err)
	}
	if err := acc.Chown(filepath.Dir(s.logPath)); err != nil {
		_ = logFile.Close() // the chown error is the one to report
		return err
	}
	if err := acc.Chown(s.logPath); err != nil {
		_ = logFile.Close() // the chown error is the one to report
		return err
	}
	logStart, _ := logFile.Seek(0, io.SeekEnd)

	settings := map[string]string{"fsync": "on"}
	for k, v := range extra {
		settings[k] = v
	}
	settings["listen_addresses"] = ""
	settings["unix_socket_permissions"] = "0700"
	args := []string{"-D", s.dataDir, "-k", s.socketDir, "-p", strconv.Itoa(s.port)}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}

	// #nosec G204 -- PostgreSQL's own binary from a checked folder, arguments built here
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = "/" // the caller's working folder may be closed to the server's user
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// SIGINT, postgres's fast shutdown, if we die without stopping it.
	proc, err := launch.Start(cmd, launch.Options{Account: acc, DeathSignal: syscall.SIGINT})
	if err != nil {
		_ = logFile.Close() // the start error is the one to report
		return fmt.Errorf("pglocal: %w", err)
	}
	s.proc = proc
	s.pid = proc.PID()
	s.logFile = logFile
	s.logger.Info("postgres starting", "pid", s.pid, "socket", s.socketPath(), "log", s.logPath)

	if err := proc.WaitReady(ctx, pollInterval, s.ping); err != nil {
		exitedEarly := proc.HasExited()
		if stopErr := s.Stop(context.Background()); stopErr != nil && !exitedEarly {
			err = errors.Join(err, stopErr)
		}
		return fmt.Errorf("start postgres: %w\n%s", err, s.logTail(logStart))
	}
	s.logger.Info("postgres ready", "pid", s.pid)
	return nil
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// adoptRunning looks at a postmaster.pid left in the data folder. It adopts
// a live server of this folder that answers on our socket, removes the file
// when its PID was recycled by an unrelated process (postgres would refuse to
// start otherwise), and leaves a dead PID's file for postgres to replace.
func (s *Server) adoptRunning(ctx context.Context) (bool, error) {
	lock, err := readPostmasterPID(s.dataDir)
	if err != nil || lock.pid == 0 {
		return false, err
	}
	if !launch.ProcessAlive(lock.pid) {
		s.logger.Info("stale postmaster.pid from a stopped server; postgres will replace it", "pid", lock.pid)
		return false, nil
	}
	if !processIsPostgres(lock.pid) {
		s.logger.Warn("postmaster.pid names a live process that is not postgres; removing the stale lock files", "pid", lock.pid)
		for _, f := range []string{filepath.Join(s.dataDir, "postmaster.pid"), s.socketPath() + ".lock"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("remove stale lock file: %w", err)
			}
		}
		return false, nil
	}
	if lock.port != 0 && lock.port != s.port || lock.socketDir != "" && lock.socketDir != s.socketDir {
		return false, fmt.Errorf("postgres (pid %d) already runs on data folder %s with socket folder %s and port %d, not %s and %d: stop it first (kill -INT %d)",
			lock.pid, s.dataDir, lock.socketDir, lock.port, s.socketDir, s.port, lock.pid)
	}

	// The old server may still be starting or shutting down (Pdeathsig sends
	// it SIGINT when its launcher dies): wait until it answers or is gone.
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if same, err := s.servesDataDir(ctx); err == nil && same {
			s.pid = lock.pid
			// A serve of this data folder (a command borrowing its database),
			// or one left by a launcher that is gone.
			s.logger.Info("the private PostgreSQL is already running: using it", "pid", lock.pid)
			return true, nil
		}
		if !launch.ProcessAlive(lock.pid) {
			s.logger.Info("previous postgres exited; starting a new one", "pid", lock.pid)
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("postgres (pid %d) holds data folder %s but does not accept connections on %s: stop it (kill -INT %d); its log: %s",
				lock.pid, s.dataDir, s.socketPath(), lock.pid, s.logPath)
		case <-ticker.C:
		}
	}
}

func (s *Server) servesDataDir(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return false, err
	}
	a, errA := os.Stat(dir)
	b, errB := os.Stat(s.dataDir)
	return errA == nil && errB == nil && os.SameFile(a, b), nil
}

type postmasterLock struct {
	pid       int
	port      int
	socketDir string
}

// readPostmasterPID parses DataDir/postmaster.pid: PID, data folder, start
// time, port, first socket folder, ... one per line.
func readPostmasterPID(dataDir string) (postmasterLock, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid")) // #nosec G304 -- PostgreSQL's lock file in our own data folder
	if errors.Is(err, os.ErrNotExist) {
		return postmasterLock{}, nil
	}
	if err != nil {
		return postmasterLock{}, fmt.Errorf("read postmaster.pid: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	var lock postmasterLock
	lock.pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 4 {
		lock.port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
		lock.socketDir = strings.TrimSpace(lines[4])
	}
	if lock.pid < 0 {
		lock.pid = -lock.pid // a single-user backend writes its PID negated
	}
	return lock, nil
}

func (s *Server) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("connect to create database %q: %w", s.database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", s.database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", s.database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", s.database, err)
	}
	s.logger.Info("database created", "database", s.database)
	return nil
}

// handOver gives every object of the connected database that the
// superuser (current_user) owns to the role %[1]s: schemas, tables (with
// their indexes and the sequences of their columns), free sequences,
// views, functions and types. What belongs to an extension (pg_trgm's
// functions) stays as the extension made it; with nothing left to hand
// over, it changes nothing.
const handOver = `DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT n.nspname FROM pg_namespace n
		WHERE n.nspowner = current_user::regrole AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
	LOOP
		EXECUTE format('ALTER SCHEMA %%I OWNER TO %[1]s', r.nspname);
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = current_user::regrole AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
			AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
				AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %[1]s', CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
			WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.proowner = current_user::regrole AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER ROUTINE %%s OWNER TO %[1]s', r.name);
	END LOOP;
	FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE t.typowner = current_user::regrole AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
			AND t.typtype IN ('e', 'd', 'r')
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER TYPE %%s OWNER TO %[1]s', r.name);
	END LOOP;
END
$$`

// ensureOwner makes Options.Owner an ordinary role that owns the database
// and everything in it (see Options.Owner). Every step is idempotent: a
// start after the first finds nothing to change.
func (s *Server) ensureOwner(ctx context.Context) error {
	if s.owner == "" {
		return nil
	}
	owner := pgx.Identifier{s.owner}.Sanitize()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("connect to give database %q to %q: %w", s.database, s.owner, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", s.owner).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %q: %w", s.owner, err)
	}
	verb := "ALTER"
	if !exists {
		verb = "CREATE"
	}
	// The attributes are set at every start, so that a role someone gave
	// more has them taken back: RLS must bind it.
	if _, err := conn.Exec(ctx, verb+" ROLE "+owner+" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB"); err != nil {
		return fmt.Errorf("%s role %q: %w", strings.ToLower(verb), s.owner, err)
	}
	var dbOwner string
	if err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", s.database).Scan(&dbOwner); err != nil {
		return fmt.Errorf("look up the owner of database %q: %w", s.database, err)
	}
	if dbOwner != s.owner {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{s.database}.Sanitize()+" OWNER TO "+owner); err != nil {
			return fmt.Errorf("give database %q to %q: %w", s.database, s.owner, err)
		}
		s.logger.Info("database given to its owner role", "database", s.database, "owner", s.owner, "was", dbOwner)
	}
	db, err := pgx.Connect(ctx, s.ConnString(s.database))
	if err != nil {
		return fmt.Errorf("connect to database %q: %w", s.database, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	if _, err := db.Exec(ctx, fmt.Sprintf(handOver, owner)); err != nil {
		return fmt.Errorf("give the objects of database %q to %q: %w", s.database, s.owner, err)
	}
	return nil
}

// initdb creates the cluster. Trust authentication is safe here: there is no
// TCP listener and the socket sits in a folder only the server's user (and
// root) can enter.
func initdb(ctx context.Context, binDir, dataDir, user string, acc *launch.Account, noSync bool, logger *slog.Logger) error {
	run := func(locale string) ([]byte, error) {
		args := []string{"-D", dataDir, "-U", user, "-A", "trust", "-E", "UTF8", locale}
		if noSync {
			args = append(args, "--no-sync")
		}
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...) // #nosec G204 -- PostgreSQL's own initdb from a checked folder, arguments built here
		cmd.Dir = "/"
		cmd.Env = serverEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acc.Credential()}
		return cmd.CombinedOutput()
	}
	logger.Info("initialising cluster", "bin_dir", binDir)
	out, err := run("--locale=C.UTF-8")
	if err != nil && bytes.Contains(bytes.ToLower(out), []byte("locale")) {
		// Older C libraries have no C.UTF-8; the C locale sorts the same way.
		logger.Warn("initdb refused locale C.UTF-8; retrying with --no-locale", "output", launch.LastLines(string(out), 3))
		out, err = run("--no-locale")
	}
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", dataDir, err, launch.LastLines(string(out), logTailLines))
	}
	return nil
}

// serverEnv is our environment without PG* variables, which would otherwise
// steer initdb and postgres (PGDATA, PGPORT, ...).
func serverEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}

// logTail returns the last lines the server logged since offset, for errors.
func (s *Server) logTail(offset int64) string {
	tail := launch.LogTail(s.logPath, offset, logTailLines)
	if tail == "" {
		return ""
	}
	return "postgres log (" + s.logPath + "):\n" + tail
}

// processIsPostgres tells whether pid is a postgres process, so that a PID
// recycled by an unrelated process is not mistaken for a running server.
func processIsPostgres(pid int) bool {
	name, ok := launch.ProcessName(pid)
	if !ok {
		return true // cannot tell: let postgres judge its lock file
	}
	return name == "postgres" || name == "postmaster"
}
