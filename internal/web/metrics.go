package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics records each answered request (internal/metrics implements it);
// nil records nothing.
type Metrics interface {
	ObserveHTTP(method, route string, status int, d time.Duration)
}

// unmatchedRoute labels requests that matched no route: their path is
// whatever the client sent and must never become a label.
const unmatchedRoute = "unmatched"

// knownMethods keeps the method label a closed set whatever clients send.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observe times every request for the metrics, by route pattern (never the
// path: status links hold secret tokens) and status. It runs outside
// accessLog, which has turned any error into the answer by the time it
// returns, so the status is the one the client got.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	if s.metrics == nil {
		return next
	}
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if !s.routePatterns[route] {
			route = unmatchedRoute
		}
		method := c.Request().Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		s.metrics.ObserveHTTP(method, route, c.Response().Status, time.Since(start))
		return err
	}
}
