package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
)

// StaffHomeSource lists what the staff home page shows. For now the open
// requests by due date; the queue replaces this handler and its source.
type StaffHomeSource interface {
	StaffHomeRequests(ctx context.Context, limit int) ([]request.Request, error)
}

const staffHomeLimit = 50

type staffHomeRow struct {
	Reference, Type, Status, Due, DaysLeft string
	Overdue                                bool
}

func (s *Server) staffHome(c echo.Context) error {
	rs, err := s.home.StaffHomeRequests(c.Request().Context(), staffHomeLimit)
	if err != nil {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	now := s.clock.Now()
	rows := make([]staffHomeRow, 0, len(rs))
	for _, r := range rs {
		rows = append(rows, staffHomeRow{
			Reference: r.Reference,
			Type:      p.T("type." + string(r.Type) + ".name"),
			Status:    p.T("staff.status." + string(r.Status)),
			Due:       p.Date(r.DueAt.In(s.cfg.Location)),
			DaysLeft:  daysLeftText(p, now, r.DueAt, s.cfg.Location),
			Overdue:   now.After(r.DueAt),
		})
	}
	return s.renderStaff(c, http.StatusOK, "home", p.T("staff.home.title"), map[string]any{"Rows": rows, "Limit": staffHomeLimit})
}
