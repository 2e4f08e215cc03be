package store

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// spelled is how PostgreSQL writes back a condition on the requests table:
// an index (or a check) made on it here, then read with pg_get_expr (or
// pg_get_constraintdef) and dropped. Two conditions PostgreSQL writes back
// alike are the same condition.
func spelled(t *testing.T, tx pgx.Tx, ddl, read string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := tx.Exec(ctx, ddl); err != nil {
		t.Fatalf("%s: %v", ddl, err)
	}
	var out string
	if err := tx.QueryRow(ctx, read).Scan(&out); err != nil {
		t.Fatalf("%s: %v", read, err)
	}
	return out
}

// Every partial index of the requests table is made for a set of statuses
// the queries select by (statuses.go), and the planner uses it only while
// the query's set lies within the index's. So a status added to the domain,
// or an index written with a list of its own, must fail here rather than
// quietly turn the queue's reads into scans of the whole table.
func TestPartialIndexesHoldTheDomainsStatuses(t *testing.T) {
	open, closed := StatusIn("status", request.OpenStatuses()), StatusIn("status", request.ClosedStatuses())
	want := map[string]string{
		"requests_open_due_idx":            open,
		"requests_open_assignee_due_idx":   open,
		"requests_open_type_due_idx":       open,
		"requests_email_index_idx":         open,
		"requests_closed_due_idx":          closed,
		"requests_closed_assignee_due_idx": closed,
		"requests_closed_at_idx":           closed,
		"requests_closed_figures_idx":      closed,
		"requests_unpurged_closed_idx":     "purged_at IS NULL AND " + closed,
		"requests_remind_due_idx":          StatusIn("status", reminded()),
	}

	ctx := context.Background()
	pool := testkit.DB(t)
	rows, err := pool.Query(ctx, `
		SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'requests'::regclass AND pg_get_expr(i.indpred, i.indrelid) LIKE '%status%'`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var name, pred string
	if _, err := pgx.ForEachRow(rows, []any{&name, &pred}, func() error { got[name] = pred; return nil }); err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("partial index %s (WHERE %s) is not checked: add the statuses it is for to this test", name, got[name])
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for name, cond := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("partial index %s is gone: the queries on %s have no index", name, cond)
			continue
		}
		probe := spelled(t, tx, `CREATE INDEX status_probe ON requests (id) WHERE `+cond,
			`SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'status_probe'::regclass`)
		if got[name] != probe {
			t.Errorf("index %s is on\n\t%s\nbut the queries select\n\t%s", name, got[name], probe)
		}
		if _, err := tx.Exec(ctx, `DROP INDEX status_probe`); err != nil {
			t.Fatal(err)
		}
	}
}

// The database refuses a status the domain does not know, and accepts
// every one it does.
func TestTheStatusColumnTakesExactlyTheDomainsStatuses(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	var got string
	if err := pool.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'requests'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%status%'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	want := spelled(t, tx, `ALTER TABLE requests ADD CONSTRAINT status_probe CHECK (`+StatusIn("status", request.AllStatuses())+`)`,
		`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'requests'::regclass AND conname = 'status_probe'`)
	if got != want {
		t.Errorf("requests.status is\n\t%s\nthe domain's statuses are\n\t%s", got, want)
	}
}
