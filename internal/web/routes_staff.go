package web

import (
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"rightsdesk/internal/auth"
)

// staffRoutes is every door of the staff workspace, each with the
// permission it needs (see auth.Can for who holds which). Sign-in and the
// invitation link are open: they are how one becomes signed in.
func (s *Server) staffRoutes() []route {
	limit := middleware.BodyLimit(s.cfg.FormBodyLimit)
	csrf := s.csrf()
	open := func(method, path string, h echo.HandlerFunc) route {
		return route{method, path, accessPublic, h, []echo.MiddlewareFunc{limit, s.staffSession, csrf}}
	}
	// pm is a route for signed-in staff whose role holds perm.
	pm := func(method, path string, h echo.HandlerFunc, perm auth.Perm) route {
		return route{method, path, accessStaff + string(perm), h,
			[]echo.MiddlewareFunc{limit, s.staffSession, s.requireStaff(perm), csrf}}
	}
	// pmUpload is pm for a form that carries a response file.
	pmUpload := func(method, path string, h echo.HandlerFunc, perm auth.Perm) route {
		r := pm(method, path, h, perm)
		r.mw[0] = middleware.BodyLimit(strconv.Itoa(maxResponseBody))
		return r
	}
	return []route{
		open("GET", "/staff/login", s.staffLoginPage),
		open("POST", "/staff/login", s.staffLogin),
		open("GET", "/staff/login/code", s.staffCodePage),
		open("POST", "/staff/login/code", s.staffCode),
		open("GET", "/staff/password/:token", s.staffPasswordPage),
		open("POST", "/staff/password/:token", s.staffPassword),

		pm("GET", "/staff", s.staffHome, auth.PermRequestsRead),
		pm("GET", "/staff/export.csv", s.staffExport, auth.PermRequestsRead),
		pm("GET", "/staff/dashboard", s.staffDashboard, auth.PermRequestsRead),

		pm("GET", "/staff/requests/:reference", s.staffRequest, auth.PermRequestsRead),
		pm("GET", "/staff/requests/:reference/files/:id", s.staffRequestFile, auth.PermRequestsRead),
		pm("POST", "/staff/requests/:reference/assign", s.staffRequestAssign, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/start", s.staffRequestStart, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/ask", s.staffRequestAsk, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/extend", s.staffRequestExtend, auth.PermRequestsWork),
		pmUpload("POST", "/staff/requests/:reference/complete", s.staffRequestComplete, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/reject", s.staffRequestReject, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/notes", s.staffRequestNote, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/identity", s.staffRequestIdentity, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/emails/:id/retry", s.staffRequestRetry, auth.PermRequestsWork),
		pm("POST", "/staff/requests/:reference/recompute", s.staffRequestRecompute, auth.PermDeadlinesRecompute),

		pm("POST", "/staff/logout", s.staffLogout, auth.PermSelf),
		pm("GET", "/staff/account", s.staffAccount, auth.PermSelf),
		pm("POST", "/staff/account/totp", s.staffTOTPStart, auth.PermSelf),
		pm("POST", "/staff/account/totp/confirm", s.staffTOTPConfirm, auth.PermSelf),
		pm("POST", "/staff/account/totp/disable", s.staffTOTPDisable, auth.PermSelf),
		pm("POST", "/staff/account/signout-everywhere", s.staffSignOutEverywhere, auth.PermSelf),

		pm("GET", "/staff/users", s.staffUsers, auth.PermStaffRead),
		pm("POST", "/staff/users", s.staffInvite, auth.PermStaffManage),
		pm("POST", "/staff/users/:id/role", s.staffSetRole, auth.PermStaffManage),
		pm("POST", "/staff/users/:id/disable", s.staffDisable, auth.PermStaffManage),
		pm("POST", "/staff/users/:id/enable", s.staffEnable, auth.PermStaffManage),
		pm("POST", "/staff/users/:id/signout", s.staffEndSessions, auth.PermStaffManage),
	}
}
