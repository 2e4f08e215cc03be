package app_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/pglocal"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
	"rightsdesk/migrations"
)

// The private PostgreSQL of serve and migrate (no DATABASE_URL) binds the
// portal by row-level security, as production does: a ./var/postgres made
// by an earlier version, whose database and tables the cluster's superuser
// owns and whose queries no policy binds, is handed to an ordinary owner
// role on start; the portal migrates and serves as that role, and a query
// without the operator scope then returns nothing.
func TestThePrivatePostgresOfAnEarlierVersionIsUpgradedToAnOwnerRLSBinds(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rdv") // short: the socket's path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user enters it
		t.Fatal(err)
	}
	pgDir := filepath.Join(dir, "postgres")
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	settings := pglocal.EphemeralSettings()

	// As the earlier version made it: the superuser's database, migrated
	// and filled as the superuser, two operators with a request each.
	old, err := pglocal.Start(ctx, pglocal.Options{DataDir: pgDir, Settings: settings, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := opscope.NewPool(ctx, old.ConnString("rightsdesk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, pool, logger, testkit.Keys()); err != nil {
		t.Fatal(err)
	}
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, outbox, testkit.Keys())
	ids, err := st.RecordOperators(ctx, []string{"webstapero", "flextok"})
	if err != nil {
		t.Fatal(err)
	}
	for slug, ref := range map[string]string{"webstapero": "RD-WEBS-TAPE-RO01", "flextok": "RD-FLEX-TOKX-UM01"} {
		if _, err := st.For(ids[slug]).CreateRequest(ctx, confirmedOn2March(ref, "aigerim@example.kz")); err != nil {
			t.Fatal(err)
		}
	}
	var unscoped int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&unscoped); err != nil || unscoped != 2 {
		t.Fatalf("as the superuser, unscoped: %d requests (%v); the hole this test is about is not there", unscoped, err)
	}
	pool.Close()
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// This version's migrate on that folder, then again (idempotent).
	cfg, err := config.Load(func(n string) (string, bool) {
		v, ok := map[string]string{"RIGHTSDESK_DATA_DIR": dir, "ENCRYPTION_KEY": testkit.EncryptionKey}[n]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := app.Migrate(ctx, cfg, logger); err != nil {
			t.Fatalf("migrate on the earlier version's folder: %v", err)
		}
	}

	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: pgDir, Owner: pglocal.DefaultOwner, Settings: settings, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	pool, err = opscope.NewPool(ctx, srv.OwnerConnString("rightsdesk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var user, dbOwner string
	var bypass bool
	if err := pool.QueryRow(ctx, `SELECT current_user, rolsuper OR rolbypassrls, pg_get_userbyid((SELECT datdba FROM pg_database WHERE datname = current_database()))
		FROM pg_roles WHERE rolname = current_user`).Scan(&user, &bypass, &dbOwner); err != nil {
		t.Fatal(err)
	}
	if user != pglocal.DefaultOwner || bypass || dbOwner != pglocal.DefaultOwner {
		t.Errorf("the portal connects as %q (superuser or BYPASSRLS: %v), the database is %q's; want the ordinary role %q for both", user, bypass, dbOwner, pglocal.DefaultOwner)
	}
	var left []string
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v') AND pg_get_userbyid(c.relowner) <> current_user`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		left = append(left, name)
	}
	if len(left) > 0 {
		t.Errorf("still the superuser's: %v", left)
	}
	for _, table := range []string{"requests", "events", "emails", "status_links"} {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("unscoped, %s shows %d rows (%v), want none", table, n, err)
		}
	}
	// Each operator's scope sees its own request, and the portal still
	// writes as the owner.
	st = store.New(pool, nil, testkit.Keys())
	for slug, ref := range map[string]string{"webstapero": "RD-WEBS-TAPE-RO01", "flextok": "RD-FLEX-TOKX-UM01"} {
		r, err := st.For(ids[slug]).RequestByReference(ctx, ref)
		if err != nil || r.Email != "aigerim@example.kz" {
			t.Errorf("%s's request as the owner: %q, %v", slug, r.Email, err)
		}
	}
	tag, err := pool.Exec(opscope.With(ctx, ids["flextok"]), `UPDATE requests SET deadline_legal_ref = 'checked' WHERE reference = $1`, "RD-FLEX-TOKX-UM01")
	if err != nil || tag.RowsAffected() != 1 {
		t.Errorf("a write in flextok's scope as the owner: %v, %d rows", err, tag.RowsAffected())
	}
}

// A new private PostgreSQL is migrated from nothing by its owner role:
// nothing of the schema (pg_trgm, River's tables) needs the superuser.
func TestANewPrivatePostgresIsMigratedByItsOwnerRole(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg, err := config.Load(func(n string) (string, bool) {
		v, ok := map[string]string{"RIGHTSDESK_DATA_DIR": dir, "ENCRYPTION_KEY": testkit.EncryptionKey}[n]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Migrate(ctx, cfg, logger); err != nil {
		t.Fatalf("migrate a new folder: %v", err)
	}
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(dir, "postgres"), Owner: pglocal.DefaultOwner, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	pool, err := opscope.NewPool(ctx, srv.ConnString("rightsdesk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var owner string
	if err := pool.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'requests'`).Scan(&owner); err != nil || owner != pglocal.DefaultOwner {
		t.Errorf("requests belongs to %q (%v), want %q", owner, err, pglocal.DefaultOwner)
	}
}
