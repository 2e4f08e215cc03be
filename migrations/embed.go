// Package migrations holds rightsdesk's schema as numbered SQL files, embedded
// in the binary, and applies them together with River's own tables.
package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"rightsdesk/internal/keyring"
)

//go:embed *.sql
var files embed.FS

// lockKey serialises migrations across instances starting at the same time.
const lockKey = 0x72647367 // "rdsg"

// Up applies River's migrations and then rightsdesk's, holding an advisory
// lock so that several instances starting together migrate once. kr seals
// data stored before encryption at rest (migration 15); it may be nil for a
// database that has none.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, kr *keyring.Keyring) error {
	return up(ctx, pool, logger, kr, 0)
}

// up migrates up to version, or all the way when it is 0.
func up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, kr *keyring.Keyring, version int64) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		// Unlock on a fresh context: the caller's may be cancelled already.
		_, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey)
	}()

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("migrate: river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate: river tables: %w", err)
	}
	for _, v := range res.Versions {
		logger.Info("applied river migration", "version", v.Version)
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db, kr)
	if err != nil {
		return err
	}
	var results []*goose.MigrationResult
	if version > 0 {
		results, err = provider.UpTo(ctx, version)
	} else {
		results, err = provider.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate: schema: %w", err)
	}
	for _, r := range results {
		logger.Info("applied migration", "file", r.Source.Path)
	}
	return nil
}

// newProvider is goose's runner of rightsdesk's migrations on db, the Go
// migration that seals existing rows given kr.
func newProvider(db *sql.DB, kr *keyring.Keyring) (*goose.Provider, error) {
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithGoMigrations(sealMigration(kr)))
	if err != nil {
		return nil, fmt.Errorf("migrate: goose provider: %w", err)
	}
	return provider, nil
}

// UpTo applies River's migrations and rightsdesk's up to version, for
// tests of a migration against the schema before it. Up is what runs.
func UpTo(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, kr *keyring.Keyring, version int64) error {
	return up(ctx, pool, logger, kr, version)
}

// DownTo rolls rightsdesk's migrations back to version, for tests of a
// migration's Down. River's tables are left as they are.
func DownTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db, nil)
	if err != nil {
		return err
	}
	if _, err := provider.DownTo(ctx, version); err != nil {
		return fmt.Errorf("migrate down to %d: %w", version, err)
	}
	return nil
}

// Fingerprint identifies the schema the migrations produce; test helpers use
// it to reuse one migrated template database per schema.
func Fingerprint() (string, error) {
	h := sha256.New()
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	// The Go migration's code is not in the files: name its revision.
	fmt.Fprintf(h, "go:%d:v1\x00", sealVersion)
	// River's schema is part of ours: its module version changes it.
	fmt.Fprintf(h, "river:%d", riverVersions())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func riverVersions() int {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return 0
	}
	return len(m.AllVersions())
}
