package store

import (
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
