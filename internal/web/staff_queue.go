package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// QueueSource is what the queue, its CSV export and the dashboard read.
type QueueSource interface {
	FindSearch(ctx context.Context, f store.QueueFilter) (store.QueueFilter, error)
	Queue(ctx context.Context, f store.QueueFilter, p store.Page) (store.QueuePage, error)
	QueueCounts(ctx context.Context, f store.QueueFilter) (map[store.Tab]int, error)
	QueueCount(ctx context.Context, f store.QueueFilter) (int, error)
	ExportCSV(ctx context.Context, f store.QueueFilter, loc *time.Location, w io.Writer) (int, error)
	RecordExport(ctx context.Context, staffID int64, f store.QueueFilter, rows int, at time.Time) error
	Dashboard(ctx context.Context, now time.Time, loc *time.Location, year int) (store.Dashboard, error)
}

// queuePageSize is how many requests one page of the queue lists.
const queuePageSize = store.DefaultPageSize

// dateLayout is how the filter's date fields (input type=date) write a day.
const dateLayout = "2006-01-02"

// queueForm is the queue's filter as staff set it in the query string. The
// same parameters drive the page, its tab links, its pages and the export,
// so that a bookmark or an export link means exactly what the page showed.
type queueForm struct {
	Tab      store.Tab
	Statuses []string
	Types    []string
	Assignee string // "" anyone, "nobody", or a staff id
	DueFrom  string // YYYY-MM-DD, in the operator's time zone
	DueTo    string // YYYY-MM-DD, inclusive
	Q        string
	// Steps is "failed" to keep the requests whose answer from the data map
	// has a step that failed ("gathering failed"), "" for any.
	Steps string
}

// parseQueueForm reads the filter from the query string. Values no form
// offers (an unknown status, type or tab) are dropped; dates that cannot be
// read are reported in errs (field → message key) and not applied.
func parseQueueForm(q url.Values) (queueForm, map[string]string) {
	f := queueForm{Tab: store.TabOpen, Q: strings.TrimSpace(q.Get("q"))}
	if q.Get("steps") == "failed" {
		f.Steps = "failed"
	}
	if t := store.Tab(q.Get("tab")); slices.Contains(store.Tabs(), t) {
		f.Tab = t
	}
	for _, st := range q["status"] {
		if slices.Contains(request.Statuses(), request.Status(st)) && !slices.Contains(f.Statuses, st) {
			f.Statuses = append(f.Statuses, st)
		}
	}
	for _, t := range q["type"] {
		if request.Type(t).Valid() && !slices.Contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	if a := q.Get("assignee"); a == "nobody" {
		f.Assignee = a
	} else if id, err := strconv.ParseInt(a, 10, 64); err == nil && id > 0 {
		f.Assignee = a
	}
	errs := map[string]string{}
	for _, d := range []struct {
		name string
		into *string
	}{{"due_from", &f.DueFrom}, {"due_to", &f.DueTo}} {
		v := strings.TrimSpace(q.Get(d.name))
		if v == "" {
			continue
		}
		if _, err := time.Parse(dateLayout, v); err != nil {
			errs[d.name] = "staff.queue.filter.bad_date"
			continue
		}
		*d.into = v
	}
	return f, errs
}

// filter turns the form into the store's filter, for the staff member me at
// now; dates are whole days in loc, the last one included.
func (f queueForm) filter(me int64, now time.Time, loc *time.Location) store.QueueFilter {
	out := store.QueueFilter{Tab: f.Tab, Now: now, StaffID: me, Search: f.Q, StepFailed: f.Steps == "failed"}
	for _, st := range f.Statuses {
		out.Statuses = append(out.Statuses, request.Status(st))
	}
	for _, t := range f.Types {
		out.Types = append(out.Types, request.Type(t))
	}
	switch f.Assignee {
	case "":
	case "nobody":
		out.Unassigned = true
	default:
		out.AssigneeID, _ = strconv.ParseInt(f.Assignee, 10, 64)
	}
	if d, err := time.ParseInLocation(dateLayout, f.DueFrom, loc); err == nil {
		out.DueFrom = d
	}
	if d, err := time.ParseInLocation(dateLayout, f.DueTo, loc); err == nil {
		out.DueTo = d.AddDate(0, 0, 1)
	}
	return out
}

// values writes the form back as query parameters; the tab is left out when
// it is the default, so that the plain queue keeps its plain address.
func (f queueForm) values() url.Values {
	v := url.Values{}
	if f.Tab != store.TabOpen {
		v.Set("tab", string(f.Tab))
	}
	v["status"] = f.Statuses
	v["type"] = f.Types
	for name, val := range map[string]string{"assignee": f.Assignee, "due_from": f.DueFrom, "due_to": f.DueTo, "q": f.Q, "steps": f.Steps} {
		if val != "" {
			v.Set(name, val)
		}
	}
	return v
}

// filtered reports whether anything narrows the tab.
func (f queueForm) filtered() bool {
	return len(f.Statuses) > 0 || len(f.Types) > 0 || f.Assignee != "" || f.DueFrom != "" || f.DueTo != "" || f.Q != "" || f.Steps != ""
}

func withQuery(path string, v url.Values) string {
	if q := v.Encode(); q != "" {
		return path + "?" + q
	}
	return path
}

// queueView is what the queue page shows.
type queueView struct {
	Form       queueForm
	Errors     map[string]string // field → message, for the date fields
	Filtered   bool
	Tabs       []queueTabView
	Current    queueTabView
	Rows       []queueRowView
	Empty      string // the sentence shown instead of an empty table
	NextURL    string
	PrevURL    string
	ExportURL  string
	ResetURL   string
	Statuses   []queueOption
	Types      []queueOption
	Assignees  []queueOption
	AnyChecked bool // a status or type box is ticked: the filter panel opens
	// StepsFailed is the "gathering failed" filter, with the number of open
	// requests it keeps; nil without a data map.
	StepsFailed *queueTabView
	// TooBroad says, when the search matches too many requests to count by
	// tab (store.SearchTooBroad), that the counts are left out and how to
	// narrow it; empty otherwise.
	TooBroad string
}

type queueTabView struct {
	Key       store.Tab
	Label     string
	Count     string // as shown: "12", "1 000+"
	CountText string // the same for a screen reader: "more than 1 000"
	URL       string
	Current   bool
}

type queueRowView struct {
	Reference, Name, Type, Status string
	Due, DaysLeft, DueClass       string
	Assignee                      string // empty when nobody
	OnBehalf, Duplicate, Failed   bool
}

type queueOption struct {
	Value, Label string
	Selected     bool
}

// staffHome is the queue: tabs with counts, filters, search, one page of
// requests by due date, and links to the pages before and after it.
func (s *Server) staffHome(c echo.Context) error {
	ctx := c.Request().Context()
	p := s.catalog.Printer(localeOf(c))
	me := staffOf(c)
	now := s.clock.Now()
	loc := s.cfg.Location
	query := c.QueryParams()

	form, errs := parseQueueForm(query)
	// The search's matches are read once for the page, its counts and the
	// failed-steps link.
	f, err := s.home.FindSearch(ctx, form.filter(me.ID, now, loc))
	if err != nil {
		return err
	}
	page, err := s.home.Queue(ctx, f, store.Page{After: query.Get("after"), Before: query.Get("before"), Limit: queuePageSize})
	if errors.Is(err, store.ErrInvalidCursor) {
		return echo.NewHTTPError(http.StatusBadRequest, "page cursor").SetInternal(err)
	}
	if err != nil {
		return err
	}
	counts, err := s.home.QueueCounts(ctx, f)
	if err != nil {
		return err
	}
	staff, err := s.deskStore.ListStaff(ctx)
	if err != nil {
		return err
	}

	v := queueView{Form: form, Errors: map[string]string{}, Filtered: form.filtered()}
	for field, key := range errs {
		v.Errors[field] = p.T(key)
	}
	for _, tab := range store.Tabs() {
		t := form
		t.Tab = tab
		tv := queueTabView{Key: tab, Label: p.T("staff.queue.tab." + string(tab)), URL: withQuery("/staff", t.values()),
			Current: tab == form.Tab}
		tv.Count, tv.CountText = countWords(p, counts[tab])
		if store.SearchTooBroad(counts[tab]) {
			v.TooBroad = p.T("staff.queue.search.too_broad", "N", groupDigits(p.Locale(), store.SearchCap))
		}
		v.Tabs = append(v.Tabs, tv)
		if tv.Current {
			v.Current = tv
		}
	}
	for _, r := range page.Rows {
		v.Rows = append(v.Rows, queueRow(p, r, now, loc))
	}
	if len(v.Rows) == 0 {
		v.Empty = p.T("staff.queue.empty." + string(form.Tab))
		if v.Filtered {
			v.Empty = p.T("staff.queue.empty.filtered")
		}
	}
	if page.Next != "" {
		q := form.values()
		q.Set("after", page.Next)
		v.NextURL = withQuery("/staff", q)
	}
	if page.Prev != "" {
		q := form.values()
		q.Set("before", page.Prev)
		v.PrevURL = withQuery("/staff", q)
	}
	v.ExportURL = withQuery("/staff/export.csv", form.values())
	reset := queueForm{Tab: form.Tab}
	v.ResetURL = withQuery("/staff", reset.values())

	for _, st := range request.Statuses() {
		v.Statuses = append(v.Statuses, queueOption{string(st), p.T("staff.status." + string(st)), slices.Contains(form.Statuses, string(st))})
	}
	for _, t := range request.AllTypes() {
		v.Types = append(v.Types, queueOption{string(t), p.T("type." + string(t) + ".name"), slices.Contains(form.Types, string(t))})
	}
	v.Assignees = append(v.Assignees,
		queueOption{"", p.T("staff.queue.filter.anyone"), form.Assignee == ""},
		queueOption{"nobody", p.T("staff.queue.filter.nobody"), form.Assignee == "nobody"})
	for _, st := range staff {
		id := strconv.FormatInt(st.ID, 10)
		v.Assignees = append(v.Assignees, queueOption{id, st.Name, form.Assignee == id})
	}
	v.AnyChecked = len(form.Statuses) > 0 || len(form.Types) > 0 || form.Assignee != "" || form.DueFrom != "" || form.DueTo != ""

	if s.fulfil != nil {
		// How many of what the page lists (its tab and filters) have a
		// step that failed: the link keeps them all and adds this one.
		g := f
		g.StepFailed = true
		n, err := s.home.QueueCount(ctx, g)
		if err != nil {
			return err
		}
		t := form
		t.Steps = "failed"
		if form.Steps != "" {
			t.Steps = ""
		}
		sv := &queueTabView{Label: p.T("staff.queue.steps_failed"), URL: withQuery("/staff", t.values()), Current: form.Steps != ""}
		sv.Count, sv.CountText = countWords(p, n)
		v.StepsFailed = sv
	}

	title := p.T("staff.queue.title." + string(form.Tab))
	return s.renderStaff(c, http.StatusOK, "home", title, v)
}

// queueRow describes one request for the queue's table.
func queueRow(p *i18n.Printer, r store.QueueRow, now time.Time, loc *time.Location) queueRowView {
	v := queueRowView{
		Reference: r.Reference, Name: r.FullName,
		Type:     p.T("type." + string(r.Type) + ".name"),
		Status:   p.T("staff.status." + string(r.Status)),
		Due:      p.Date(r.DueAt.In(loc)),
		Assignee: r.AssigneeName,
		OnBehalf: r.OnBehalf, Duplicate: r.DuplicateOf != 0, Failed: r.EmailFailed,
	}
	v.DaysLeft, v.DueClass = dueInWords(p, now, request.Request{Status: r.Status, DueAt: r.DueAt}, loc)
	return v
}

// countWords writes a tab count as shown and as read aloud: a count past
// store.CountCap is "1 000+", "more than 1 000"; a count not taken (a search
// too broad to count, store.SearchTooBroad) is nothing, the page saying why
// once (queueView.TooBroad).
func countWords(p *i18n.Printer, n int) (shown, spoken string) {
	if store.SearchTooBroad(n) {
		return "", ""
	}
	if store.CountCapped(n) {
		capped := groupDigits(p.Locale(), store.CountCap)
		return p.T("staff.queue.count.capped", "N", capped), p.T("staff.queue.count.capped_text", "N", capped)
	}
	shown = groupDigits(p.Locale(), n)
	return shown, shown
}

// groupDigits writes n with its thousands grouped as the language does:
// "10 000" (a no-break space) in Russian and Kazakh, "10,000" in English.
func groupDigits(l request.Locale, n int) string {
	sep := "\u00a0"
	if l == request.English {
		sep = ","
	}
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
