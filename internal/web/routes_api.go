package web

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"rightsdesk/internal/auth"
)

// accessAPIKey is the access level of staff API routes: a bearer API key
// whose role holds the permission that follows. Cookies never count there.
const accessAPIKey = "apikey:"

// apiRoutes is every door of the staff JSON API, each with the permission
// its key's role needs (the same table as the staff workspace), and the
// admin pages that manage API keys and webhooks.
func (s *Server) apiRoutes() []route {
	limit := middleware.BodyLimit(s.cfg.APIBodyLimit)
	// key is a route for a bearer API key whose role holds perm. No CSRF:
	// nothing a browser sends on its own (cookies) authenticates it.
	key := func(method, path string, h echo.HandlerFunc, perm auth.Perm) route {
		return route{method, path, accessAPIKey + string(perm), h, []echo.MiddlewareFunc{limit, s.requireAPIKey(perm)}}
	}
	// pm is a staff workspace page, as in staffRoutes.
	formLimit, csrf := middleware.BodyLimit(s.cfg.FormBodyLimit), s.csrf()
	pm := func(method, path string, h echo.HandlerFunc, perm auth.Perm) route {
		return route{method, path, accessStaff + string(perm), h,
			[]echo.MiddlewareFunc{formLimit, s.staffSession, s.requireStaff(perm), csrf}}
	}
	return []route{
		{"GET", "/api/v1/openapi.json", accessPublic, s.apiOpenAPI, nil},

		key("GET", "/api/v1/requests", s.apiListRequests, auth.PermRequestsRead),
		key("GET", "/api/v1/requests/:reference", s.apiGetRequest, auth.PermRequestsRead),
		key("POST", "/api/v1/requests/:reference/transitions", s.apiTransition, auth.PermRequestsWork),
		key("POST", "/api/v1/requests/:reference/assign", s.apiAssign, auth.PermRequestsWork),
		key("POST", "/api/v1/requests/:reference/notes", s.apiAddNote, auth.PermRequestsWork),
		key("POST", "/api/v1/requests/:reference/identity", s.apiRecordIdentity, auth.PermRequestsWork),

		pm("GET", "/staff/apikeys", s.staffAPIKeys, auth.PermStaffManage),
		pm("POST", "/staff/apikeys", s.staffCreateAPIKey, auth.PermStaffManage),
		pm("POST", "/staff/apikeys/:id/revoke", s.staffRevokeAPIKey, auth.PermStaffManage),
		pm("GET", "/staff/webhooks", s.staffWebhooks, auth.PermStaffManage),
		pm("POST", "/staff/webhooks", s.staffCreateWebhook, auth.PermStaffManage),
		pm("POST", "/staff/webhooks/:id/disable", s.staffDisableWebhook, auth.PermStaffManage),
	}
}
