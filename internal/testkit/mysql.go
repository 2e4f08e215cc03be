package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/mariadblocal"
)

// EnvMySQLURL names the variable holding the test MariaDB's root URL
// (mysql://root@/?socket=…). withpg sets it once for a whole run when
// MariaDB is installed; otherwise MainWithMySQL starts a server per test
// binary.
const EnvMySQLURL = "RIGHTSDESK_TEST_MYSQL_URL"

// MainWithMySQL is Main for test binaries that also use MariaDB:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.MainWithMySQL(m)) }
func MainWithMySQL(m *testing.M) int {
	if os.Getenv(EnvMySQLURL) != "" {
		return Main(m)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := mariadblocal.StartTemporary(context.Background(), logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkit: start the test MariaDB: %v\n", err)
		return 1
	}
	_ = os.Setenv(EnvMySQLURL, srv.URL("")) // cannot fail for a valid name
	code := Main(m)
	if err := srv.Stop(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "testkit: stop the test MariaDB: %v\n", err)
	}
	return code
}

// MySQLDB creates a fresh, empty MariaDB database for the test (utf8mb4),
// dropped when the test ends, and returns its URL as root.
func MySQLDB(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv(EnvMySQLURL)
	if root == "" {
		tb.Fatalf("%s is unset: call testkit.MainWithMySQL from TestMain or run the tests under bin/withpg", EnvMySQLURL)
	}
	db := openMySQL(tb, root)
	defer db.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("create MariaDB test database: %v", err)
	}
	tb.Cleanup(func() {
		db := openMySQL(tb, root)
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name) // best effort: the server is thrown away at the end
	})
	u, err := url.Parse(root)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// OpenMySQL opens a database/sql pool on a MariaDB URL, closed with the test.
func OpenMySQL(tb testing.TB, rawURL string) *sql.DB {
	tb.Helper()
	db := openMySQL(tb, rawURL)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func openMySQL(tb testing.TB, rawURL string) *sql.DB {
	tb.Helper()
	cfg, err := connector.MySQLConfig(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sql.OpenDB(conn)
}
