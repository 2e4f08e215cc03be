package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// staffExport streams the requests of the queue's current filter (the same
// query parameters as /staff, cursors ignored) as CSV, and logs who exported
// what. The file is written row by row as the database returns them, so a
// million requests never sit in memory.
func (s *Server) staffExport(c echo.Context) error {
	form, errs := parseQueueForm(c.QueryParams())
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "export filter")
	}
	me := staffOf(c)
	now := s.clock.Now()
	f := form.filter(me.ID, now, s.cfg.Location)

	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition,
		`attachment; filename="rightsdesk-requests-`+now.In(s.cfg.Location).Format(dateLayout)+`.csv"`)
	h.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)

	ctx := c.Request().Context()
	rows, exportErr := s.home.ExportCSV(ctx, f, s.cfg.Location, c.Response())
	// The export is logged with the rows actually sent, also when it broke
	// off (the client left, the database failed): those rows were seen. The
	// log must not depend on the client staying, hence WithoutCancel.
	if err := s.home.RecordExport(context.WithoutCancel(ctx), me.ID, f, rows, now); err != nil {
		s.log.ErrorContext(ctx, "record export", "error", err, "staff_id", me.ID, "rows", rows, "request_id", requestIDOf(c))
	}
	if exportErr != nil {
		// The headers are gone: the file is simply cut short. Say so in the log.
		s.log.ErrorContext(ctx, "export broke off", "error", exportErr, "staff_id", me.ID, "rows", rows, "request_id", requestIDOf(c))
	}
	return nil
}
