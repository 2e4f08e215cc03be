package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// The personal data a full request carries, each a string the purge must
// leave nowhere in the database.
const (
	pdName     = "Жанна Retentionova"
	pdEmail    = "zhanna.retention@example.kz"
	pdPhone    = "+7 701 555 0199"
	pdAccount  = "acct-RET-4471"
	pdDetails  = "Мой ИИН 880101400123"
	pdSubject  = "Дочь Retentionova"
	pdFixText  = "Фамилия должна быть Retentionova-Ким"
	pdMessage  = "Вот копия удостоверения Retentionova"
	pdFileName = "passport_Retentionova.pdf"
	pdNote     = "Звонила Retentionova, просила ускорить"
	pdReason   = "Данные Retentionova в трёх системах"
	pdSubjLine = "Ответ для Retentionova"
)

var pdAll = []string{pdName, pdEmail, pdPhone, pdAccount, pdDetails, pdSubject, pdFixText, pdMessage,
	pdFileName, pdNote, pdReason, pdSubjLine}

// retentionSweep is the sweep with the default periods (3y, 120d).
func retentionSweep(s *store.Store) *jobs.RetentionSweep {
	return &jobs.RetentionSweep{Store: s, Personal: config.Age{Years: 3}, Files: config.Age{Days: 120}}
}

// fullRequest adds a request closed at closed (open when zero) carrying
// personal data in every place it can live: the request's fields, a
// message, a proof file with a download link, an email with secrets, a
// note, a status and a confirmation link, an idempotency key, a response
// draft, and an extension whose reason names the person.
func fullRequest(t *testing.T, pool *pgxpool.Pool, staffID int64, received, closed time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	status := request.Completed
	if closed.IsZero() {
		status = request.InProgress
	}
	id, err := testkit.AddRequest(ctx, pool, testkit.Req{
		Type: request.Rectification, Status: status, FullName: pdName, Email: pdEmail, OnBehalf: true,
		ReceivedAt: received, ConfirmedAt: received, ClosedAt: closed, AssigneeID: staffID,
	})
	if err != nil {
		t.Fatal(err)
	}
	at := received
	kr := testkit.Keys()
	personal, index, emailIndex, err := sealed.SealPersonal(kr, sealed.Personal{
		FullName: pdName, Email: pdEmail, Phone: pdPhone, AccountID: pdAccount, Details: pdDetails,
		SubjectName: pdSubject, Correction: pdFixText, Processing: "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	mail, err := json.Marshal(sealed.OutboxEmail{To: pdEmail, Subject: pdSubjLine, Text: pdDetails, HTML: "<p>" + pdFixText + "</p>"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE requests SET personal = $2, search_index = $3, email_index = $4,
			outcome_reason = 'done', original_due_at = due_at - interval '30 days', extensions = 1 WHERE id = $1`,
			[]any{id, personal, index, emailIndex}},
		{`INSERT INTO messages (request_id, author, body, created_at) VALUES ($1, 'requester', $2, $3)`,
			[]any{id, kr.SealString(sealed.MessageBody, pdMessage), at}},
		{`INSERT INTO files (request_id, message_id, purpose, name, content_type, size, sha256, content, created_at)
			SELECT $1, m.id, 'proof', $2, 'application/pdf', 4, '\x01', $4, $3 FROM messages m WHERE m.request_id = $1`,
			[]any{id, kr.SealString(sealed.FileName, pdFileName), at, kr.SealString(sealed.FileContent, "%PDF")}},
		{`INSERT INTO download_links (token_hash, file_id, expires_at, created_at)
			SELECT sha256(f.id::text::bytea), f.id, $2::timestamptz + interval '7 days', $2 FROM files f WHERE f.request_id = $1`,
			[]any{id, at}},
		{`INSERT INTO notes (request_id, staff_id, body, created_at) VALUES ($1, $2, $3, $4)`,
			[]any{id, staffID, kr.SealString(sealed.NoteBody, pdNote), at}},
		{`INSERT INTO status_links (token_hash, request_id, created_at) VALUES (sha256(('s' || $1::bigint)::bytea), $1, $2)`, []any{id, at}},
		{`INSERT INTO confirmations (request_id, token_hash, expires_at, used_at) VALUES ($1, sha256(('c' || $1::bigint)::bytea), $2, $2)`, []any{id, at}},
		{`INSERT INTO idempotency_keys (key_hash, request_id, body_hash, created_at) VALUES (sha256(('i' || $1::bigint)::bytea), $1, '\x00', $2)`, []any{id, at}},
		{`INSERT INTO response_drafts (request_id, staff_id, name, content_type, size, sha256, content, created_at)
			VALUES ($1, $2, $3, 'application/pdf', 4, '\x01', $5, $4)`,
			[]any{id, staffID, kr.SealString(sealed.DraftName, pdFileName), at, kr.SealString(sealed.DraftContent, "%PDF")}},
		{`WITH ev AS (INSERT INTO events (request_id, kind, actor, actor_id, data, created_at)
				VALUES ($1, 'extended', 'staff', $2, '{"rule": "default.calendar_30d"}', $4) RETURNING id)
			INSERT INTO event_texts (event_id, body) SELECT id, $3 FROM ev`,
			[]any{id, staffID, kr.SealString(sealed.EventText, pdReason), at}},
		{`WITH ev AS (INSERT INTO events (request_id, kind, actor, created_at) VALUES ($1, 'completed', 'staff', $2) RETURNING id)
			INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, state, created_at)
			SELECT $1, ev.id, 'completed', 'ru', 'ret-' || $1::bigint || '@x', $3, $4, 'sent', $2 FROM ev`,
			[]any{id, at, kr.Seal(sealed.Email, mail), kr.SealString(sealed.EmailSecrets, `{"status": "secret"}`)}},
	} {
		if _, err := pool.Exec(ctx, st.sql, st.args...); err != nil {
			t.Fatalf("%s: %v", st.sql, err)
		}
	}
	return id
}

// leftovers returns the personal strings request id still holds: every
// sealed value that belongs to it, opened with the key, and every other
// column in the clear.
func leftovers(t *testing.T, pool *pgxpool.Pool, id int64) []string {
	t.Helper()
	dump := clearDump(t, pool, id)
	kr := testkit.Keys()
	owner := map[string]string{
		"requests":        `id = $1`,
		"event_texts":     `event_id IN (SELECT id FROM events WHERE request_id = $1)`,
		"messages":        `request_id = $1`,
		"notes":           `request_id = $1`,
		"files":           `request_id = $1`,
		"response_drafts": `request_id = $1`,
		"emails":          `request_id = $1`,
	}
	for _, c := range sealed.All() {
		cond, ok := owner[c.Table]
		if !ok {
			continue // staff and webhook secrets belong to no request
		}
		rows, err := pool.Query(context.Background(), `SELECT `+c.Col+` FROM `+c.Table+` WHERE `+cond, id)
		if err != nil {
			t.Fatal(err)
		}
		var v []byte
		_, err = pgx.ForEachRow(rows, []any{&v}, func() error {
			plain, err := kr.Open(c.Name, v)
			dump += " | " + string(plain)
			return err
		})
		if err != nil {
			t.Fatalf("open %s: %v", c.Name, err)
		}
	}
	var found []string
	for _, s := range pdAll {
		if strings.Contains(dump, s) {
			found = append(found, s)
		}
	}
	return found
}

// clearDump is every row of request id as the database holds it.
func clearDump(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var dump string
	err := pool.QueryRow(context.Background(), `SELECT concat_ws(' | ',
		(SELECT row_to_json(r)::text FROM requests r WHERE id = $1),
		(SELECT json_agg(m)::text FROM messages m WHERE request_id = $1),
		(SELECT json_agg(f)::text FROM (SELECT id, name, purpose, encode(content, 'escape') AS content, encode(sha256, 'hex') AS sha FROM files WHERE request_id = $1) f),
		(SELECT json_agg(e)::text FROM emails e WHERE request_id = $1),
		(SELECT json_agg(n)::text FROM notes n WHERE request_id = $1),
		(SELECT json_agg(d)::text FROM response_drafts d WHERE request_id = $1),
		(SELECT json_agg(e.data)::text FROM events e WHERE request_id = $1),
		(SELECT json_agg(x)::text FROM event_texts x JOIN events e ON e.id = x.event_id WHERE e.request_id = $1))`, id).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	return dump
}

// TestPersonalDataIsNeverInTheClear: the database holds every personal
// field sealed; a dump of a full request shows none of them, and the
// search index is keyed hashes, not the words.
func TestPersonalDataIsNeverInTheClear(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	agent, err := testkit.AddStaff(ctx, pool, "Агент", "agent@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	id := fullRequest(t, pool, agent, time.Now().AddDate(0, 0, -3), time.Time{})
	if got := leftovers(t, pool, id); len(got) != len(pdAll) {
		t.Fatalf("the fixture holds only %v", got)
	}
	dump := clearDump(t, pool, id)
	for _, s := range append(pdAll, "Retentionova", "Жанна", "880101400123", "%PDF") {
		if strings.Contains(dump, s) || strings.Contains(strings.ToLower(dump), strings.ToLower(s)) {
			t.Errorf("%q is in the database in the clear", s)
		}
	}
	s := store.New(pool, nil, testkit.Keys())
	r, err := s.RequestByReference(ctx, reference(t, pool, id))
	if err != nil {
		t.Fatal(err)
	}
	if r.FullName != pdName || r.Email != pdEmail || r.Phone != pdPhone || r.Details != pdDetails {
		t.Errorf("the store reads back %q %q %q %q", r.FullName, r.Email, r.Phone, r.Details)
	}
}

func reference(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var ref string
	if err := pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestRetentionDeletesFilesAfterTheirPeriodAndNotBefore(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	agent, err := testkit.AddStaff(ctx, pool, "Агент", "agent@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, almaty)
	days := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	old := fullRequest(t, pool, agent, days(160), days(120).Add(-time.Minute)) // 120 days and a minute closed
	young := fullRequest(t, pool, agent, days(160), days(120).Add(time.Minute))
	open := fullRequest(t, pool, agent, days(400), time.Time{})

	sweep := retentionSweep(s)
	res, err := sweep.Run(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRequests != 1 || res.FilesDeleted != 1 || res.Purged.Requests != 0 {
		t.Fatalf("first run: %+v, want the files of one request deleted and nothing purged", res)
	}
	held := func(id int64) int {
		return count(t, pool, `SELECT count(*) FROM files WHERE request_id = $1 AND content IS NOT NULL AND deleted_at IS NULL`, id)
	}
	if held(old) != 0 || held(young) != 1 || held(open) != 1 {
		t.Errorf("files held: old %d young %d open %d, want 0 1 1", held(old), held(young), held(open))
	}
	files, err := s.RequestFiles(ctx, old)
	if err != nil || len(files) != 1 || files[0].Name != pdFileName || !files[0].Deleted {
		t.Errorf("files %+v (%v): a deleted file should keep its name (until the purge) and say it went", files, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM files WHERE request_id = $1 AND deleted_at = $2`, old, now); n != 1 {
		t.Error("a deleted file should say when it went")
	}
	links := func(id int64) int {
		return count(t, pool, `SELECT count(*) FROM download_links l JOIN files f ON f.id = l.file_id WHERE f.request_id = $1`, id)
	}
	if links(old) != 0 || links(young) != 1 {
		t.Errorf("download links: old %d young %d, want 0 1", links(old), links(young))
	}
	// Only the files: the rest of the request's personal data stays.
	if got := leftovers(t, pool, old); len(got) != len(pdAll) {
		t.Errorf("the file sweep touched personal data beyond the files: left %v", got)
	}
	evs, err := s.Events(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Kind != store.EventFilesDeleted || last.Actor != request.ActorSystem || !reflect.DeepEqual(last.Data, map[string]any{"files": float64(1)}) {
		t.Errorf("event %+v, want files_deleted by the system with the count only", last)
	}

	// A second run at the same moment changes nothing and logs nothing.
	events := count(t, pool, `SELECT count(*) FROM events`)
	if res, err := sweep.Run(ctx, now); err != nil || res != (jobs.RetentionResult{}) {
		t.Errorf("second run: %+v, %v", res, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM events`); n != events {
		t.Errorf("the second run logged %d events", n-events)
	}
	// Two minutes later the younger one's time has come.
	if res, err := sweep.Run(ctx, now.Add(2*time.Minute)); err != nil || res.FilesRequests != 1 || held(young) != 0 || held(open) != 1 {
		t.Errorf("later run: %+v, %v", res, err)
	}
}

func TestRetentionPurgesPersonalDataAfterThePeriodAndNotBefore(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	agent, err := testkit.AddStaff(ctx, pool, "Агент", "agent@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 3, 2, 3, 0, 0, 0, almaty)
	threeYears := now.AddDate(-3, 0, 0)
	old := fullRequest(t, pool, agent, threeYears.AddDate(0, -1, 0), threeYears.Add(-time.Minute))
	young := fullRequest(t, pool, agent, threeYears.AddDate(0, -1, 0), threeYears.Add(time.Minute))
	open := fullRequest(t, pool, agent, now.AddDate(-5, 0, 0), time.Time{}) // open for five years: never purged
	before := map[int64]string{}
	for _, id := range []int64{old, young, open} {
		before[id] = snapshotKept(t, pool, id)
	}

	sweep := retentionSweep(s)
	res, err := sweep.Run(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := store.PurgeBatch{Requests: 1, Messages: 1, Files: 1, Emails: 1, Notes: 1, Events: 1}
	if res.Purged != want {
		t.Fatalf("purged %+v, want %+v", res.Purged, want)
	}
	// young's files were past 120 days too; old's went with the purge.
	if res.FilesRequests != 1 {
		t.Errorf("file sweep after the purge: %d requests, want 1 (young)", res.FilesRequests)
	}
	if got := leftovers(t, pool, old); len(got) != 0 {
		t.Errorf("personal data left after the purge: %v", got)
	}
	for _, id := range []int64{young, open} {
		// young lost its file content, not its file name or anything else.
		if got := leftovers(t, pool, id); len(got) != len(pdAll) {
			t.Errorf("request %d lost personal data before its time: only %v left", id, got)
		}
	}
	for table, q := range map[string]string{
		"status_links":     `SELECT count(*) FROM status_links WHERE request_id = $1`,
		"confirmations":    `SELECT count(*) FROM confirmations WHERE request_id = $1`,
		"idempotency_keys": `SELECT count(*) FROM idempotency_keys WHERE request_id = $1`,
		"response_drafts":  `SELECT count(*) FROM response_drafts WHERE request_id = $1`,
		"download_links":   `SELECT count(*) FROM download_links l JOIN files f ON f.id = l.file_id WHERE f.request_id = $1`,
		"secrets":          `SELECT count(*) FROM emails WHERE request_id = $1 AND secrets IS NOT NULL`,
		"file contents":    `SELECT count(*) FROM files WHERE request_id = $1 AND (content IS NOT NULL OR deleted_at IS NULL)`,
	} {
		if n := count(t, pool, q, old); n != 0 {
			t.Errorf("%s: %d rows left", table, n)
		}
		if n := count(t, pool, q, open); n == 0 && table != "file contents" {
			t.Errorf("%s of the open request were touched", table)
		}
	}
	if files, err := s.RequestFiles(ctx, old); err != nil || len(files) != 1 || files[0].Name != fmt.Sprintf("proof-%d", files[0].ID) {
		t.Errorf("files %+v (%v): a purged file's name is not the generic one", files, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM requests WHERE id = $1 AND personal IS NULL AND search_index = '{}' AND email_index IS NULL`, old); n != 1 {
		t.Error("the purged request keeps its sealed data or its search terms")
	}
	// What the statistics read is untouched, on every request.
	for id, snap := range before {
		if got := snapshotKept(t, pool, id); got != snap {
			t.Errorf("request %d: kept columns changed:\n%s\n%s", id, snap, got)
		}
	}
	at, err := s.PurgedAt(ctx, old)
	if err != nil || !at.Equal(now) {
		t.Errorf("PurgedAt = %v, %v", at, err)
	}
	if at, _ := s.PurgedAt(ctx, young); !at.IsZero() {
		t.Errorf("young purged at %v", at)
	}
	evs, err := s.Events(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	wantData := map[string]any{"messages": 1.0, "files": 1.0, "emails": 1.0, "notes": 1.0, "events": 1.0, "letters": 0.0}
	if last.Kind != store.EventPersonalDataPurged || last.Actor != request.ActorSystem || !reflect.DeepEqual(last.Data, wantData) {
		t.Errorf("event %+v, want personal_data_purged by the system with counts %v", last, wantData)
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE kind = 'extended' AND request_id = $1 AND data = '{"rule": "default.calendar_30d"}'`, old); n != 1 {
		t.Error("the extension event itself changed")
	}
	if n := count(t, pool, `SELECT count(*) FROM event_texts x JOIN events e ON e.id = x.event_id WHERE e.request_id = $1`, old); n != 0 {
		t.Error("the extension's reason is still kept")
	}

	// Idempotent: a second run changes nothing and logs nothing.
	events := count(t, pool, `SELECT count(*) FROM events`)
	if res, err := sweep.Run(ctx, now); err != nil || res != (jobs.RetentionResult{}) {
		t.Errorf("second run: %+v, %v", res, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM events`); n != events {
		t.Errorf("the second run logged %d events", n-events)
	}
	if at2, _ := s.PurgedAt(ctx, old); !at2.Equal(now) {
		t.Errorf("the second run moved purged_at to %v", at2)
	}
}

// snapshotKept is every column of a request that the purge must keep.
func snapshotKept(t *testing.T, pool *pgxpool.Pool, id int64) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT concat_ws(',', reference, type, status, locale, received_at, confirmed_at,
		closed_at, due_at, original_due_at, extensions, deadline_rule, deadline_legal_ref, deadline_basis, outcome_reason,
		assignee_id, on_behalf, relationship, access_scope, paused_at, updated_at,
		(SELECT count(*) FROM events WHERE request_id = $1 AND kind NOT IN ('files_deleted', 'personal_data_purged')),
		(SELECT string_agg(kind || state || created_at::text, ';' ORDER BY id) FROM emails WHERE request_id = $1),
		(SELECT string_agg(purpose || content_type || size::text || created_at::text, ';' ORDER BY id) FROM files WHERE request_id = $1))
		FROM requests WHERE id = $1`, id).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRetentionKeepsTheStatistics(t *testing.T) {
	ctx := context.Background()
	s := dashboardFixture(t)
	var buf bytes.Buffer
	exportAll := func() string {
		buf.Reset()
		if _, err := s.ExportCSV(ctx, store.QueueFilter{Tab: store.TabAll, Now: dashboardNow}, almaty, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	dashBefore, err := s.Dashboard(ctx, dashboardNow, almaty, 2025)
	if err != nil {
		t.Fatal(err)
	}
	exportBefore := exportAll()

	// Three years and a day after the fixture's "now", every closed request
	// of the fixture is past its period; the open ones are not purged.
	res, err := retentionSweep(s).Run(ctx, dashboardNow.AddDate(3, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged.Requests != 9 {
		t.Fatalf("purged %d requests, want the fixture's 9 closed ones", res.Purged.Requests)
	}
	dashAfter, err := s.Dashboard(ctx, dashboardNow, almaty, 2025)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dashBefore, dashAfter) {
		t.Errorf("the dashboard changed with the purge:\n%+v\n%+v", dashBefore, dashAfter)
	}
	if after := exportAll(); after != exportBefore {
		t.Errorf("the export changed with the purge:\n%s\n%s", exportBefore, after)
	}
	if strings.Contains(exportBefore, "Test Person") || strings.Contains(exportBefore, "@example.kz") {
		t.Error("the export carries the requester's name or email")
	}
}

// TestEventLogIsStrictlyAppendOnly: no change of any kind to a logged
// event, not even blanking text (which lives in event_texts since 00014).
func TestEventLogIsStrictlyAppendOnly(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	id, err := testkit.AddRequest(ctx, pool, testkit.Req{ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO events (request_id, kind, actor, data, created_at)
		VALUES ($1, 'extended', 'staff', '{"due_at": "2026-05-01"}', now())`, id); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE events SET kind = 'forged'`,
		`UPDATE events SET created_at = created_at + interval '1 day'`,
		`UPDATE events SET data = data || '{"reason": ""}'`,
		`UPDATE events SET data = '{}'`,
		`UPDATE events SET data = data`,
		`DELETE FROM events`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want refusal", stmt, err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE data = '{"due_at": "2026-05-01"}'`); n != 1 {
		t.Error("the event changed")
	}
}
