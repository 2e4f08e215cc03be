package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/testkit"
)

// The first wall: one operator's store names its operator in the queue's,
// the counts' and the export's own WHERE, whatever the filter, so that the
// row-level security behind it is never the only thing that keeps another
// operator's requests out.
func TestOneOperatorsQueueCountsAndExportNameTheOperator(t *testing.T) {
	f := QueueFilter{Tab: TabAll, Search: "aigerim@example.kz", Now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), operator: 7}
	queue, qargs, _, err := queueQuery(testkit.Keys(), f, Page{})
	if err != nil {
		t.Fatal(err)
	}
	counts, cargs, err := countsQuery(testkit.Keys(), f)
	if err != nil {
		t.Fatal(err)
	}
	export, eargs, err := exportQuery(testkit.Keys(), f)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		sql  string
		args []any
	}{"queue": {queue, qargs}, "counts": {counts, cargs}, "export": {export, eargs}} {
		if !strings.Contains(c.sql, "r.operator_id = $1") || c.args[0] != int64(7) {
			t.Errorf("%s does not keep to operator 7:\n%s", name, c.sql)
		}
	}
	s := &Store{}
	s = s.For(7)
	if cond, args := s.ownedBy("r.operator_id", []any{"RD-AAAA-BBBB-CCCC"}); cond != " AND r.operator_id = $2" || args[1] != int64(7) {
		t.Errorf("a request read keeps to %q %v", cond, args)
	}
}

// Behind row-level security PostgreSQL runs a query's own conditions in an
// index scan only when they are leakproof, which the terms' overlap is not:
// the search matches terms in request_search, so its GIN index still
// serves it, scoped or not.
func TestTheSearchIsServedByItsIndexBehindTheOperatorsWall(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	if _, err := testkit.SeedRequests(ctx, pool, 5000, testkit.SeedOptions{Now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), Seed: 15}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) requests, request_search`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off; SET enable_indexscan = off`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET enable_seqscan; RESET enable_indexscan`) }()
	for _, op := range []int64{0, 1} {
		query, args, _, err := queueQuery(testkit.Keys(), QueueFilter{Tab: TabAll, Search: "Айгерим Нурланқызы", operator: op}, Page{})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "EXPLAIN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), "requests_search_idx") {
			t.Errorf("operator %d: the search does not use requests_search_idx:\n%s", op, strings.Join(plan, "\n"))
		}
	}
}
