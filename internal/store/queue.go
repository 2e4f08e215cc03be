package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
)

// Tab is one of the queue's tabs: a fixed slice of the requests.
type Tab string

// The queue's tabs. Every tab but TabClosed and TabAll holds open requests
// only (unverified, new, in progress, awaiting the requester).
const (
	TabOpen       Tab = "open"       // every open request
	TabMine       Tab = "mine"       // open, assigned to QueueFilter.StaffID
	TabUnassigned Tab = "unassigned" // open, assigned to nobody
	TabDueSoon    Tab = "due_soon"   // open, due within DueSoonWindow of Now, not yet overdue
	TabOverdue    Tab = "overdue"    // open, due before Now
	TabAwaiting   Tab = "awaiting"   // waiting for the requester's answer
	TabClosed     Tab = "closed"     // completed, rejected, withdrawn or expired
	TabAll        Tab = "all"        // every request, open or closed (search, export)
)

// Tabs lists the tabs in the order the tab bar shows them.
func Tabs() []Tab {
	return []Tab{TabOpen, TabTriage, TabMine, TabUnassigned, TabDueSoon, TabOverdue, TabAwaiting, TabBounced, TabClosed, TabAll}
}

// DueSoonWindow is how far ahead TabDueSoon looks.
const DueSoonWindow = 7 * 24 * time.Hour

// Sort is the order of the queue.
type Sort string

// The queue's orders.
const (
	// SortDue is by due date, earliest first, then by id: the default.
	SortDue Sort = "due"
	// SortClosed is by closing time, latest first; for TabClosed only.
	SortClosed Sort = "closed"
)

// Page sizes: a page holds DefaultPageSize rows unless asked otherwise, and
// never more than MaxPageSize, so that no request can make the server read
// an unbounded result.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// ErrInvalidFilter is returned for a filter that cannot be answered, such as
// "mine" without a staff member or "overdue" without the current time.
var ErrInvalidFilter = errors.New("invalid queue filter")

// ErrInvalidCursor is returned for a page cursor that this queue did not
// issue (tampered, or from another sort order).
var ErrInvalidCursor = errors.New("invalid page cursor")

// QueueFilter selects requests for the queue, its counts and the export.
// Zero fields do not filter. Every condition must hold.
type QueueFilter struct {
	Tab Tab // empty means TabOpen
	// Now is the current time, for TabDueSoon, TabOverdue and the counts; the
	// store never reads the clock, so that tests and the reminders agree.
	Now time.Time
	// StaffID is the staff member looking at the queue, for TabMine.
	StaffID int64

	Statuses   []request.Status
	Types      []request.Type
	AssigneeID int64 // assigned to this staff member
	Unassigned bool  // assigned to nobody (not together with AssigneeID)
	DueFrom    time.Time
	DueTo      time.Time // exclusive
	// Search is what staff typed in the search box: a reference (any case,
	// with or without dashes) finds that request; text with an @ finds
	// emails starting with it; other text finds names containing it, or
	// emails starting with it, ignoring case.
	Search string
	Sort   Sort // empty means SortDue
	// StepFailed keeps requests whose answer from the data map has a step
	// that failed for good ("gathering failed", fulfilments.go).
	StepFailed bool

	// operator is the store's operator (Store.For), set by the store: the
	// queue, its counts, search and export read that operator's requests
	// (issue 15). 0 leaves it to the connection's scope.
	operator int64
	// searchIDs, when not nil, are every request Search matches, read
	// beforehand by Store.probeSearch because they are few: the queries
	// then look them up by id instead of matching the terms.
	searchIDs []int64
	// searchBroad says that Search matches more requests than the store's
	// search cap (probeSearch): the page walks its tab's index in order and
	// matches each request's own terms (where.fenced), and the counts are
	// not taken (CountUncounted).
	searchBroad bool
	searchFence int // how many of the tab's requests a broad search walks
	// searched says that probeSearch has read the search's matches for
	// this store already (Store.FindSearch): searchIDs and searchBroad hold
	// what it found.
	searched bool
}

// Page asks for one page of the queue. After and Before are cursors from a
// previous QueuePage; at most one of them is set.
type Page struct {
	After  string
	Before string
	Limit  int // DefaultPageSize when 0, at most MaxPageSize
}

// QueueRow is one request as the queue lists it.
type QueueRow struct {
	ID           int64
	Reference    string
	Type         request.Type
	Status       request.Status
	FullName     string
	Email        string
	ReceivedAt   time.Time
	DueAt        time.Time
	ClosedAt     time.Time // zero while open
	AssigneeID   int64     // 0 when nobody
	AssigneeName string
	OnBehalf     bool
	DuplicateOf  int64 // 0 when not a possible duplicate
	// EmailFailed says that one of the request's emails is in the failed
	// state (delivery keeps retrying): staff should look.
	EmailFailed bool
}

// QueuePage is one page of the queue. Next and Prev are cursors for the
// following and the preceding page, empty when there is none. Prev is set
// whenever the page was reached through a cursor, even if the rows before it
// have meanwhile closed: the previous page is then simply empty.
type QueuePage struct {
	Rows []QueueRow
	Next string
	Prev string
}

// queueColumns reads a QueueRow (scanQueueRow) from "requests r"; the
// query that pages them (queueQuery) adds the assignee's name and the
// failed-email flag.
const queueColumns = `r.id, r.reference, r.type, r.status, r.personal, r.received_at, r.due_at,
	r.closed_at, r.assignee_id, r.on_behalf, coalesce(r.duplicate_of, 0) AS duplicate_of`

func (s *Store) scanQueueRow(row pgx.Row, q *QueueRow) error {
	var personal []byte
	if err := row.Scan(&q.ID, &q.Reference, &q.Type, &q.Status, &personal, &q.ReceivedAt,
		&q.DueAt, orZero(&q.ClosedAt), &q.OnBehalf, &q.DuplicateOf, &q.AssigneeID, &q.AssigneeName, &q.EmailFailed); err != nil {
		return err
	}
	p, err := s.personal(personal)
	q.FullName, q.Email = p.FullName, p.Email
	return err
}

// Queue returns one page of the requests matching f, in f's order.
func (s *Store) Queue(ctx context.Context, f QueueFilter, p Page) (QueuePage, error) {
	f.operator = s.pool.operator
	if err := s.probeSearch(ctx, &f); err != nil {
		return QueuePage{}, err
	}
	query, args, plan, err := queueQuery(s.keys, f, p)
	if err != nil {
		return QueuePage{}, err
	}
	out, err := s.queueRows(ctx, query, args, plan.limit)
	if err != nil {
		return QueuePage{}, err
	}
	if plan.fenced && len(out.Rows) <= plan.limit {
		// The walk stopped at its fence (or at the tab's end) before it
		// found a full page: the search's requests are sparse in this tab.
		// Every one of them is then read by id, which costs what they
		// number, not what the tab holds.
		if f.searchIDs, err = s.searchMatches(ctx, f.Search, 0); err != nil {
			return QueuePage{}, err
		}
		f.searchBroad = false
		if query, args, plan, err = queueQuery(s.keys, f, p); err != nil {
			return QueuePage{}, err
		}
		if out, err = s.queueRows(ctx, query, args, plan.limit); err != nil {
			return QueuePage{}, err
		}
	}
	return plan.finish(out), nil
}

func (s *Store) queueRows(ctx context.Context, query string, args []any, limit int) (QueuePage, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return QueuePage{}, fmt.Errorf("queue: %w", err)
	}
	defer rows.Close()
	out := QueuePage{Rows: make([]QueueRow, 0, limit+1)}
	for rows.Next() {
		var q QueueRow
		if err := s.scanQueueRow(rows, &q); err != nil {
			return QueuePage{}, fmt.Errorf("queue: read row: %w", err)
		}
		out.Rows = append(out.Rows, q)
	}
	if err := rows.Err(); err != nil {
		return QueuePage{}, fmt.Errorf("queue: %w", err)
	}
	return out, nil
}

// pagePlan remembers how a page was asked for, to turn the limit+1 rows the
// query returned into a page and its cursors.
type pagePlan struct {
	sort      Sort
	limit     int
	backwards bool // the query ran in reverse order (a Before cursor)
	cursored  bool // a cursor was given
	// fenced says that the query walked at most searchFence requests of
	// the tab (a broad search): fewer than limit+1 rows may then be only
	// what the walk saw.
	fenced bool
}

func (pl pagePlan) finish(out QueuePage) QueuePage {
	more := len(out.Rows) > pl.limit
	if more {
		out.Rows = out.Rows[:pl.limit]
	}
	if pl.backwards {
		slices.Reverse(out.Rows)
	}
	if len(out.Rows) == 0 {
		return out
	}
	first, last := out.Rows[0], out.Rows[len(out.Rows)-1]
	// Going forward, more rows means a next page and a cursor means a
	// previous one; going backwards, the other way round.
	hasNext, hasPrev := more, pl.cursored
	if pl.backwards {
		hasNext, hasPrev = pl.cursored, more
	}
	if hasNext {
		out.Next = encodeCursor(pl.sort, sortKey(pl.sort, last), last.ID)
	}
	if hasPrev {
		out.Prev = encodeCursor(pl.sort, sortKey(pl.sort, first), first.ID)
	}
	return out
}

func sortKey(s Sort, q QueueRow) time.Time {
	if s == SortClosed {
		return q.ClosedAt
	}
	return q.DueAt
}

// queueQuery builds the page query: the filter, the keyset condition, the
// order and limit+1 (the extra row tells whether there is another page).
func queueQuery(keys *keyring.Keyring, f QueueFilter, p Page) (string, []any, pagePlan, error) {
	w := where{keys: keys}
	if err := w.filter(f); err != nil {
		return "", nil, pagePlan{}, err
	}
	pl := pagePlan{sort: f.sort(), limit: p.Limit}
	if pl.limit <= 0 {
		pl.limit = DefaultPageSize
	}
	pl.limit = min(pl.limit, MaxPageSize)
	if p.After != "" && p.Before != "" {
		return "", nil, pl, fmt.Errorf("%w: both After and Before", ErrInvalidCursor)
	}
	cursor := p.After
	if p.Before != "" {
		cursor, pl.backwards = p.Before, true
	}
	key, dir := "r.due_at", "ASC"
	if pl.sort == SortClosed {
		key, dir = "r.closed_at", "DESC"
	}
	if pl.backwards {
		dir = map[string]string{"ASC": "DESC", "DESC": "ASC"}[dir]
	}
	if cursor != "" {
		at, id, err := decodeCursor(pl.sort, cursor)
		if err != nil {
			return "", nil, pl, err
		}
		pl.cursored = true
		// A row comparison matches the (key, id) index order, so the scan
		// starts right after the cursor instead of counting an offset.
		op := ">"
		if dir == "DESC" {
			op = "<"
		}
		w.add("(" + key + ", r.id) " + op + " (" + w.arg(at) + ", " + w.arg(id) + ")")
	}
	// The page is chosen first, then joined to its assignee and probed for
	// failed emails: the planner then expects the probe to run once per row
	// of the page (an index lookup in emails_failed_request_idx) instead of
	// once per matching request, which makes it read and hash every failed
	// email up front. It stays one query. OFFSET 0 keeps the probe a lookup
	// per row: without it the planner still hashed it, reading every failed
	// email (10 000 at a million requests, 0.6-2 ms) for 51 rows.
	limit := strconv.Itoa(pl.limit + 1)
	order := `
		ORDER BY ` + key + ` ` + dir + `, r.id ` + dir
	// scan is the first n requests of the tab in order, as the columns
	// cols; extra narrows it to the open or the closed ones.
	scan := func(cols, extra, n string) string {
		return `SELECT ` + cols + `
		FROM ` + w.from() + w.clause() + extra + order + `
		LIMIT ` + n
	}
	tab := func(cols, n string) string { return scan(cols, "", n) }
	if f.Tab == TabAll {
		// No index holds every request in due order (each one more would be
		// one more entry on every intake); the open and the closed ones each
		// have theirs. The tab is the first rows of the two index scans
		// merged, not a sort of the whole table.
		if len(w.conds) == 0 {
			w.add("true")
		}
		tab = func(cols, n string) string {
			return `(` + scan(cols, ` AND `+openStatuses, n) + `) UNION ALL (` + scan(cols, ` AND `+closedStatuses, n) + `)
		ORDER BY ` + strings.TrimPrefix(key, "r.") + ` ` + dir + `, id ` + dir + `
		LIMIT ` + n
		}
	}
	page := tab(queueColumns, limit)
	if len(w.fenced) > 0 {
		// A broad search (where.fenced): the first searchFence requests of
		// the tab in order, matched against each one's own terms. A name
		// that many requests have matches every few rows, so the page is
		// found long before the fence; the fence keeps a name that this tab
		// holds few of from walking the whole tab (Queue then reads the
		// matches by id). The fence is on the tab as a whole, the all tab's
		// two halves merged first: a match past it then sorts after every
		// row the walk saw, so a full page from the walk is the page.
		// The walk reads only what the open and closed tabs' indexes carry
		// (the order, the id and the terms: an index-only scan, migration
		// 00081), and only the page's requests are then read in whole: a
		// name two requests in a hundred have walks some 2,500 requests for
		// a page of 50.
		pl.fenced = true
		page = `SELECT ` + queueColumns + `
		FROM (SELECT r.id FROM (` + tab("r.id, "+key+", r.search_index", strconv.Itoa(w.fence)) + `) r
			WHERE ` + strings.Join(w.fenced, " AND ") + order + `
			LIMIT ` + limit + `) m
		JOIN requests r ON r.id = m.id`
	}
	query := w.with() + `SELECT p.id, p.reference, p.type, p.status, p.personal, p.received_at, p.due_at,
		p.closed_at, p.on_behalf, p.duplicate_of, coalesce(p.assignee_id, 0), coalesce(a.name, ''),
		EXISTS (SELECT 1 FROM emails e WHERE e.request_id = p.id AND e.state = 'failed' OFFSET 0)
	FROM (` + page + `) p
	LEFT JOIN staff a ON a.id = p.assignee_id
	ORDER BY p.` + strings.TrimPrefix(key, "r.") + ` ` + dir + `, p.id ` + dir
	return query, w.args, pl, nil
}

func (f QueueFilter) sort() Sort {
	if f.Sort == "" {
		return SortDue
	}
	return f.Sort
}

// CountCap is how far QueueCounts counts a tab. A tab bar needs "more than
// 1 000", not the exact figure: counting stops there, so an unfiltered
// count reads at most CountCap+1 index entries whatever the table holds, and
// the queue page costs about the same with a thousand requests or a million
// (docs/benchmarks.md: at 10 000 the seven counts alone took 14 ms each at a
// million requests). Below the cap every count is exact and read live, so it
// is right after every change, made by any instance, the moment it commits.
const CountCap = 1_000

// CountCapped reports whether a count from QueueCounts stands for "more than
// CountCap" rather than an exact number.
func CountCapped(n int) bool { return n > CountCap }

// QueueCounts counts the requests of every tab (Tabs) that match f's other
// conditions (f.Tab and f.Sort are ignored), for the tab bar. f.Now is
// required. Each tab is counted up to CountCap: when it holds more, its
// count is CountCap+1 (see CountCapped). One query. A search that matches
// more than SearchCap requests is not counted: every tab is CountUncounted.
func (s *Store) QueueCounts(ctx context.Context, f QueueFilter) (map[Tab]int, error) {
	f.operator = s.pool.operator
	if err := s.probeSearch(ctx, &f); err != nil {
		return nil, err
	}
	if f.searchBroad {
		counts := map[Tab]int{}
		for _, tab := range Tabs() {
			counts[tab] = CountUncounted
		}
		return counts, nil
	}
	query, args, err := countsQuery(s.keys, f)
	if err != nil {
		return nil, err
	}
	var open, mine, unassigned, dueSoon, overdue, awaiting, closed, triage, bounced int
	err = s.pool.QueryRow(ctx, query, args...).Scan(&open, &mine, &unassigned, &dueSoon, &overdue, &awaiting, &closed, &triage, &bounced)
	if err != nil {
		return nil, fmt.Errorf("queue counts: %w", err)
	}
	return map[Tab]int{
		TabOpen: open, TabMine: mine, TabUnassigned: unassigned, TabDueSoon: dueSoon,
		TabOverdue: overdue, TabAwaiting: awaiting, TabClosed: closed, TabAll: min(open+closed, CountCap+1),
		TabTriage: triage, TabBounced: bounced,
	}, nil
}

// SearchCap is how many requests a search may match and still be counted
// tab by tab: up to SearchCap, the matches are read by id and every tab's
// count is exact; past it, QueueCounts and QueueCount give every tab
// CountUncounted (SearchTooBroad). The matches of a name most requests
// share are tens of thousands, and counting them tab by tab cost the page
// most of a second at a million requests (docs/benchmarks.md), while
// SearchCap of them are read by id in a few milliseconds (the probe, the
// counts and the page each read them once). The page is still found (where.fenced);
// staff are told to narrow the search instead of being shown counts.
const SearchCap = 500

// CountUncounted is the count of a tab that was not taken because the
// search matches more than SearchCap requests.
const CountUncounted = -1

// SearchTooBroad reports whether a count from QueueCounts or QueueCount
// was not taken because the search matches more than SearchCap requests.
func SearchTooBroad(n int) bool { return n == CountUncounted }

// QueueCount counts the requests f's page lists (its tab and every
// condition), up to CountCap as the tab counts are (CountCapped): the
// queue's "gathering failed" link says how many of what staff are looking at
// it keeps.
func (s *Store) QueueCount(ctx context.Context, f QueueFilter) (int, error) {
	if f.Now.IsZero() {
		return 0, fmt.Errorf("%w: a count needs Now", ErrInvalidFilter)
	}
	f.Sort = ""
	f.operator = s.pool.operator
	if err := s.probeSearch(ctx, &f); err != nil {
		return 0, err
	}
	if f.searchBroad {
		return CountUncounted, nil
	}
	w := where{keys: s.keys}
	if err := w.filter(f); err != nil {
		return 0, err
	}
	var n int
	err := s.pool.QueryRow(ctx, w.with()+`SELECT count(*) FROM (SELECT 1 FROM `+w.from()+w.clause()+`
		LIMIT `+strconv.Itoa(CountCap+1)+`) t`, w.args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue count: %w", err)
	}
	return n, nil
}

func countsQuery(keys *keyring.Keyring, f QueueFilter) (string, []any, error) {
	if f.Now.IsZero() {
		return "", nil, fmt.Errorf("%w: counts need Now", ErrInvalidFilter)
	}
	f.Sort = ""
	w := where{keys: keys, shareSearch: true}
	// Each tab is counted with the conditions its page has (where.filter:
	// one definition of a tab). A tab whose conditions are only the
	// request's status, type and assignee is a sum over queue_tally
	// (migration 00070), read in one pass for all such tabs; every other
	// tab is a subquery of its own whose LIMIT stops its index scan after
	// CountCap+1 rows. QueueCounts's columns, in order; the all tab is open
	// plus closed.
	counted := []Tab{TabOpen, TabMine, TabUnassigned, TabDueSoon, TabOverdue, TabAwaiting, TabClosed, TabTriage, TabBounced}
	columns := make([]string, 0, len(counted))
	var sums []string
	for _, tab := range counted {
		if tab == TabMine && f.StaffID == 0 {
			columns = append(columns, "0") // with no staff member, "mine" is nobody's
			continue
		}
		f.Tab = tab
		from := len(w.conds)
		if err := w.filter(f); err != nil {
			return "", nil, err
		}
		conds := strings.Join(w.conds[from:], " AND ")
		if f.searchIDs != nil {
			// A search's few matches (at most SearchCap, probeSearch) are
			// read once by id and every tab counted over them in the same
			// pass, exactly: a subquery per tab read them once per tab.
			columns = append(columns, "count(*) FILTER (WHERE "+conds+")")
			continue
		}
		if tallied(f) {
			columns = append(columns, "(SELECT t"+strconv.Itoa(len(sums))+" FROM tally)")
			sums = append(sums, "least(coalesce(sum(r.n) FILTER (WHERE "+conds+"), 0), "+strconv.Itoa(CountCap+1)+
				") AS t"+strconv.Itoa(len(sums)))
			continue
		}
		columns = append(columns, `(SELECT count(*) FROM (SELECT 1 FROM requests r
		WHERE `+conds+`
		LIMIT `+strconv.Itoa(CountCap+1)+`) t)`)
	}
	if f.searchIDs != nil {
		return w.with() + "SELECT " + strings.Join(columns, ",\n\t") + "\nFROM " + w.from(), w.args, nil
	}
	with := w.withMatches()
	if len(sums) > 0 {
		// queue_tally's policy keeps it to the connection's operator, as the
		// requests'; the condition says so where no policy binds (a
		// superuser's connection), as request_search's.
		tally := "tally AS (SELECT " + strings.Join(sums, ",\n\t\t") + `
		FROM (SELECT operator_id, status, type, nullif(assignee, 0) AS assignee_id, n FROM queue_tally
			WHERE operator_id = (SELECT rightsdesk_operator())) r)` + "\n"
		if with == "" {
			with = "WITH " + tally
		} else {
			with = strings.TrimSuffix(with, "\n") + ",\n" + tally
		}
	}
	return with + "SELECT " + strings.Join(columns, ",\n\t"), w.args, nil
}

// tallied reports whether f (with its tab set) counts only by the columns
// queue_tally keeps: a tab of statuses and assignees, filtered by status,
// type and assignee. The time-dependent tabs, the bounced one, a due-date
// range, a search and the failed steps are counted live.
func tallied(f QueueFilter) bool {
	switch f.Tab {
	case TabOpen, TabMine, TabUnassigned, TabAwaiting, TabClosed, TabTriage:
	default:
		return false
	}
	return f.DueFrom.IsZero() && f.DueTo.IsZero() && !f.StepFailed && strings.TrimSpace(f.Search) == ""
}

// where collects the conditions and the arguments of a query.
type where struct {
	keys  *keyring.Keyring // for the search's blind index terms
	conds []string
	args  []any
	// shareSearch makes the search read its matches from search_matches,
	// a CTE the caller puts before its query (withMatches), so that a
	// statement of several counts finds the terms' requests once.
	shareSearch bool
	matches     string // the CTE's body, once the search has been added
	// byID is the argument holding a search's matches (QueueFilter.searchIDs)
	// once the filter has been added: the query reads them from the CTE
	// "matched" (with, from) instead of matching terms.
	byID string
	// fenced are the conditions of a broad search (QueueFilter.searchBroad),
	// each request's terms, applied to the first fence requests of the tab
	// in order (queueQuery) rather than to the whole tab.
	fenced []string
	fence  int
}

// with is the WITH clause a query of w begins with: the requests of a
// search read by id (byID), or nothing.
func (w *where) with() string {
	if w.byID == "" {
		return ""
	}
	// MATERIALIZED, and read by id: the planner would otherwise walk the
	// tab's index in due order testing each request against the list,
	// which for matches the tab holds few of is the whole tab.
	return "WITH matched AS MATERIALIZED (SELECT * FROM requests r WHERE r.id = ANY(" + w.byID + "))\n"
}

// from is what a query of w reads its requests from, as "r".
func (w *where) from() string {
	if w.byID == "" {
		return "requests r"
	}
	return "matched r"
}

// withMatches is the WITH clause the conditions of a where with
// shareSearch read, or nothing when there was no search.
func (w *where) withMatches() string {
	if w.matches == "" {
		return ""
	}
	return "WITH search_matches AS MATERIALIZED (" + w.matches + ")\n"
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "\n\tWHERE " + strings.Join(w.conds, "\n\t  AND ")
}

// filter adds f's conditions: its operator, its tab, then its filters,
// then its search.
func (w *where) filter(f QueueFilter) error {
	if f.operator != 0 {
		w.add("r.operator_id = " + w.arg(f.operator))
	} else {
		// A deployment of one operator names none (Store.For is not
		// called): the connection's operator, as the policy reads it, is
		// named here all the same. Every queue index leads with
		// operator_id (00055); without it in the query a connection that
		// row-level security does not bind (a superuser's, as a
		// docker-compose database's own user is) read the open tab by a
		// sequential scan and a sort, 0.7-1.1 s at a million requests.
		w.add("r.operator_id = (SELECT rightsdesk_operator())")
	}
	switch f.Tab {
	case TabOpen, "":
		w.add(openStatuses)
	case TabMine:
		if f.StaffID == 0 {
			return fmt.Errorf("%w: the mine tab needs StaffID", ErrInvalidFilter)
		}
		w.add(openStatuses)
		w.add("r.assignee_id = " + w.arg(f.StaffID))
	case TabUnassigned:
		w.add(openStatuses)
		w.add("r.assignee_id IS NULL")
	case TabDueSoon:
		if f.Now.IsZero() {
			return fmt.Errorf("%w: the due-soon tab needs Now", ErrInvalidFilter)
		}
		w.add(openStatuses)
		w.add("r.due_at >= " + w.arg(f.Now))
		w.add("r.due_at < " + w.arg(f.Now.Add(DueSoonWindow)))
	case TabOverdue:
		if f.Now.IsZero() {
			return fmt.Errorf("%w: the overdue tab needs Now", ErrInvalidFilter)
		}
		w.add(openStatuses)
		w.add("r.due_at < " + w.arg(f.Now))
	case TabAwaiting:
		w.add("r.status = 'awaiting_requester'")
	case TabClosed:
		w.add(closedStatuses)
	case TabAll:
	default:
		if !w.letterTab(f.Tab) {
			return fmt.Errorf("%w: unknown tab %q", ErrInvalidFilter, f.Tab)
		}
	}
	switch f.sort() {
	case SortDue:
	case SortClosed:
		if f.Tab != TabClosed {
			return fmt.Errorf("%w: only the closed tab sorts by closing time", ErrInvalidFilter)
		}
	default:
		return fmt.Errorf("%w: unknown sort %q", ErrInvalidFilter, f.Sort)
	}

	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ss[i] = string(st)
		}
		w.add(oneOrAny("r.status", ss, w))
	}
	if len(f.Types) > 0 {
		ts := make([]string, len(f.Types))
		for i, t := range f.Types {
			ts[i] = string(t)
		}
		w.add(oneOrAny("r.type", ts, w))
	}
	switch {
	case f.AssigneeID != 0 && f.Unassigned:
		return fmt.Errorf("%w: assigned to someone and to nobody", ErrInvalidFilter)
	case f.AssigneeID != 0:
		w.add("r.assignee_id = " + w.arg(f.AssigneeID))
	case f.Unassigned:
		w.add("r.assignee_id IS NULL")
	}
	if !f.DueFrom.IsZero() {
		w.add("r.due_at >= " + w.arg(f.DueFrom))
	}
	if !f.DueTo.IsZero() {
		w.add("r.due_at < " + w.arg(f.DueTo))
	}
	if f.StepFailed {
		w.add(stepFailedCondition)
	}
	if f.searchIDs != nil {
		if w.byID == "" {
			w.byID = w.arg(f.searchIDs)
		}
		return nil
	}
	if f.searchBroad {
		w.walkSearch(f.Search, f.searchFence)
		return nil
	}
	w.search(f.Search)
	return nil
}

// searchFence is how many requests of a tab, in the tab's order, a broad
// search walks for its page (QueueFilter.searchBroad) before it reads its
// matches by id instead.
const searchFence = 5_000

// probeSearch reads the requests f.Search matches, up to the store's search
// cap (SearchCap) and one more. When that is all of them it sets
// f.searchIDs: the page and the counts then look those few up by id (a
// search matched in the queries, r.id IN the terms' matches, was planned
// as a walk of the tab's index probing each request's terms: for a name
// few requests have, or none, that walked every open request, 10 s for the
// page and 2.4 s for the counts at a million requests; docs/benchmarks.md).
// When there are more, it sets f.searchBroad: the matches are then too
// many to read (a name most requests share matches tens of thousands, 0.9 s
// for the page and its counts), the page walks its tab until it has its
// rows and the counts are not taken (CountUncounted). A reference, or text
// with nothing to match, needs no probe.
func (s *Store) probeSearch(ctx context.Context, f *QueueFilter) error {
	if f.searched || strings.TrimSpace(f.Search) == "" {
		return nil
	}
	f.searched = true
	most := s.searchCap
	if most <= 0 {
		most = SearchCap
	}
	ids, broad, err := s.probeMatches(ctx, f.Search, most)
	if err != nil || (ids == nil && !broad) {
		return err
	}
	if !broad {
		f.searchIDs = ids
		return nil
	}
	f.searchBroad, f.searchFence = true, s.searchFence
	if f.searchFence <= 0 {
		f.searchFence = searchFence
	}
	return nil
}

// FindSearch returns f with what its search matches read (probeSearch),
// for a page that asks Queue, QueueCounts and QueueCount of the same
// search: each of them would otherwise read the matches again, and at a
// million requests that read is most of what a search page costs. The
// filter returned belongs to this store (its operator and keys); a filter
// without a search comes back as it was.
func (s *Store) FindSearch(ctx context.Context, f QueueFilter) (QueueFilter, error) {
	err := s.probeSearch(ctx, &f)
	return f, err
}

// searchMatches reads the ids of the requests text matches (request_search,
// through its GIN index), at most limit of them (0: all); nil when text
// needs no match (a reference, or nothing), an empty slice when none match.
func (s *Store) searchMatches(ctx context.Context, text string, limit int) ([]int64, error) {
	query, args, ok := matchesQuery(s.keys, text, limit)
	if !ok {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids, nil
}

// matchesQuery is the statement that reads the ids of the requests text
// matches, at most limit of them (0: all), and its arguments; not ok when
// text needs no match (a reference, or nothing).
func matchesQuery(keys *keyring.Keyring, text string, limit int) (string, []any, bool) {
	w := where{keys: keys, shareSearch: true}
	w.search(text)
	if w.matches == "" {
		return "", nil, false
	}
	query := w.matches
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	return query, w.args, true
}

// oneOrAny is the condition "column is one of values": an equality when
// there is one value, so that an index led by (operator_id, column, due_at)
// gives the page in due order and stops after it (PostgreSQL 15 reads an
// = ANY condition of several values in index order per value, not in due
// order, and so left requests_open_type_due_idx aside for the type filter
// and walked the whole open tab filtering by type).
func oneOrAny(column string, values []string, w *where) string {
	if len(values) == 1 {
		return column + " = " + w.arg(values[0])
	}
	return column + " = ANY(" + w.arg(values) + ")"
}

// search adds the condition for what staff typed in the search box.
func (w *where) search(text string) {
	text = norm.NFC.String(strings.TrimSpace(text))
	if text == "" {
		return
	}
	if ref, err := request.ParseReference(text); err == nil {
		w.add("r.reference = " + w.arg(ref))
		return
	}
	// Names, emails, account ids and phones are sealed: the search matches
	// their blind index terms (internal/keyring), every word of the query
	// overlapping the request's terms, through requests_search_idx.
	groups := w.keys.QueryTerms(text)
	if len(groups) == 0 {
		w.add("false") // only punctuation: nothing can match
		return
	}
	// The terms are matched in request_search (migration 00039), which has
	// no row-level security so that its GIN index serves the match: the
	// subquery keeps to the connection's operator itself (Store.For scopes
	// the connection; a constant here made the planner leave the GIN index
	// aside), and the requests it yields are read through requests' policy
	// and the store's own operator condition.
	const operator = "(SELECT rightsdesk_operator())"
	if w.shareSearch && w.matches != "" {
		w.add("(r.id IN (SELECT request_id FROM search_matches)) IS TRUE")
		return
	}
	conds := make([]string, 0, len(groups))
	for _, g := range groups {
		conds = append(conds, "s.search_index && "+w.arg(g)+"::bytea[]")
	}
	matches := "SELECT s.request_id FROM request_search s WHERE s.operator_id = " + operator + " AND " + strings.Join(conds, " AND ")
	if w.shareSearch {
		// A name most requests share matches tens of thousands: reading
		// them from request_search once, not once per tab, is most of what
		// the counts of a search cost (docs/benchmarks.md).
		w.matches = matches
		w.add("(r.id IN (SELECT request_id FROM search_matches)) IS TRUE")
		return
	}
	w.add("r.id IN (" + matches + ")")
}

// walkSearch adds the conditions of a broad search (QueueFilter.searchBroad)
// as each request's own terms (requests.search_index, which request_search
// copies): applied in queueQuery to the first fence requests of the tab.
func (w *where) walkSearch(text string, fence int) {
	text = norm.NFC.String(strings.TrimSpace(text))
	for _, g := range w.keys.QueryTerms(text) {
		w.fenced = append(w.fenced, "r.search_index && "+w.arg(g)+"::bytea[]")
	}
	w.fence = fence
}

// A cursor is the sort key and id of the row a page ends (or starts) with,
// tagged with the sort it belongs to, in URL-safe base64. It is opaque to
// clients and not secret: it only says where to resume.
func encodeCursor(s Sort, at time.Time, id int64) string {
	buf := make([]byte, 0, 17)
	buf = append(buf, s.tag())
	buf = binary.BigEndian.AppendUint64(buf, uint64(at.UnixMicro()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(id)) // #nosec G115 -- a bit-for-bit round trip with decodeCursor, not arithmetic
	return base64.RawURLEncoding.EncodeToString(buf)
}

func decodeCursor(s Sort, cursor string) (time.Time, int64, error) {
	buf, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(buf) != 17 || buf[0] != s.tag() {
		return time.Time{}, 0, ErrInvalidCursor
	}
	// PostgreSQL keeps microseconds, so a microsecond key is exact.
	at := time.UnixMicro(int64(binary.BigEndian.Uint64(buf[1:9]))) // #nosec G115 -- bit-for-bit inverse of encodeCursor; any value is only a bound in a parameterised query
	// #nosec G115 -- as above: a forged cursor yields an id bound as a parameter, never trusted
	return at, int64(binary.BigEndian.Uint64(buf[9:])), nil
}

func (s Sort) tag() byte {
	if s == SortClosed {
		return 'c'
	}
	return 'd'
}
