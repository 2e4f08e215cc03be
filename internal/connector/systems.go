package connector

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"rightsdesk/internal/datamap"
)

// Systems holds the connections to a map's database systems, opened on
// first use with the credentials the map's variables name. It is safe for
// concurrent use; Close ends every connection.
type Systems struct {
	m   *datamap.Map
	env datamap.Env

	mu     sync.Mutex
	pools  map[poolKey]*sql.DB
	closed bool
}

type poolKey struct {
	system string
	change bool
}

// New returns the systems of m, reading credentials through env.
func New(m *datamap.Map, env datamap.Env) *Systems {
	return &Systems{m: m, env: env, pools: map[poolKey]*sql.DB{}}
}

// Map returns the data map the systems belong to.
func (s *Systems) Map() *datamap.Map { return s.m }

// Close closes every connection.
func (s *Systems) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for k, db := range s.pools {
		errs = append(errs, db.Close())
		delete(s.pools, k)
	}
	return errors.Join(errs...)
}

// SystemError is a failure in one system's step. Retryable says whether
// trying again later may succeed (the system was down, busy or timed out)
// or whether something must be fixed first (the map, the schema, the
// credentials).
type SystemError struct {
	System    string
	Op        string // "connect", "read", "change", "check", "call"
	Err       error
	retryable bool
}

func (e *SystemError) Error() string {
	return fmt.Sprintf("system %s: %s: %v", e.System, e.Op, e.Err)
}

func (e *SystemError) Unwrap() error { return e.Err }

// Retryable reports whether the step may succeed when tried again as it is.
func (e *SystemError) Retryable() bool { return e.retryable }

// IsRetryable reports whether err is a system's failure that may pass.
func IsRetryable(err error) bool {
	var se *SystemError
	return errors.As(err, &se) && se.retryable
}

// ErrNoChangeCredentials says a system has no change credentials, so its
// changes cannot run; reading still works.
var ErrNoChangeCredentials = errors.New("the map gives no change_url_env for it, so rightsdesk cannot change its rows")

func (s *Systems) fail(sys, op string, err error) error {
	if err == nil {
		return nil
	}
	var se *SystemError
	if errors.As(err, &se) {
		return err
	}
	return &SystemError{System: sys, Op: op, Err: err, retryable: transient(err)}
}

// transient tells a failure that may pass — the server is down, restarting,
// overloaded, the network broke, a lock or a serialisation conflict — from
// one that will recur until someone fixes it.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "40"),  // serialization failure, deadlock
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources, too many connections
			strings.HasPrefix(pgErr.Code, "57P"), // admin shutdown, crash shutdown, cannot connect now
			pgErr.Code == "55P03":                // lock not available
			return true
		}
		return false
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1040, 1053, 1205, 1213, 1317, 2002, 2003, 2006, 2013:
			// too many connections, shutdown, lock wait timeout, deadlock,
			// interrupted, cannot connect, server gone, lost connection
			return true
		}
		return false
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// db returns the pool of a system, opening it on first use.
func (s *Systems) db(name string, change bool) (*sql.DB, error) {
	sys := s.m.System(name)
	if sys == nil || !sys.Kind.SQL() {
		return nil, fmt.Errorf("connector: %q is no database system of the map", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("connector: closed")
	}
	key := poolKey{name, change}
	if db, ok := s.pools[key]; ok {
		return db, nil
	}
	envName := sys.ReadURLEnv
	if change {
		envName = sys.ChangeURLEnv
		if envName == "" {
			return nil, &SystemError{System: name, Op: "change", Err: ErrNoChangeCredentials}
		}
	}
	url, err := datamap.Secret(s.env, envName)
	if err != nil {
		// Setting the variable fixes it; the step is not retried by itself.
		return nil, &SystemError{System: name, Op: "connect", Err: err}
	}
	db, err := open(sys.Kind, url)
	if err != nil {
		return nil, &SystemError{System: name, Op: "connect", Err: err}
	}
	// An operator's production database: take little of it.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	s.pools[key] = db
	return db, nil
}

// open makes a pool for a connection URL. It does not connect, and its
// errors never repeat the URL, which holds a password.
func open(kind datamap.Kind, raw string) (*sql.DB, error) {
	switch kind {
	case datamap.Postgres:
		cfg, err := pgx.ParseConfig(raw)
		if err != nil {
			return nil, errors.New("the PostgreSQL connection URL does not parse (postgres://user:password@host:5432/database)")
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = 10 * time.Second
		}
		return stdlib.OpenDB(*cfg), nil
	case datamap.MySQL:
		cfg, err := MySQLConfig(raw)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, errors.New("the MySQL connection settings are not usable")
		}
		return sql.OpenDB(conn), nil
	}
	return nil, fmt.Errorf("connector: kind %s is not a database", kind)
}

// MySQLConfig reads a MySQL/MariaDB connection: a URL
// mysql://user:password@host:3306/database (a Unix socket with
// ?socket=/path, TLS with ?tls=true, skip-verify or preferred), or the
// driver's own DSN user:password@tcp(host:3306)/database.
func MySQLConfig(raw string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if strings.HasPrefix(raw, "mysql://") || strings.HasPrefix(raw, "mariadb://") {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, errors.New("the MySQL connection URL does not parse (mysql://user:password@host:3306/database)")
		}
		cfg = mysql.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		q := u.Query()
		if sock := q.Get("socket"); sock != "" {
			cfg.Net, cfg.Addr = "unix", sock
		} else {
			host := u.Host
			if u.Port() == "" {
				host = net.JoinHostPort(u.Hostname(), "3306")
			}
			cfg.Net, cfg.Addr = "tcp", host
		}
		for k, v := range q {
			switch k {
			case "socket":
			case "tls":
				cfg.TLSConfig = v[0]
			default:
				return nil, fmt.Errorf("the MySQL connection URL has an unknown parameter %q (known: socket, tls)", k)
			}
		}
	} else {
		var err error
		if cfg, err = mysql.ParseDSN(raw); err != nil {
			return nil, errors.New("the MySQL connection does not parse: give mysql://user:password@host:3306/database or the driver's DSN user:password@tcp(host:3306)/database")
		}
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	cfg.InterpolateParams = false // parameters go to the server, never into the text
	cfg.Timeout = 10 * time.Second
	return cfg, nil
}
