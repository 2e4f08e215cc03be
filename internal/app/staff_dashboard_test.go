package app_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

var (
	tableRow  = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	tableCell = regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	anyTag    = regexp.MustCompile(`<[^>]+>`)
)

// tableRows reads the body and foot rows of the table with the given id as
// cell texts.
func tableRows(t *testing.T, page, id string) [][]string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `id="`+id+`"`)
	if !ok {
		t.Fatalf("no table %s", id)
	}
	table, _, _ := strings.Cut(rest, "</table>")
	_, body, _ := strings.Cut(table, "</thead>")
	var out [][]string
	for _, r := range tableRow.FindAllStringSubmatch(body, -1) {
		var cells []string
		for _, c := range tableCell.FindAllStringSubmatch(r[1], -1) {
			cells = append(cells, strings.TrimSpace(html.UnescapeString(anyTag.ReplaceAllString(c[1], ""))))
		}
		out = append(out, cells)
	}
	return out
}

// TestDashboardFiguresMatchAHandCountedCaseload builds a caseload whose
// figures are counted by hand below (now is 2 March 2026, 10:00 in Almaty;
// days are calendar days there):
//
//	access   new          received 2026-01-30, due 1 March: overdue
//	erasure  in progress  received 2026-02-02, due 4 March: due this week
//	access   new          received 2026-02-20, due 22 March
//	access   completed    received 2026-01-10, closed 2026-01-20: 10 days, on time
//	access   completed    received 2025-12-01, due 2025-12-31, closed 2026-01-05: 35 days, late
//	erasure  rejected     received 2026-02-01, closed 2026-02-04: 3 days, on time
//	objection withdrawn   received 2026-02-10, closed 2026-02-11: not an answer
func TestDashboardFiguresMatchAHandCountedCaseload(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "auditor@school.example.kz", "Аудитор Проверяев", auth.Auditor)
	at := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 10, 0, 0, 0, inst.Config.Location)
	}
	for _, r := range []testkit.Req{
		{Type: request.Access, Status: request.New, ReceivedAt: at(2026, 1, 30)},
		{Type: request.Erasure, Status: request.InProgress, ReceivedAt: at(2026, 2, 2)},
		{Type: request.Access, Status: request.New, ReceivedAt: at(2026, 2, 20)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2026, 1, 10), ClosedAt: at(2026, 1, 20)},
		{Type: request.Access, Status: request.Completed, ReceivedAt: at(2025, 12, 1), ClosedAt: at(2026, 1, 5)},
		{Type: request.Erasure, Status: request.Rejected, ReceivedAt: at(2026, 2, 1), ClosedAt: at(2026, 2, 4)},
		{Type: request.Objection, Status: request.Withdrawn, ReceivedAt: at(2026, 2, 10), ClosedAt: at(2026, 2, 11)},
	} {
		if _, err := testkit.AddRequest(context.Background(), inst.Pool, r); err != nil {
			t.Fatal(err)
		}
	}
	p := inst.App.Catalog.Printer(request.Russian)
	name := func(typ request.Type) string { return p.T("type." + string(typ) + ".name") }
	c := inst.SignIn(t, "auditor@school.example.kz") // an auditor may read the dashboard
	resp, page := inst.Get(t, c, "/staff/dashboard")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}

	// Now: 3 open, 1 overdue, 1 due within the week.
	for label, want := range map[string]string{"Открытые запросы": "3", "Просроченные": "1", "Срок в ближайшие 7 дней": "1"} {
		if !regexp.MustCompile(label + `</a></dt><dd>` + want + `</dd>`).MatchString(page) {
			t.Errorf("%s is not %s", label, want)
		}
	}
	// The twelve months: answers of 3, 10 and 35 days, two on time.
	if !strings.Contains(page, "<dd>67\u00a0% <span class=\"of\">(2 из 3)</span></dd>") || !strings.Contains(page, "Медиана дней до ответа</dt><dd>10</dd>") {
		t.Error("the twelve months' on-time rate or median is wrong")
	}
	months := tableRows(t, page, "by-month")
	if len(months) != 12 || months[0][0] != "апрель 2025" || months[11][0] != "март 2026" {
		t.Fatalf("months: %v", months)
	}
	wantMonths := map[string][]string{
		"декабрь 2025": {"декабрь 2025", "1", "0", "—", "—"},
		"январь 2026":  {"январь 2026", "2", "2", "50\u00a0%", "22,5"},
		"февраль 2026": {"февраль 2026", "4", "1", "100\u00a0%", "3"},
		"март 2026":    {"март 2026", "0", "0", "—", "—"},
	}
	for _, m := range months {
		if want, ok := wantMonths[m[0]]; ok && !slices.Equal(m, want) {
			t.Errorf("month row %v, want %v", m, want)
		}
	}
	wantTypes := [][]string{
		{name(request.Access), "2", "50\u00a0%", "22,5"},
		{name(request.Erasure), "1", "100\u00a0%", "3"},
		{"Всего", "3", "67\u00a0%", "10"},
	}
	if got := tableRows(t, page, "by-type"); !slices.EqualFunc(got, wantTypes, slices.Equal) {
		t.Errorf("by type: %v, want %v", got, wantTypes)
	}
	// The chart: a title, a bar per month with its figure.
	if !strings.Contains(page, `<title id="chart-title">Полученные запросы по месяцам</title>`) ||
		strings.Count(page, `<g class="bar">`) != 12 || !strings.Contains(page, "<title>февраль 2026: 4</title>") {
		t.Error("the chart is missing its title or bars")
	}

	// The year 2026, for a disclosure report: received by the day in, outcomes
	// by the day closed (the late answer to a December request counts here).
	wantYear := [][]string{
		{name(request.Access), "3", "2", "0", "0", "50\u00a0%", "22,5"},
		{name(request.Erasure), "2", "0", "1", "0", "100\u00a0%", "3"},
		{name(request.Objection), "1", "0", "0", "1", "—", "—"},
		{"Всего", "6", "2", "1", "1", "67\u00a0%", "10"},
	}
	if got := tableRows(t, page, "year-table"); !slices.EqualFunc(got, wantYear, slices.Equal) {
		t.Errorf("year 2026: %v, want %v", got, wantYear)
	}
	_, page = inst.Get(t, c, "/staff/dashboard?year=2025")
	wantYear = [][]string{
		{name(request.Access), "1", "0", "0", "0", "—", "—"},
		{"Всего", "1", "0", "0", "0", "—", "—"},
	}
	if got := tableRows(t, page, "year-table"); !slices.EqualFunc(got, wantYear, slices.Equal) {
		t.Errorf("year 2025: %v, want %v", got, wantYear)
	}
	if !strings.Contains(page, `<option value="2025" selected>`) {
		t.Error("the year picker does not show the chosen year")
	}
	for _, bad := range []string{"1999", "2027", "twenty"} {
		if resp, _ := inst.Get(t, c, "/staff/dashboard?year="+bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("year=%s: %d", bad, resp.StatusCode)
		}
	}
}
