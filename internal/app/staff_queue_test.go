package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// queueDesk is an instance with a hand-built caseload around the test
// clock's "now" (2 March 2026, 10:00 in Almaty), every request there for a
// tab, a filter or a flag, known by a name.
type queueDesk struct {
	inst          *apptest.Instance
	me, colleague auth.Staff
	refs          map[string]string // name → reference
	names         map[string]string // reference → name
}

func newQueueDesk(t *testing.T) *queueDesk {
	t.Helper()
	inst := apptest.Start(t, nil)
	d := &queueDesk{inst: inst, refs: map[string]string{}, names: map[string]string{},
		me:        inst.AddStaff(t, "aigerim@school.example.kz", "Айгерим Агент", auth.Agent),
		colleague: inst.AddStaff(t, "boris@school.example.kz", "Борис Коллегов", auth.Agent),
	}
	inst.AddStaff(t, "auditor@school.example.kz", "Аудитор Проверяев", auth.Auditor)
	now := inst.Clock.Now()
	day := 24 * time.Hour
	ids := map[string]int64{}
	for _, r := range []struct {
		name string
		req  testkit.Req
	}{
		{"new-unassigned", testkit.Req{Type: request.Access, Status: request.New, FullName: "Әлия Жұмабекова",
			Email: "aliya@example.kz", DueAt: now.Add(10 * day)}},
		{"mine-due-soon", testkit.Req{Type: request.Erasure, Status: request.InProgress, FullName: "Ұлан Қасымов",
			Email: "ulan@example.kz", DueAt: now.Add(3 * day), AssigneeID: d.me.ID}},
		{"mine-overdue", testkit.Req{Type: request.Access, Status: request.InProgress, FullName: "Мария Иванова",
			Email: "maria.ivanova@mail.example.ru", DueAt: now.Add(-2 * day), AssigneeID: d.me.ID}},
		{"colleague-awaiting", testkit.Req{Type: request.Rectification, Status: request.AwaitingRequester,
			FullName: "John Smith", Email: "john@example.com", DueAt: now.Add(20 * day), AssigneeID: d.colleague.ID}},
		{"flagged-overdue", testkit.Req{Type: request.Portability, Status: request.InProgress, FullName: "Grace Hughes",
			Email: "grace@example.com", DueAt: now.Add(-time.Hour), AssigneeID: d.colleague.ID, OnBehalf: true}},
		{"completed", testkit.Req{Type: request.Access, Status: request.Completed, FullName: "Ольга Смирнова",
			Email: "olga@example.kz", DueAt: now.Add(-30 * day), ClosedAt: now.Add(-35 * day), AssigneeID: d.me.ID}},
		{"rejected", testkit.Req{Type: request.Erasure, Status: request.Rejected, FullName: "Ерлан Әбенов",
			Email: "erlan@example.kz", DueAt: now.Add(-20 * day), ClosedAt: now.Add(-21 * day)}},
	} {
		req := r.req
		req.ReceivedAt = req.DueAt.AddDate(0, 0, -30)
		if r.name == "flagged-overdue" {
			req.DuplicateOf = ids["new-unassigned"]
		}
		id, err := testkit.AddRequest(context.Background(), inst.Pool, req)
		if err != nil {
			t.Fatal(err)
		}
		ids[r.name] = id
		var ref string
		if err := inst.Pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		d.refs[r.name], d.names[ref] = ref, r.name
	}
	if err := testkit.AddFailedEmail(context.Background(), inst.Pool, ids["flagged-overdue"]); err != nil {
		t.Fatal(err)
	}
	// The failed acknowledgement came back as a bounce too.
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE emails SET bounced_at = $2, bounce_status = '5.1.1' WHERE request_id = $1`,
		ids["flagged-overdue"], now); err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	rowRef   = regexp.MustCompile(`<th scope="row"><a href="/staff/requests/([^"]+)" class="ref">`)
	tabCount = regexp.MustCompile(`<span class="count"><span aria-hidden="true">([^<]+)</span>`)
	nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	prevLink = regexp.MustCompile(`<a href="([^"]+)" rel="prev">`)
)

// rows returns the names of the requests a queue page lists, in order.
func (d *queueDesk) rows(page string) []string {
	var out []string
	for _, m := range rowRef.FindAllStringSubmatch(page, -1) {
		out = append(out, d.names[m[1]])
	}
	return out
}

// tabCounts reads the tab bar: the count shown on each tab, in store.Tabs order.
func tabCounts(page string) map[store.Tab]string {
	out := map[store.Tab]string{}
	for i, m := range tabCount.FindAllStringSubmatch(page, -1) {
		if i < len(store.Tabs()) {
			out[store.Tabs()[i]] = html.UnescapeString(m[1])
		}
	}
	return out
}

func (d *queueDesk) get(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, page := d.inst.Get(t, c, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if i := strings.Index(page, "missing:"); i >= 0 {
		t.Errorf("GET %s: untranslated %s", path, page[i:min(len(page), i+60)])
	}
	return page
}

func TestQueueTabsShowTheirRequestsAndCounts(t *testing.T) {
	d := newQueueDesk(t)
	c := d.inst.SignIn(t, "aigerim@school.example.kz")
	want := map[store.Tab][]string{
		store.TabOpen:       {"mine-overdue", "flagged-overdue", "mine-due-soon", "new-unassigned", "colleague-awaiting"},
		store.TabMine:       {"mine-overdue", "mine-due-soon"},
		store.TabUnassigned: {"new-unassigned"},
		store.TabDueSoon:    {"mine-due-soon"},
		store.TabOverdue:    {"mine-overdue", "flagged-overdue"},
		store.TabAwaiting:   {"colleague-awaiting"},
		store.TabClosed:     {"completed", "rejected"},
		store.TabTriage:     nil, // letters: TestKazakhLetterBecomesAKazakhRequestInTriage
		store.TabBounced:    {"flagged-overdue"},
		store.TabAll:        {"completed", "rejected", "mine-overdue", "flagged-overdue", "mine-due-soon", "new-unassigned", "colleague-awaiting"},
	}
	for _, tab := range store.Tabs() {
		page := d.get(t, c, "/staff?tab="+string(tab))
		if got := d.rows(page); !slices.Equal(got, want[tab]) {
			t.Errorf("tab %s lists %v, want %v", tab, got, want[tab])
		}
		counts := tabCounts(page)
		for other, rows := range want {
			if counts[other] != fmt.Sprint(len(rows)) {
				t.Errorf("on tab %s, the %s tab shows %q, want %d", tab, other, counts[other], len(rows))
			}
		}
		if !strings.Contains(page, `aria-current="page">`) || len(want[tab]) > 0 && (!strings.Contains(page, "<caption>") || !strings.Contains(page, `<th scope="col">`)) {
			t.Errorf("tab %s: no current tab, caption or column headers", tab)
		}
	}
	// The default tab is the open one, with its own heading.
	page := d.get(t, c, "/staff")
	if got := d.rows(page); !slices.Equal(got, want[store.TabOpen]) || !strings.Contains(page, "<h1>Открытые запросы</h1>") {
		t.Errorf("/staff lists %v", got)
	}
}

func TestQueueRowsSayDaysLeftInWordsAndShowFlags(t *testing.T) {
	d := newQueueDesk(t)
	c := d.inst.SignIn(t, "aigerim@school.example.kz")
	page := d.get(t, c, "/staff?tab=all")
	row := func(name string) string {
		t.Helper()
		_, rest, ok := strings.Cut(page, `/staff/requests/`+d.refs[name]+`"`)
		if !ok {
			t.Fatalf("%s is not listed", name)
		}
		end, _, _ := strings.Cut(rest, "</tr>")
		return end
	}
	// Colour comes with words: overdue, days left, closed.
	if r := row("mine-overdue"); !strings.Contains(r, `<span class="due overdue">срок прошёл</span>`) {
		t.Errorf("overdue row: %s", r)
	}
	if r := row("mine-due-soon"); !strings.Contains(r, `<span class="due soon">осталось 3 дня</span>`) || !strings.Contains(r, "Айгерим Агент") {
		t.Errorf("due-soon row: %s", r)
	}
	if r := row("new-unassigned"); !strings.Contains(r, `<span class="due ok">осталось 10 дней</span>`) ||
		!strings.Contains(r, `<span class="nobody">`) || !strings.Contains(r, "12 марта 2026") {
		t.Errorf("unassigned row: %s", r)
	}
	if r := row("completed"); !strings.Contains(r, `<span class="due closed">закрыт</span>`) {
		t.Errorf("closed row: %s", r)
	}
	r := row("flagged-overdue")
	for _, flag := range []string{"flag-behalf", "flag-duplicate", "flag-failed"} {
		if !strings.Contains(r, flag) {
			t.Errorf("the flagged row has no %s: %s", flag, r)
		}
	}
	if r := row("mine-overdue"); strings.Contains(r, `class="flag`) {
		t.Errorf("a plain row has flags: %s", r)
	}
}

func TestQueueFiltersAndSearch(t *testing.T) {
	d := newQueueDesk(t)
	c := d.inst.SignIn(t, "aigerim@school.example.kz")
	typedRef := strings.ToLower(strings.ReplaceAll(d.refs["colleague-awaiting"], "-", ""))
	tests := []struct {
		query string
		want  []string
	}{
		{"tab=all&status=new&status=rejected", []string{"rejected", "new-unassigned"}},
		{"type=erasure&type=portability", []string{"flagged-overdue", "mine-due-soon"}},
		{"assignee=" + fmt.Sprint(d.colleague.ID), []string{"flagged-overdue", "colleague-awaiting"}},
		{"tab=all&assignee=nobody", []string{"rejected", "new-unassigned"}},
		// Whole days in Almaty, the last one included: 2 March to 12 March.
		{"due_from=2026-03-02&due_to=2026-03-12", []string{"flagged-overdue", "mine-due-soon", "new-unassigned"}},
		{"due_to=2026-02-28", []string{"mine-overdue"}},
		{"tab=mine&type=access", []string{"mine-overdue"}},
		// Search: Kazakh and Russian letters in any case, part of a name,
		// an email prefix, a reference as typed.
		{"q=" + url.QueryEscape("жұмабек"), []string{"new-unassigned"}},
		{"q=" + url.QueryEscape("ҰЛАН ҚАСЫМОВ"), []string{"mine-due-soon"}},
		{"q=" + url.QueryEscape("иванов"), []string{"mine-overdue"}},
		{"tab=all&q=" + url.QueryEscape("әбенов"), []string{"rejected"}},
		{"q=" + url.QueryEscape("Maria.Ivanova@"), []string{"mine-overdue"}},
		{"q=" + typedRef, []string{"colleague-awaiting"}},
		{"q=nobody-has-this-name", nil},
		// Values no form offers are dropped, not refused.
		{"tab=nonsense&status=bogus&type=bogus", []string{"mine-overdue", "flagged-overdue", "mine-due-soon", "new-unassigned", "colleague-awaiting"}},
	}
	for _, tt := range tests {
		page := d.get(t, c, "/staff?"+tt.query)
		if got := d.rows(page); !slices.Equal(got, tt.want) {
			t.Errorf("%s lists %v, want %v", tt.query, got, tt.want)
		}
		if tt.want == nil && !strings.Contains(page, "Ни один запрос этой вкладки не подходит") {
			t.Errorf("%s: no empty-state sentence", tt.query)
		}
	}
	// The form keeps what was chosen, and the counts follow the filter.
	page := d.get(t, c, "/staff?type=access&q="+url.QueryEscape("иванов"))
	if !strings.Contains(page, `value="access" checked`) || !strings.Contains(page, `value="иванов"`) {
		t.Error("the filter form does not keep the chosen type and search")
	}
	if counts := tabCounts(page); counts[store.TabOpen] != "1" || counts[store.TabClosed] != "0" || counts[store.TabMine] != "1" {
		t.Errorf("counts under the filter: %v", counts)
	}
	// A date that is not one is said so, and not applied.
	page = d.get(t, c, "/staff?due_from=31.03.2026")
	if !strings.Contains(page, "Введите дату в виде ГГГГ-ММ-ДД") || len(d.rows(page)) != 5 {
		t.Error("a malformed date is neither reported nor ignored")
	}
	// The empty sentence of a tab without filters.
	inst := d.inst
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE requests SET assignee_id = $1 WHERE assignee_id IS NULL`, d.me.ID); err != nil {
		t.Fatal(err)
	}
	if page := d.get(t, c, "/staff?tab=unassigned"); !strings.Contains(page, "У всех открытых запросов есть исполнитель.") {
		t.Error("the unassigned tab has no empty-state sentence")
	}
	// A cursor this queue did not issue is a bad request, not a server error.
	if resp, _ := inst.Get(t, c, "/staff?after=bm90IGEgY3Vyc29y"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a forged cursor: %d", resp.StatusCode)
	}
}

func TestQueuePagesWalkEveryRowOnceBothWays(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "aigerim@school.example.kz", "Айгерим Агент", auth.Agent)
	now := inst.Clock.Now()
	// 123 open requests, many sharing a due date, so that the pages turn
	// inside a run of equal dates (the id breaks the tie).
	const n = 123
	want := map[string]bool{}
	for i := range n {
		id, err := testkit.AddRequest(context.Background(), inst.Pool, testkit.Req{
			ReceivedAt: now.Add(-time.Duration(i%7) * 24 * time.Hour), FullName: fmt.Sprintf("Person %d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		var ref string
		if err := inst.Pool.QueryRow(context.Background(), `SELECT reference FROM requests WHERE id = $1`, id).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		want[ref] = true
	}
	c := inst.SignIn(t, "aigerim@school.example.kz")
	refsOf := func(page string) []string {
		var out []string
		for _, m := range rowRef.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}

	var forward, pages []string
	path := "/staff"
	for range 10 {
		_, page := inst.Get(t, c, path)
		refs := refsOf(page)
		if len(refs) > 50 {
			t.Fatalf("a page of %d rows", len(refs))
		}
		forward = append(forward, refs...)
		pages = append(pages, strings.Join(refs, ","))
		m := nextLink.FindStringSubmatch(page)
		if m == nil {
			break
		}
		path = html.UnescapeString(m[1])
	}
	if len(pages) != 3 || len(forward) != n {
		t.Fatalf("%d pages, %d rows; want 3 pages, %d rows", len(pages), len(forward), n)
	}
	seen := map[string]bool{}
	for _, ref := range forward {
		if seen[ref] || !want[ref] {
			t.Errorf("%s twice or unexpected", ref)
		}
		seen[ref] = true
	}

	// Back from the last page with the previous links: the same pages.
	_, page := inst.Get(t, c, path)
	for i := len(pages) - 2; i >= 0; i-- {
		m := prevLink.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no previous link before page %d", i+1)
		}
		_, page = inst.Get(t, c, html.UnescapeString(m[1]))
		if got := strings.Join(refsOf(page), ","); got != pages[i] {
			t.Errorf("page %d going back differs from going forward", i+1)
		}
	}
	if prevLink.MatchString(page) {
		t.Error("the first page reached going back has a previous link")
	}
	// Links keep the filter: the second page of a type stays that type.
	_, page = inst.Get(t, c, "/staff?type=access")
	if m := nextLink.FindStringSubmatch(page); m == nil || !strings.Contains(html.UnescapeString(m[1]), "type=access") {
		t.Errorf("the next link drops the filter: %v", m)
	}
}

func TestAnAuditorViewsAndExportsTheQueue(t *testing.T) {
	d := newQueueDesk(t)
	auditor := d.inst.SignIn(t, "auditor@school.example.kz")
	page := d.get(t, auditor, "/staff?type=access")
	m := regexp.MustCompile(`<a href="(/staff/export\.csv[^"]*)" download>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no export link on the queue")
	}
	link := html.UnescapeString(m[1])
	if link != "/staff/export.csv?type=access" {
		t.Errorf("export link %q does not carry the filter", link)
	}

	check := func(path string, want []string) {
		t.Helper()
		resp, body := d.inst.Get(t, auditor, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("export %s: %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="rightsdesk-requests-2026-03-02.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix([]byte(body), []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(records[0], store.ExportColumns) {
			t.Errorf("header %v", records[0])
		}
		var got []string
		for _, rec := range records[1:] {
			got = append(got, d.names[rec[0]])
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("export %s: %v, want %v", path, got, want)
		}
	}
	check(link, []string{"mine-overdue", "new-unassigned"})
	check("/staff/export.csv?tab=all", []string{"completed", "rejected", "mine-overdue", "flagged-overdue", "mine-due-soon",
		"new-unassigned", "colleague-awaiting"})
	if resp, _ := d.inst.Get(t, auditor, "/staff/export.csv?due_from=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("export with a malformed date: %d", resp.StatusCode)
	}

	// Each export is in the log with the auditor's id, the filter and the
	// number of rows, and without the search text.
	var auditorID int64
	if err := d.inst.Pool.QueryRow(context.Background(), `SELECT id FROM staff WHERE email = 'auditor@school.example.kz'`).Scan(&auditorID); err != nil {
		t.Fatal(err)
	}
	exports := staffEvents(t, d.inst, "export")
	if len(exports) != 2 {
		t.Fatalf("%d export events, want 2", len(exports))
	}
	if e := exports[0]; e.Actor != "staff" || e.ActorID != auditorID || dataID(e, "rows") != 2 || fmt.Sprint(e.Data["types"]) != "[access]" {
		t.Errorf("first export event: %+v", e)
	}
	if e := exports[1]; dataID(e, "rows") != 7 || e.Data["tab"] != "all" {
		t.Errorf("second export event: %+v", e)
	}
	// The auditor still changes nothing: the queue has no forms that write.
	if strings.Contains(page, `method="post" action="/staff/requests`) {
		t.Error("the auditor's queue offers a write")
	}
}

func TestQueueAndDashboardRenderInEveryLanguage(t *testing.T) {
	d := newQueueDesk(t)
	for _, lang := range []string{"ru", "kk", "en"} {
		c := d.inst.SignIn(t, "aigerim@school.example.kz")
		d.inst.Get(t, c, "/lang/"+lang)
		for _, tab := range store.Tabs() {
			page := d.get(t, c, "/staff?tab="+string(tab))
			if !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: wrong language", lang, tab)
			}
		}
		d.get(t, c, "/staff?q=nothing-matches")
		d.get(t, c, "/staff?due_from=bad")
		page := d.get(t, c, "/staff/dashboard")
		if !strings.Contains(page, `<html lang="`+lang+`">`) || !strings.Contains(page, "<svg") {
			t.Errorf("%s dashboard: wrong language or no chart", lang)
		}
		d.get(t, c, "/staff/dashboard?year=2020")
	}
}

// A search that matches more requests than store.SearchCap is not counted
// tab by tab: the page says so, in words a screen reader reads too, the tab
// bar shows no figures, and the page still lists its rows in due order. A
// narrower search is counted again.
func TestASearchTooBroadToCountSaysSoAndStillLists(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "aigerim@school.example.kz", "Айгерим Агент", auth.Agent)
	now := inst.Clock.Now()
	for i := range store.SearchCap + 1 {
		due := now.Add(time.Duration(i) * time.Hour)
		if _, err := testkit.AddRequest(context.Background(), inst.Pool, testkit.Req{Type: request.Access,
			FullName: "Ерлан Широков", ReceivedAt: due.AddDate(0, 0, -30), DueAt: due}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testkit.AddRequest(context.Background(), inst.Pool, testkit.Req{Type: request.Erasure,
		FullName: "Ерлан Узкий", ReceivedAt: now.AddDate(0, 0, -29), DueAt: now.AddDate(0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	c := inst.SignIn(t, "aigerim@school.example.kz")
	get := func(path string) string {
		t.Helper()
		resp, page := inst.Get(t, c, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return page
	}
	page := get("/staff?q=" + url.QueryEscape("широков"))
	if !strings.Contains(page, `role="status" id="search-too-broad">Под этот поиск подходит более 500 запросов`) {
		t.Error("a search too broad to count does not say so")
	}
	if counts := tabCounts(page); len(counts) != 0 {
		t.Errorf("a search too broad to count shows counts: %v", counts)
	}
	if rows := rowRef.FindAllStringSubmatch(page, -1); len(rows) != 50 || nextLink.FindString(page) == "" {
		t.Errorf("a search too broad to count lists %d rows (next page: %q), want a full page and a next one",
			len(rows), nextLink.FindString(page))
	}
	page = get("/staff?q=" + url.QueryEscape("ерлан узкий"))
	if strings.Contains(page, "search-too-broad") {
		t.Error("a narrow search says it is too broad")
	}
	if counts := tabCounts(page); counts[store.TabOpen] != "1" || counts[store.TabClosed] != "0" {
		t.Errorf("a narrow search's counts: %v", counts)
	}
	// The broad search is remembered (store.probeMatches): seen again it
	// says so again; once two of its requests lose their terms (their
	// names corrected) it matches SearchCap-1 and is counted exactly.
	if page = get("/staff?q=" + url.QueryEscape("широков")); !strings.Contains(page, `id="search-too-broad"`) {
		t.Error("a broad search seen a second time does not say it is too broad")
	}
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE requests SET search_index = '{}'
		WHERE id IN (SELECT id FROM requests WHERE type = 'access' ORDER BY id LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	page = get("/staff?q=" + url.QueryEscape("широков"))
	if strings.Contains(page, "search-too-broad") {
		t.Error("a search that fell within the cap still says it is too broad")
	}
	if counts := tabCounts(page); counts[store.TabOpen] != fmt.Sprint(store.SearchCap-1) {
		t.Errorf("a search that fell within the cap counts %v, want %d open", counts, store.SearchCap-1)
	}
}
