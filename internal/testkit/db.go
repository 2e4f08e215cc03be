package testkit

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb opens
	"github.com/peterldowns/pgtestdb"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/opscope"
	"rightsdesk/migrations"
)

// migrator lets pgtestdb build one migrated template database per schema
// and clone it for every test, which takes milliseconds.
type migrator struct{}

func (migrator) Hash() (string, error) { return migrations.Fingerprint() }

func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := opscope.NewPool(ctx, conf.URL())
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrations.Up(ctx, pool, slog.New(slog.DiscardHandler), nil) // a template database has no data to seal
}

// DB returns a pool on a fresh, fully migrated database of its own, dropped
// when the test passes (kept for inspection when it fails).
func DB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := opscope.NewPool(context.Background(), DBURL(tb))
	if err != nil {
		tb.Fatalf("connect to test database: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// DBURL returns the URL of a fresh, fully migrated database of its own.
func DBURL(tb testing.TB) string {
	tb.Helper()
	return dbURL(tb, migrator{})
}

// EmptyDB returns a pool on a fresh database with no schema at all, for
// tests of the migrations themselves.
func EmptyDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := opscope.NewPool(context.Background(), dbURL(tb, pgtestdb.NoopMigrator{}))
	if err != nil {
		tb.Fatalf("connect to test database: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func dbURL(tb testing.TB, m pgtestdb.Migrator) string {
	tb.Helper()
	base, err := url.Parse(PostgresURL(tb))
	if err != nil {
		tb.Fatalf("parse test database URL: %v", err)
	}
	q := base.Query()
	conf := pgtestdb.Config{
		DriverName: "pgx",
		User:       base.User.Username(),
		Port:       q.Get("port"),
		Database:   "postgres",
		Options:    "host=" + url.QueryEscape(q.Get("host")) + "&sslmode=disable",
		// The application runs as a database owner, not a superuser: so do tests.
		TestRole:                  &pgtestdb.Role{Username: "rightsdesk_test", Password: "test", Capabilities: "NOSUPERUSER NOCREATEROLE"},
		ForceTerminateConnections: true,
	}
	return pgtestdb.Custom(tb, conf, m).URL()
}

// EncryptionKey is the ENCRYPTION_KEY of every test instance: fixed, so
// that rows a test seeds directly open in the instance it starts.
const EncryptionKey = "cmlnaHRzZGVzayB0ZXN0IGtleSwgbmV2ZXIgaW4gdXM="

// Keys is EncryptionKey parsed.
func Keys() *keyring.Keyring { return testKeys() }
