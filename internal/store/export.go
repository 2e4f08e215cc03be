package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/spreadsheet"
)

// ExportColumns are the CSV export's header, in order: what a record-keeper
// needs to show which requests came in, what became of them and whether they
// were answered on time.
var ExportColumns = []string{
	"reference", "type", "status", "received_at", "confirmed_at", "due_at", "extended_due_at",
	"closed_at", "outcome", "assignee", "rule", "legal_ref", "days_taken", "on_time",
}

// exportTimeLayout is how times are written: in the operator's time zone,
// without an offset, which spreadsheets read as a date and time.
const exportTimeLayout = "2006-01-02 15:04:05"

// exportQuery reads every request matching a filter, oldest first. id order
// is receipt order and is served by the primary key, so the export needs no
// sort of the whole table before its first row can be written.
func exportQuery(keys *keyring.Keyring, f QueueFilter) (string, []any, error) {
	f.Sort = ""
	w := where{keys: keys}
	if err := w.filter(f); err != nil {
		return "", nil, err
	}
	// An extension moves due_at and keeps the first date in original_due_at
	// (migration 00006): the export shows both, and on_time is measured
	// against the deadline in force, the extended one.
	return `SELECT r.reference, r.type, r.status, r.received_at, r.confirmed_at,
		coalesce(r.original_due_at, r.due_at), r.due_at, r.original_due_at IS NOT NULL, r.closed_at,
		coalesce(a.name, ''), r.deadline_rule, r.deadline_legal_ref
	FROM requests r LEFT JOIN staff a ON a.id = r.assignee_id` + w.clause() + `
	ORDER BY r.id`, w.args, nil
}

// ExportCSV writes every request matching f (its tab included; f.Sort is
// ignored) to w as CSV and returns how many requests it wrote. Times are
// written in loc, the operator's time zone, and days_taken counts calendar
// days there.
//
// Rows are streamed from one query straight into w, so memory does not grow
// with the number of requests; a failure part-way leaves a truncated file, and
// the caller (who has already sent headers) can only log it.
func (s *Store) ExportCSV(ctx context.Context, f QueueFilter, loc *time.Location, w io.Writer) (int, error) {
	if loc == nil {
		return 0, fmt.Errorf("export: no time zone")
	}
	f.operator = s.pool.operator
	query, args, err := exportQuery(s.keys, f)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	// A byte-order mark first: without it Excel reads a CSV file in the
	// system's ANSI code page and garbles Cyrillic and Kazakh names.
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return 0, fmt.Errorf("export: write: %w", err)
	}
	cw := csv.NewWriter(bw)
	// CRLF is what RFC 4180 and Excel expect.
	cw.UseCRLF = true
	if err := cw.Write(ExportColumns); err != nil {
		return 0, fmt.Errorf("export: write header: %w", err)
	}

	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	n := 0
	record := make([]string, len(ExportColumns))
	var r exportRow
	for rows.Next() {
		if err := rows.Scan(&r.reference, &r.typ, &r.status, &r.received, &r.confirmed, &r.due,
			&r.dueInForce, &r.extended, &r.closed, &r.assignee, &r.rule, &r.ref); err != nil {
			return n, fmt.Errorf("export: read row %d: %w", n+1, err)
		}
		exportRecord(record, loc, r)
		if err := cw.Write(record); err != nil {
			return n, fmt.Errorf("export: write row %d: %w", n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("export: write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: write: %w", err)
	}
	return n, nil
}

// exportRow is one request as the export reads it.
type exportRow struct {
	reference, typ      string
	status              request.Status
	received            time.Time
	confirmed           pgtype.Timestamptz
	due                 time.Time // the first due date given
	dueInForce          time.Time // after extensions
	extended            bool
	closed              pgtype.Timestamptz
	assignee, rule, ref string
}

// exportRecord fills record (ExportColumns) for one request.
func exportRecord(record []string, loc *time.Location, r exportRow) {
	optional := func(t pgtype.Timestamptz) string {
		if !t.Valid {
			return ""
		}
		return t.Time.In(loc).Format(exportTimeLayout)
	}
	var extendedDue, outcome, daysTaken, onTime string
	if r.extended {
		extendedDue = r.dueInForce.In(loc).Format(exportTimeLayout)
	}
	if !r.status.Open() {
		outcome = string(r.status)
	}
	if r.closed.Valid {
		daysTaken = strconv.Itoa(calendarDaysBetween(r.received, r.closed.Time, loc))
		// Only an answer can be on time or late: a withdrawn or expired
		// request was owed none, and counting it would flatter the rate.
		if r.status.Answered() {
			onTime = strconv.FormatBool(!r.closed.Time.After(r.dueInForce))
		}
	}
	record[0] = spreadsheetSafe(r.reference)
	record[1] = spreadsheetSafe(r.typ)
	record[2] = spreadsheetSafe(string(r.status))
	record[3] = r.received.In(loc).Format(exportTimeLayout)
	record[4] = optional(r.confirmed)
	record[5] = r.due.In(loc).Format(exportTimeLayout)
	record[6] = extendedDue
	record[7] = optional(r.closed)
	record[8] = outcome
	record[9] = spreadsheetSafe(r.assignee)
	record[10] = spreadsheetSafe(r.rule)
	record[11] = spreadsheetSafe(r.ref)
	record[12] = daysTaken
	record[13] = onTime
	// Every cell read from the database as text is defused; the others are
	// dates, numbers and words this code writes.
}

// calendarDaysBetween counts the calendar days from a's date to b's date in
// loc: a request received at 23:50 and closed at 00:10 took one day.
func calendarDaysBetween(a, b time.Time, loc *time.Location) int {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	// Dates at UTC midnight are whole multiples of 24 hours apart.
	days := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC).Sub(time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)).Hours() / 24
	return int(days)
}

// spreadsheetSafe defuses CSV injection (OWASP): spreadsheet.Cell, the one
// rule for every CSV file rightsdesk writes.
func spreadsheetSafe(cell string) string { return spreadsheet.Cell(cell) }

// RecordExport logs that a staff member exported the queue: which filter and
// how many rows. The search text is left out: it may be someone's name or
// email, and the log keeps no personal data.
func (s *Store) RecordExport(ctx context.Context, staffID int64, f QueueFilter, rows int, at time.Time) error {
	data := map[string]any{
		"tab": f.Tab, "statuses": f.Statuses, "types": f.Types, "rows": rows,
		"search": f.Search != "",
	}
	if f.AssigneeID != 0 {
		data["assignee_id"] = f.AssigneeID
	}
	if f.Unassigned {
		data["unassigned"] = true
	}
	if !f.DueFrom.IsZero() {
		data["due_from"] = f.DueFrom
	}
	if !f.DueTo.IsZero() {
		data["due_to"] = f.DueTo
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := insertEvent(ctx, tx, event{
			Kind: "export", Actor: request.ActorStaff, ActorID: staffID, Data: data, At: at,
		})
		return err
	})
}
