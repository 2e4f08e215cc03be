package jobs

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

// What sweeps record (the digests as their recipients read them, the
// digest and reminder events, the ledger, the delivery jobs) is what they
// recorded before their writes were rewritten for speed (issue 16):
// testdata/reminder_sweep.golden was written by the earlier code (0ee9e64,
// `go test -run WhatSweepsRecord -update`). The ledger keeps one row per
// request since 00090: it is compared with the golden file's most urgent
// row of each request, and must hold back what its rows held back
// (oneLedgerRowPerRequest); -update would write the new ledger over the
// rows it is checked against, so it is refused. References and Message-IDs are
// random and ids the database's, so references are numbered in the order
// the test files them and digests in the order they were sent (sweep,
// then recipient); everything else is compared byte for byte.
func TestWhatSweepsRecordIsWhatTheyRecordedBefore(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := reminderSweep(f, t, "privacy@school.example.kz", &logs)
	aruzhan := f.staffMember(t, "aruzhan@school.example.kz", "Аружан", request.Kazakh)
	john := f.staffMember(t, "john@school.example.kz", "John", request.English)
	olga := f.staffMember(t, "olga@school.example.kz", "Ольга", request.Russian)
	var refs []string
	for i, c := range []struct {
		days  int
		staff int64
	}{
		{-3, aruzhan}, {-1, aruzhan}, {0, aruzhan}, {1, aruzhan}, {2, aruzhan}, {3, aruzhan}, {6, aruzhan}, {7, aruzhan}, {12, aruzhan},
		{-2, john}, {0, john}, {4, john}, {7, john},
		{1, olga}, {5, olga}, {-10, olga},
		{-1, 0}, {2, 0}, {7, 0}, {30, 0},
	} {
		r := f.due(t, fmt.Sprintf("person%02d@example.kz", i), at.AddDate(0, 0, c.days), c.staff)
		refs = append(refs, r.reference)
	}
	for _, now := range []time.Time{at, at.Add(time.Hour), at.AddDate(0, 0, 1), at.AddDate(0, 0, 4)} {
		if _, err := sweep.Run(context.Background(), now, false); err != nil {
			t.Fatal(err)
		}
	}
	got := recordedBySweeps(t, f, refs)

	path := filepath.Join("testdata", "reminder_sweep.golden")
	if *updateGolden {
		t.Fatalf("%s holds the ledger as 0ee9e64 wrote it, a row per key: not rewritten", path)
	}
	wantFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := oneLedgerRowPerRequest(t, string(wantFile))
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("what the sweeps recorded differs from %s at line %d:\n got %q\nwant %q", path, i+1, g, w)
			}
		}
	}
}

// oneLedgerRowPerRequest turns the golden file's ledger, written when it
// held a row for every key sent and every threshold passed, into what it
// holds since migration 00090: each request's most urgent row, as it was
// (key, time, operator). Before it does, it checks that this one key holds
// back (reminder.Covers) exactly the keys the rows did among those a later
// sweep can be owed: the thresholds, and the overdue days from the last
// sweep's on (earlier days' keys never hold a reminder back).
func oneLedgerRowPerRequest(t *testing.T, golden string) string {
	t.Helper()
	later := []string{"7d", "3d", "1d", "overdue:2026-03-06", "overdue:2026-03-07"}
	var out []string
	var block []string // one request's ledger lines
	flush := func() {
		if len(block) == 0 {
			return
		}
		keys := map[string]bool{}
		top, topUrgency := "", 0
		for _, line := range block {
			key := strings.Fields(line)[1]
			keys[key] = true
			u, err := reminder.Urgency(key)
			if err != nil {
				t.Fatal(err)
			}
			if top == "" || u > topUrgency {
				top, topUrgency = line, u
			}
		}
		kept := strings.Fields(top)[1]
		for _, k := range later {
			if reminder.Covers(kept, k) != keys[k] {
				t.Errorf("the ledger's %s holds %s back: %v; its rows before 00090 (%v): %v", kept, k, reminder.Covers(kept, k), block, keys[k])
			}
		}
		out = append(out, top)
		block = nil
	}
	for _, line := range strings.Split(golden, "\n") {
		if strings.HasPrefix(line, "ledger ") {
			block = append(block, line)
			continue
		}
		flush()
		out = append(out, line)
	}
	flush()
	return strings.Join(out, "\n")
}

// recordedBySweeps writes out every digest, then per request its ledger
// rows and reminder events, with references and digests numbered.
func recordedBySweeps(t *testing.T, f *fixture, refs []string) string {
	t.Helper()
	ctx := context.Background()
	rename := func(s string) string {
		for i, ref := range refs {
			s = strings.ReplaceAll(s, ref, fmt.Sprintf("REF%02d", i))
		}
		return s
	}
	var b strings.Builder

	// The digests in the order they were sent: by sweep, then recipient.
	rows, err := f.pool.Query(ctx, `
		SELECT m.id, m.operator_id, coalesce(m.request_id, 0), m.created_at, e.kind, e.actor, e.operator_id,
			coalesce(e.request_id, 0), (e.data - 'staff_id')::text, coalesce(s.email, ''),
			(SELECT count(*) FROM river_job j WHERE j.kind = 'deliver_email' AND j.args->'email_ids' @> to_jsonb(m.id))
		FROM emails m JOIN events e ON e.id = m.event_id
		LEFT JOIN staff s ON s.id = (e.data->>'staff_id')::bigint
		WHERE m.kind = $1`, EmailReminderDigest)
	if err != nil {
		t.Fatal(err)
	}
	type digest struct {
		id, operator, request, eventOperator, eventRequest, jobs int64
		at                                                       time.Time
		kind, actor, data, staff, to                             string
	}
	var digests []digest
	for rows.Next() {
		var d digest
		if err := rows.Scan(&d.id, &d.operator, &d.request, &d.at, &d.kind, &d.actor, &d.eventOperator,
			&d.eventRequest, &d.data, &d.staff, &d.jobs); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(digests))
	for i, d := range digests {
		ids[i] = d.id
	}
	emails, err := f.store.Emails(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]int{}
	for i, e := range emails {
		byID[e.ID] = i
	}
	for i := range digests {
		digests[i].to = emails[byID[digests[i].id]].To
	}
	slices.SortFunc(digests, func(a, b digest) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.to, b.to)
	})
	number := map[int64]string{}
	for i, d := range digests {
		number[d.id] = fmt.Sprintf("D%02d", i+1)
		e := emails[byID[d.id]]
		host := e.MessageID[strings.IndexByte(e.MessageID, '@'):]
		fmt.Fprintf(&b, "== %s at %s to %s (%s), operator %d, request %d, message-id %d chars%s, %d delivery job(s)\n",
			number[d.id], d.at.UTC().Format(time.RFC3339), e.To, e.Locale, d.operator, d.request,
			len(e.MessageID)-len(host), host, d.jobs)
		fmt.Fprintf(&b, "event %s by %s, operator %d, request %d, data %s, staff %q\n",
			d.kind, d.actor, d.eventOperator, d.eventRequest, d.data, d.staff)
		fmt.Fprintf(&b, "subject: %s\n-- text\n%s\n-- html\n%s\n", rename(e.Subject), rename(e.Text), rename(e.HTML))
	}

	// Per request: the ledger and the reminder events.
	for i, ref := range refs {
		fmt.Fprintf(&b, "== REF%02d\n", i)
		rows, err := f.pool.Query(ctx, `
			SELECT l.threshold, l.reminded_at, l.operator_id FROM reminders l JOIN requests r ON r.id = l.request_id
			WHERE r.reference = $1 ORDER BY l.threshold`, ref)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var key string
			var when time.Time
			var operator int64
			if err := rows.Scan(&key, &when, &operator); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "ledger %s at %s, operator %d\n", key, when.UTC().Format(time.RFC3339), operator)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows, err = f.pool.Query(ctx, `
			SELECT e.kind, e.actor, coalesce(e.actor_id, 0), e.operator_id, e.created_at, e.data->>'threshold',
				(e.data->>'email_id')::bigint, (e.data - 'email_id')::text
			FROM events e JOIN requests r ON r.id = e.request_id
			WHERE r.reference = $1 AND e.kind = 'reminded' ORDER BY e.id`, ref)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var kind, actor, key, data string
			var actorID, operator, emailID int64
			var when time.Time
			if err := rows.Scan(&kind, &actor, &actorID, &operator, &when, &key, &emailID, &data); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "event %s by %s %d at %s, operator %d, threshold %s in %s, data %s\n",
				kind, actor, actorID, when.UTC().Format(time.RFC3339), operator, key, number[emailID], data)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
