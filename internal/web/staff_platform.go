package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// platformRow is one operator on the platform page: its name and address
// and figures, never a request, a name, an address or a file of it.
type platformRow struct {
	Slug, Name, BaseURL string
	Open, Overdue, DueSoon,
	Received, Closed, Unsent string
	// Failed is set when its figures could not be read (the others are
	// shown all the same).
	Failed bool
	// Member is the account's role there when it is a member of it (then
	// the switcher's button takes it there); "" otherwise.
	Member string
}

// staffPlatform lists every operator of the deployment with its counts,
// each read under that operator's own scope (Operators.Counts), for an
// account of the platform role (issue 15). A member of an operator reaches
// its requests through the switcher, as any member does; this page opens
// none.
func (s *Server) staffPlatform(c echo.Context) error {
	if s.operators == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	p := s.catalog.Printer(localeOf(c))
	now := s.clock.Now()
	member := map[string]string{}
	for _, sw := range s.switchTargets(c, staffOf(c)) {
		member[sw.Slug] = p.T("staff.role." + string(sw.Role))
	}
	var rows []platformRow
	for _, op := range s.operators.All() {
		row := platformRow{Slug: op.Slug, Name: op.Name, BaseURL: op.BaseURL, Member: member[op.Slug]}
		n, err := s.operators.Counts(ctx, op.ID, now)
		if err != nil {
			s.log.WarnContext(ctx, "count an operator's requests", "operator", op.Slug, "error", err, "request_id", requestIDOf(c))
			row.Failed = true
		} else {
			row.Open, _ = countWords(p, n.Open)
			row.Overdue, _ = countWords(p, n.Overdue)
			row.DueSoon, _ = countWords(p, n.DueSoon)
			row.Received = groupDigits(p.Locale(), n.Received)
			row.Closed = groupDigits(p.Locale(), n.Closed)
			row.Unsent = groupDigits(p.Locale(), n.Unsent)
		}
		rows = append(rows, row)
	}
	return s.renderStaff(c, http.StatusOK, "platform", p.T("staff.platform.title"), rows)
}
