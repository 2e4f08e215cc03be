package store

import (
	"fmt"
	"testing"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The tab bar's counts are read live, under the cap (CountCap): after every
// kind of change a request goes through (intake, confirmation, assignment,
// waiting for the requester, a moved deadline, closing, purging), each tab's
// count under each filter is the number of rows that tab lists. Each change
// is made through a second Store on the same database, as another instance
// would make it: nothing is remembered between the reads.
func TestTabCountsMatchTheRowsEachTabListsThroughEveryChange(t *testing.T) {
	d := newChangeDesk(t)
	ctx, pool, reader, writer, agent, now := d.ctx, d.pool, d.reader, d.writer, d.agent, d.now

	filters := map[string]QueueFilter{
		"none":             {},
		"erasure":          {Types: []request.Type{request.Erasure}},
		"assignee":         {AssigneeID: agent},
		"unassigned":       {Unassigned: true},
		"awaiting":         {Statuses: []request.Status{request.AwaitingRequester}},
		"due window":       {DueFrom: now, DueTo: now.AddDate(0, 0, 31)},
		"search":           {Search: "Нурланқызы"},
		"search, erasure":  {Search: "айгерим нурлан", Types: []request.Type{request.Erasure}},
		"search, assignee": {Search: "Нурланқызы", AssigneeID: agent},
	}
	// The search's matches are few here, so reader reads them by id. The
	// same search is too broad for readers whose cap is lower (probeSearch):
	// they walk each tab, one within a fence that cuts the walk short of
	// most pages (Queue then reads the matches by id after all), and must
	// list the very same rows, page by page, without counting them.
	broad := map[string]*Store{"broad, fenced at 1": New(pool, &intakeOutbox{}, testkit.Keys()),
		"broad, fenced at 3": New(pool, &intakeOutbox{}, testkit.Keys())}
	broad["broad, fenced at 1"].searchCap, broad["broad, fenced at 1"].searchFence = 1, 1
	broad["broad, fenced at 3"].searchCap, broad["broad, fenced at 3"].searchFence = 1, 3
	list := func(s *Store, f QueueFilter) []string {
		t.Helper()
		return pagedRefs(t, s, f, 2)
	}
	check := func(after string) {
		t.Helper()
		for name, f := range filters {
			f.Now, f.StaffID = now, agent
			counts, err := reader.QueueCounts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			// The matches read once for the page (FindSearch) count alike.
			found, err := reader.FindSearch(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := reader.QueueCounts(ctx, found); err != nil || fmt.Sprint(again) != fmt.Sprint(counts) {
				t.Errorf("after %s, filter %s: the counts of the search found beforehand are %v (%v), want %v", after, name, again, err, counts)
			}
			for _, tab := range Tabs() {
				f.Tab = tab
				found.Tab = tab
				rows := list(reader, f)
				if got := list(reader, found); fmt.Sprint(got) != fmt.Sprint(rows) {
					t.Errorf("after %s, filter %s: the %s tab of the search found beforehand lists %v, want %v", after, name, tab, got, rows)
				}
				listed := len(rows)
				if counts[tab] != listed {
					t.Errorf("after %s, filter %s: the %s tab counts %d and lists %d", after, name, tab, counts[tab], listed)
				}
				if n, err := reader.QueueCount(ctx, f); err != nil || n != listed {
					t.Errorf("after %s, filter %s: QueueCount of the %s tab is %d (%v), and it lists %d", after, name, tab, n, err, listed)
				}
				if f.Search == "" {
					continue
				}
				for how, s := range broad {
					if got := list(s, f); fmt.Sprint(got) != fmt.Sprint(rows) {
						t.Errorf("after %s, filter %s, %s: the %s tab lists %v, want %v", after, name, how, tab, got, rows)
					}
					if n, err := s.QueueCount(ctx, f); err != nil || !SearchTooBroad(n) {
						t.Errorf("after %s, filter %s, %s: QueueCount of the %s tab is %d (%v), want it not taken", after, name, how, tab, n, err)
					}
					c, err := s.QueueCounts(ctx, f)
					if err != nil || !SearchTooBroad(c[tab]) {
						t.Errorf("after %s, filter %s, %s: the %s tab counts %d (%v), want it not taken", after, name, how, tab, c[tab], err)
					}
				}
			}
		}
	}

	d.check = check
	ids := d.intake("CNT", request.Erasure, request.Erasure, request.Access, request.Objection)
	check("intake")
	if c, err := reader.QueueCounts(ctx, QueueFilter{Now: now, StaffID: agent, Search: "Нурланқызы"}); err != nil ||
		c[TabOpen] != 4 || c[TabUnassigned] != 4 || c[TabClosed] != 0 {
		t.Fatalf("after intake, searching the name: %v %v, want 4 open and unassigned, none closed", c, err)
	}

	change := d.change
	for _, id := range ids {
		change("confirmation", id, func(_ request.Request, ch *request.Change) { ch.To, ch.ConfirmedAt = request.New, now })
	}
	change("assignment", ids[0], func(_ request.Request, ch *request.Change) { ch.Assign = &agent })
	change("assignment", ids[2], func(_ request.Request, ch *request.Change) { ch.Assign = &agent })
	change("work", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.InProgress })
	change("waiting for the requester", ids[1], func(_ request.Request, ch *request.Change) { ch.To = request.AwaitingRequester })
	change("a deadline moved into the week", ids[3], func(_ request.Request, ch *request.Change) { ch.DueAt = now.Add(3 * 24 * time.Hour) })
	change("a deadline passed", ids[2], func(_ request.Request, ch *request.Change) { ch.DueAt = now.Add(-time.Hour) })
	change("an extension", ids[2], func(r request.Request, ch *request.Change) {
		ch.DueAt, ch.Extended = r.DueAt.AddDate(0, 2, 0), true
	})
	nobody := int64(0)
	change("unassignment", ids[2], func(_ request.Request, ch *request.Change) { ch.Assign = &nobody })
	change("the requester's answer", ids[1], func(_ request.Request, ch *request.Change) { ch.To = request.InProgress })
	change("completion", ids[0], func(_ request.Request, ch *request.Change) { ch.To = request.Completed })
	change("rejection", ids[3], func(_ request.Request, ch *request.Change) {
		ch.To, ch.OutcomeReason = request.Rejected, "manifestly_unfounded"
	})
	if _, err := writer.PurgePersonalData(ctx, now.Add(time.Minute), now, 100); err != nil {
		t.Fatal(err)
	}
	check("purging the closed requests' personal data")
	if c, err := reader.QueueCounts(ctx, QueueFilter{Now: now, StaffID: agent, Search: "Нурланқызы"}); err != nil ||
		c[TabOpen] != 2 || c[TabClosed] != 0 || c[TabOverdue] != 0 || c[TabDueSoon] != 0 {
		t.Fatalf("at the end, searching the name: %v %v, want the 2 open ones, the closed purged", c, err)
	}
}

// pagedRefs is every reference the queue lists under f, page after page of
// limit rows, following each page's "next" as staff do.
func pagedRefs(t *testing.T, s *Store, f QueueFilter, limit int) []string {
	t.Helper()
	var refs []string
	for p := (Page{Limit: limit}); ; {
		page, err := s.Queue(t.Context(), f, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			refs = append(refs, r.Reference)
		}
		if page.Next == "" {
			return refs
		}
		p.After = page.Next
	}
}
