package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

var almaty = mustLocation("Asia/Almaty")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// queueNow is "now" for the hand-built queue.
var queueNow = time.Date(2026, 3, 2, 10, 0, 0, 0, almaty)

// queueFixture is a small caseload where every request is there for a tab,
// a filter or a boundary, named so that expectations read as a list.
type queueFixture struct {
	store         *store.Store
	pool          *pgxpool.Pool
	ids           map[string]int64
	names         map[int64]string
	me, colleague int64
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	ctx := context.Background()
	pool := testkit.DB(t)
	fx := &queueFixture{store: store.New(pool, nil, testkit.Keys()), pool: pool,
		ids: map[string]int64{}, names: map[int64]string{}}
	var err error
	if fx.me, err = testkit.AddStaff(ctx, pool, "Айгерим Сапарова", "aigerim@example.kz"); err != nil {
		t.Fatal(err)
	}
	if fx.colleague, err = testkit.AddStaff(ctx, pool, "Boris Kim", "boris@example.kz"); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	at := func(d time.Duration) time.Time { return queueNow.Add(d) }
	rows := []struct {
		name string
		req  testkit.Req
	}{
		{"new-unassigned", testkit.Req{Type: request.Access, Status: request.New, FullName: "Әлия Жұмабекова",
			Email: "Aliya.Zhumabekova@Example.kz", DueAt: at(10 * day)}},
		{"mine-due-soon", testkit.Req{Type: request.Erasure, Status: request.InProgress, FullName: "Ұлан Қасымов",
			Email: "ulan@example.kz", DueAt: at(3 * day), AssigneeID: fx.me}},
		{"mine-overdue", testkit.Req{Type: request.Access, Status: request.InProgress, FullName: "Иван Петров",
			Email: "ivan.petrov@mail.example.ru", DueAt: at(-2 * day), AssigneeID: fx.me}},
		{"colleague-awaiting", testkit.Req{Type: request.Rectification, Status: request.AwaitingRequester,
			FullName: "John Smith", Email: "john.smith@example.com", DueAt: at(20 * day), AssigneeID: fx.colleague}},
		{"unverified", testkit.Req{Type: request.ConsentWithdrawal, Status: request.Unverified,
			FullName: "Қайрат Нұрланов", Email: "kairat@example.kz", DueAt: at(29 * day)}},
		// Due exactly now: not overdue yet, so due soon.
		{"due-now", testkit.Req{Type: request.Objection, Status: request.New, FullName: "Мария Иванова",
			Email: "maria_ivanova@example.kz", DueAt: at(0)}},
		// Due exactly a week from now: just outside the due-soon window.
		{"mine-awaiting-week", testkit.Req{Type: request.Access, Status: request.AwaitingRequester,
			FullName: "Өмірзақ Ысқақов", Email: "omirzak@example.kz", DueAt: at(7 * day), AssigneeID: fx.me}},
		{"colleague-overdue-flagged", testkit.Req{Type: request.Portability, Status: request.InProgress,
			FullName: "Grace Hughes", Email: "grace@example.com", DueAt: at(-time.Hour), AssigneeID: fx.colleague,
			OnBehalf: true}},
		{"completed", testkit.Req{Type: request.Access, Status: request.Completed, FullName: "Ольга Смирнова",
			Email: "olga@example.kz", DueAt: at(-30 * day), ClosedAt: at(-35 * day), AssigneeID: fx.me}},
		{"rejected", testkit.Req{Type: request.Erasure, Status: request.Rejected, FullName: "Ерлан Әбенов",
			Email: "erlan@example.kz", DueAt: at(-20 * day), ClosedAt: at(-21 * day), AssigneeID: fx.colleague}},
		{"withdrawn", testkit.Req{Type: request.Objection, Status: request.Withdrawn, FullName: "Emma Brown",
			Email: "emma@example.com", DueAt: at(5 * day), ClosedAt: at(-day)}},
		{"expired", testkit.Req{Type: request.Access, Status: request.Expired, FullName: "Жұлдыз Тоқтарова",
			Email: "zhuldyz@example.kz", DueAt: at(-40 * day), ClosedAt: at(-63 * day)}},
	}
	for _, r := range rows {
		req := r.req
		req.ReceivedAt = req.DueAt.AddDate(0, 0, -30)
		if r.name == "colleague-overdue-flagged" {
			req.DuplicateOf = fx.ids["new-unassigned"]
		}
		id, err := testkit.AddRequest(ctx, pool, req)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		fx.ids[r.name], fx.names[id] = id, r.name
	}
	if err := testkit.AddFailedEmail(ctx, pool, fx.ids["colleague-overdue-flagged"]); err != nil {
		t.Fatal(err)
	}
	return fx
}

// list returns the names of all requests matching f, in order, reading
// every page.
func (fx *queueFixture) list(t *testing.T, f store.QueueFilter) []string {
	t.Helper()
	var out []string
	p := store.Page{Limit: 3}
	for range 100 {
		page, err := fx.store.Queue(context.Background(), f, p)
		if err != nil {
			t.Fatalf("queue %+v: %v", f, err)
		}
		for _, r := range page.Rows {
			out = append(out, fx.names[r.ID])
		}
		if page.Next == "" {
			return out
		}
		p.After = page.Next
	}
	t.Fatal("the queue never ended")
	return nil
}

func TestQueueTabsHoldExactlyTheirRequests(t *testing.T) {
	fx := newQueueFixture(t)
	tests := []struct {
		tab  store.Tab
		want []string // in due-date order
	}{
		{store.TabOpen, []string{"mine-overdue", "colleague-overdue-flagged", "due-now", "mine-due-soon",
			"mine-awaiting-week", "new-unassigned", "colleague-awaiting", "unverified"}},
		{store.TabMine, []string{"mine-overdue", "mine-due-soon", "mine-awaiting-week"}},
		{store.TabUnassigned, []string{"due-now", "new-unassigned", "unverified"}},
		{store.TabDueSoon, []string{"due-now", "mine-due-soon"}},
		{store.TabOverdue, []string{"mine-overdue", "colleague-overdue-flagged"}},
		{store.TabAwaiting, []string{"mine-awaiting-week", "colleague-awaiting"}},
		{store.TabClosed, []string{"expired", "completed", "rejected", "withdrawn"}},
		{store.TabAll, []string{"expired", "completed", "rejected", "mine-overdue", "colleague-overdue-flagged",
			"due-now", "mine-due-soon", "withdrawn", "mine-awaiting-week", "new-unassigned", "colleague-awaiting",
			"unverified"}},
	}
	counts, err := fx.store.QueueCounts(context.Background(), store.QueueFilter{Now: queueNow, StaffID: fx.me})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(string(tt.tab), func(t *testing.T) {
			got := fx.list(t, store.QueueFilter{Tab: tt.tab, Now: queueNow, StaffID: fx.me})
			if !slices.Equal(got, tt.want) {
				t.Errorf("tab %s:\n got %v\nwant %v", tt.tab, got, tt.want)
			}
			if counts[tt.tab] != len(tt.want) {
				t.Errorf("count of %s = %d, want %d", tt.tab, counts[tt.tab], len(tt.want))
			}
		})
	}
}

func TestQueueClosedTabSortsLatestClosedFirst(t *testing.T) {
	fx := newQueueFixture(t)
	got := fx.list(t, store.QueueFilter{Tab: store.TabClosed, Sort: store.SortClosed})
	want := []string{"withdrawn", "rejected", "completed", "expired"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestQueueRowCarriesAssigneeFlagsAndDates(t *testing.T) {
	fx := newQueueFixture(t)
	page, err := fx.store.Queue(context.Background(), store.QueueFilter{Tab: store.TabOverdue, Now: queueNow}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var flagged *store.QueueRow
	for i, r := range page.Rows {
		if r.ID == fx.ids["colleague-overdue-flagged"] {
			flagged = &page.Rows[i]
		} else if r.EmailFailed || r.OnBehalf || r.DuplicateOf != 0 {
			t.Errorf("%s has flags it should not: %+v", fx.names[r.ID], r)
		}
	}
	if flagged == nil {
		t.Fatal("the flagged request is not on the overdue tab")
	}
	if !flagged.EmailFailed || !flagged.OnBehalf || flagged.DuplicateOf != fx.ids["new-unassigned"] {
		t.Errorf("flags: email failed %v, on behalf %v, duplicate of %d", flagged.EmailFailed, flagged.OnBehalf, flagged.DuplicateOf)
	}
	if flagged.AssigneeID != fx.colleague || flagged.AssigneeName != "Boris Kim" {
		t.Errorf("assignee = %d %q, want %d Boris Kim", flagged.AssigneeID, flagged.AssigneeName, fx.colleague)
	}
	if !flagged.DueAt.Equal(queueNow.Add(-time.Hour)) || flagged.Type != request.Portability ||
		flagged.Status != request.InProgress || !flagged.ClosedAt.IsZero() || flagged.Reference == "" {
		t.Errorf("row = %+v", *flagged)
	}
}

func TestQueueFilters(t *testing.T) {
	fx := newQueueFixture(t)
	tests := []struct {
		name string
		f    store.QueueFilter
		want []string
	}{
		{"statuses", store.QueueFilter{Tab: store.TabAll, Statuses: []request.Status{request.New, request.Rejected}},
			[]string{"rejected", "due-now", "new-unassigned"}},
		{"types", store.QueueFilter{Types: []request.Type{request.Erasure, request.Portability}},
			[]string{"colleague-overdue-flagged", "mine-due-soon"}},
		{"assignee", store.QueueFilter{AssigneeID: fx.colleague},
			[]string{"colleague-overdue-flagged", "colleague-awaiting"}},
		{"assignee on the closed tab", store.QueueFilter{Tab: store.TabClosed, AssigneeID: fx.colleague},
			[]string{"rejected"}},
		{"nobody", store.QueueFilter{Tab: store.TabAll, Unassigned: true},
			[]string{"expired", "due-now", "withdrawn", "new-unassigned", "unverified"}},
		{"due window", store.QueueFilter{DueFrom: queueNow, DueTo: queueNow.AddDate(0, 0, 10)},
			[]string{"due-now", "mine-due-soon", "mine-awaiting-week"}},
		{"mine and a type", store.QueueFilter{Tab: store.TabMine, StaffID: fx.me, Types: []request.Type{request.Access}},
			[]string{"mine-overdue", "mine-awaiting-week"}},
		{"every filter at once", store.QueueFilter{Tab: store.TabOpen, Statuses: []request.Status{request.InProgress},
			Types: []request.Type{request.Access, request.Erasure}, AssigneeID: fx.me, DueFrom: queueNow},
			[]string{"mine-due-soon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.Now = queueNow
			got := fx.list(t, f)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueueCountsFollowTheFilters(t *testing.T) {
	fx := newQueueFixture(t)
	filters := []store.QueueFilter{
		{Types: []request.Type{request.Access}},
		{Statuses: []request.Status{request.InProgress, request.Completed}},
		{AssigneeID: fx.colleague},
		{Unassigned: true},
		{DueFrom: queueNow.AddDate(0, 0, -3), DueTo: queueNow.AddDate(0, 0, 8)},
		{Search: "ива"},
	}
	for i, f := range filters {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f.Now, f.StaffID = queueNow, fx.me
			counts, err := fx.store.QueueCounts(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, tab := range store.Tabs() {
				f.Tab = tab
				if got := len(fx.list(t, f)); counts[tab] != got {
					t.Errorf("count of %s = %d, but the tab lists %d", tab, counts[tab], got)
				}
			}
		})
	}
}

func TestQueueSearch(t *testing.T) {
	fx := newQueueFixture(t)
	var ref string
	if err := fx.pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`,
		fx.ids["completed"]).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, search string
		want         []string
	}{
		{"reference as printed", ref, []string{"completed"}},
		{"reference as typed", " " + strings.ToLower(strings.ReplaceAll(ref, "-", "")) + " ", []string{"completed"}},
		{"email exactly, other case", "ALIYA.ZHUMABEKOVA@example.KZ", []string{"new-unassigned"}},
		// Emails are sealed: the search knows whole addresses and the
		// part before the @, never a fragment or a domain.
		{"the part before the @, with it", "john.smith@", []string{"colleague-awaiting"}},
		{"the part before the @, other case", "IVAN.PETROV", []string{"mine-overdue"}},
		{"a domain finds nobody", "@example.com", nil},
		{"a fragment of an address finds nobody", "Ivan.P", nil},
		{"underscore is a letter, not a wildcard", "maria_ivanova", []string{"due-now"}},
		{"the middle of a name is not its beginning", "ванова", nil},
		{"percent is a letter, not a wildcard", "%", nil},
		{"Kazakh upper case finds lower case", "ЖҰМАБЕК", []string{"new-unassigned"}},
		{"Kazakh lower case finds upper case", "әлия", []string{"new-unassigned"}},
		{"Қ and Ұ", "ұлан қасым", []string{"mine-due-soon"}},
		{"Ө and Ы", "ӨМІРЗАҚ ЫСҚАҚ", []string{"mine-awaiting-week"}},
		{"Russian beginning of two names", "ИВАН", []string{"mine-overdue", "due-now"}},
		{"two words, both must match", "иван пет", []string{"mine-overdue"}},
		{"English", "smith", []string{"colleague-awaiting"}},
		{"closed requests too", "тоқтар", []string{"expired"}},
		{"nothing", "Несуществующий", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fx.list(t, store.QueueFilter{Tab: store.TabAll, Search: tt.search})
			if !slices.Equal(got, tt.want) {
				t.Errorf("search %q: got %v, want %v", tt.search, got, tt.want)
			}
		})
	}
}

func TestQueueRefusesFiltersItCannotAnswer(t *testing.T) {
	fx := newQueueFixture(t)
	tests := []struct {
		name string
		f    store.QueueFilter
		p    store.Page
		want error
	}{
		{"mine without staff", store.QueueFilter{Tab: store.TabMine}, store.Page{}, store.ErrInvalidFilter},
		{"overdue without now", store.QueueFilter{Tab: store.TabOverdue}, store.Page{}, store.ErrInvalidFilter},
		{"due soon without now", store.QueueFilter{Tab: store.TabDueSoon}, store.Page{}, store.ErrInvalidFilter},
		{"unknown tab", store.QueueFilter{Tab: "everything"}, store.Page{}, store.ErrInvalidFilter},
		{"someone and nobody", store.QueueFilter{AssigneeID: fx.me, Unassigned: true}, store.Page{}, store.ErrInvalidFilter},
		{"closing order on an open tab", store.QueueFilter{Sort: store.SortClosed}, store.Page{}, store.ErrInvalidFilter},
		{"garbage cursor", store.QueueFilter{}, store.Page{After: "not-a-cursor"}, store.ErrInvalidCursor},
		{"both cursors", store.QueueFilter{}, store.Page{After: "a", Before: "b"}, store.ErrInvalidCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fx.store.Queue(context.Background(), tt.f, tt.p); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := fx.store.QueueCounts(context.Background(), store.QueueFilter{}); !errors.Is(err, store.ErrInvalidFilter) {
		t.Errorf("counts without now: err = %v", err)
	}
	// A cursor of one order is refused by the other.
	page, err := fx.store.Queue(context.Background(), store.QueueFilter{Tab: store.TabClosed}, store.Page{Limit: 1})
	if err != nil || page.Next == "" {
		t.Fatalf("closed tab: %v, next %q", err, page.Next)
	}
	_, err = fx.store.Queue(context.Background(), store.QueueFilter{Tab: store.TabClosed, Sort: store.SortClosed},
		store.Page{After: page.Next})
	if !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("due-date cursor in closing order: err = %v", err)
	}
}

// TestKeysetPaginationWalksEveryRowOnce builds a queue where many requests
// share a due date (the id breaks the tie) and walks it forwards and
// backwards with every page size.
func TestKeysetPaginationWalksEveryRowOnce(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	base := time.Date(2026, 4, 1, 18, 0, 0, 0, almaty)
	for i := range 23 {
		// Groups of four share a due date; inserting the groups in reverse
		// makes id order differ from insertion order within the table.
		due := base.AddDate(0, 0, 5-i/4)
		req := testkit.Req{ReceivedAt: due.AddDate(0, 0, -30), DueAt: due, Status: request.InProgress}
		if i%5 == 0 {
			req.Status, req.ClosedAt = request.Completed, due.Add(-time.Duration(i)*time.Hour)
		}
		if _, err := testkit.AddRequest(ctx, pool, req); err != nil {
			t.Fatal(err)
		}
	}
	var want []int64
	if err := pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY due_at, id) FROM requests`).Scan(&want); err != nil {
		t.Fatal(err)
	}

	for _, sort := range []struct {
		name string
		f    store.QueueFilter
	}{{"due", store.QueueFilter{Tab: store.TabAll}}} {
		for size := 1; size <= 24; size++ {
			t.Run(fmt.Sprintf("%s/%d", sort.name, size), func(t *testing.T) {
				var forward []int64
				var pages []store.QueuePage
				p := store.Page{Limit: size}
				for {
					page, err := s.Queue(ctx, sort.f, p)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Rows) > size {
						t.Fatalf("page of %d rows, limit %d", len(page.Rows), size)
					}
					if (len(pages) == 0) != (page.Prev == "") {
						t.Errorf("page %d: prev cursor %q", len(pages), page.Prev)
					}
					pages = append(pages, page)
					for _, r := range page.Rows {
						forward = append(forward, r.ID)
					}
					if page.Next == "" {
						break
					}
					p = store.Page{After: page.Next, Limit: size}
				}
				if !slices.Equal(forward, want) {
					t.Fatalf("forward walk:\n got %v\nwant %v", forward, want)
				}
				// Back from the last page: every earlier page again, in order.
				var backward []int64
				last := pages[len(pages)-1]
				backward = append(backward, ids(last.Rows)...)
				p = store.Page{Before: last.Prev, Limit: size}
				for p.Before != "" {
					page, err := s.Queue(ctx, sort.f, p)
					if err != nil {
						t.Fatal(err)
					}
					if page.Next == "" {
						t.Errorf("a page reached backwards has no next cursor")
					}
					backward = append(ids(page.Rows), backward...)
					p = store.Page{Before: page.Prev, Limit: size}
				}
				if !slices.Equal(backward, want) {
					t.Fatalf("backward walk:\n got %v\nwant %v", backward, want)
				}
			})
		}
	}

	// The closed tab in closing order pages the same way, latest first.
	var closedWant []int64
	if err := pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY closed_at DESC, id DESC) FROM requests
		WHERE closed_at IS NOT NULL`).Scan(&closedWant); err != nil {
		t.Fatal(err)
	}
	var got []int64
	p := store.Page{Limit: 2}
	for {
		page, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabClosed, Sort: store.SortClosed}, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page.Rows)...)
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	if !slices.Equal(got, closedWant) {
		t.Errorf("closed by closing time: got %v, want %v", got, closedWant)
	}
}

func ids(rows []store.QueueRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func TestQueuePageSizeIsCapped(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	s := store.New(pool, nil, testkit.Keys())
	if _, err := testkit.SeedRequests(ctx, pool, 1000, testkit.SeedOptions{Now: queueNow, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ask, want int }{{0, store.DefaultPageSize}, {-5, store.DefaultPageSize}, {10, 10}, {10_000, store.MaxPageSize}} {
		page, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll}, store.Page{Limit: tt.ask})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) != tt.want || page.Next == "" {
			t.Errorf("limit %d: %d rows (next %q), want %d", tt.ask, len(page.Rows), page.Next, tt.want)
		}
	}
}

// TestMigrationNeedsNoSuperuser: the application runs as the owner of its
// database, not as a superuser, and the migrations (pg_trgm, a trusted
// extension, included) run as that owner, the way testkit runs them, and
// leave the search served by its index.
func TestMigrationNeedsNoSuperuser(t *testing.T) {
	pool := testkit.DB(t)
	var super bool
	var index int
	err := pool.QueryRow(context.Background(), `
		SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
			(SELECT count(*) FROM pg_indexes WHERE indexname = 'requests_search_idx')`).Scan(&super, &index)
	if err != nil {
		t.Fatal(err)
	}
	if super || index != 1 {
		t.Errorf("migrated as superuser %v; search index present %v", super, index == 1)
	}
}
