package web

import (
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"rightsdesk/internal/auth"
)

// Access levels. Every route states one; tests walk the table (internal/app)
// so that a route without a decision fails, and check the OpenAPI document
// against the API routes.
const (
	accessPublic = "public" // anyone
	accessDev    = "dev"    // only when no SMTP server is configured, only from this machine
	accessStaff  = "staff:" // signed-in staff whose role holds the permission that follows
	// accessAPIKey is a bearer API key whose role holds the permission that
	// follows. Cookies never count there.
	accessAPIKey = "apikey:"
	// accessPublicOrAPIKey is anyone, or, when an API key is sent, a key
	// whose role holds the permission that follows. A key that is sent is
	// always checked: a bad one is refused, never taken for no key at all.
	accessPublicOrAPIKey = "public+apikey:"
)

// door is who may open a route and what stands in front of its handler:
// an access level and its middleware chain, always named together.
type door struct {
	access string
	chain  []echo.MiddlewareFunc
}

type route struct {
	method, path string
	handler      echo.HandlerFunc
	door         door
}

// routeTable is every door into rightsdesk. Who holds which permission is
// auth.Can's table.
func (s *Server) routeTable() []route {
	formLimit := middleware.BodyLimit(s.cfg.FormBodyLimit)
	apiLimit := middleware.BodyLimit(s.cfg.APIBodyLimit)
	replyLimit := middleware.BodyLimit(strconv.Itoa(maxReplyBody))       // five files of 10 MB and the text
	responseLimit := middleware.BodyLimit(strconv.Itoa(maxResponseBody)) // a response file and the text
	csrf := s.csrf()
	var (
		public        = door{accessPublic, nil}
		form          = door{accessPublic, chain(formLimit, csrf)}
		formLimited   = door{accessPublic, chain(formLimit, csrf, s.rateLimitIntake)}
		upload        = door{accessPublic, chain(replyLimit, csrf)}
		uploadLimited = door{accessPublic, chain(replyLimit, csrf, s.rateLimitIntake)}
		// The JSON intake: public, or an operator's system vouching with its
		// key for a requester its own sign-in proved (no per-address limit then).
		intakeAPI = door{accessPublicOrAPIKey + string(auth.PermRequestsVouch),
			chain(apiLimit, s.optionalAPIKey(auth.PermRequestsVouch), s.rateLimitIntake)}
		// Sign-in and the invitation link: open, as they are how one becomes signed in.
		signIn = door{accessPublic, chain(formLimit, s.staffSession, csrf)}
		dev    = door{accessDev, chain(s.devOnly)}
		// An operator's system reporting how a data map action went: no
		// session and no key; the body is trusted only once its signature
		// verifies under that system's secret (fulfil.Service.Callback).
		callback = door{accessPublic, chain(apiLimit)}
	)
	staff := func(perm auth.Perm) door {
		return door{accessStaff + string(perm), chain(formLimit, s.staffSession, s.requireStaff(perm), csrf)}
	}
	staffUpload := func(perm auth.Perm) door {
		return door{accessStaff + string(perm), chain(responseLimit, s.staffSession, s.requireStaff(perm), csrf)}
	}
	// No CSRF: nothing a browser sends on its own (cookies) authenticates a key.
	apiKey := func(perm auth.Perm) door {
		return door{accessAPIKey + string(perm), chain(apiLimit, s.requireAPIKey(perm))}
	}
	return []route{
		// The public portal: forms, receipts, the requester's own page.
		{"GET", "/", s.landing, public},
		{"GET", "/request/:type", s.requestForm, form},
		{"POST", "/request/:type", s.submitForm, uploadLimited},
		{"GET", "/thanks/:receipt", s.thanks, public},
		{"GET", "/s/:token", s.status, form},
		{"POST", "/s/:token/reply", s.reply, upload},
		{"GET", "/s/:token/withdraw", s.withdrawPage, form},
		{"POST", "/s/:token/withdraw", s.withdraw, form},
		{"POST", "/s/:token/files/:id/link", s.emailDownloadLink, form},
		{"GET", "/d/:token", s.download, public},
		{"GET", "/status", s.resendPage, form},
		{"POST", "/status", s.resend, formLimited},
		{"GET", "/confirm/:token", s.confirmPage, form},
		{"POST", "/confirm/:token", s.confirm, form},
		{"GET", "/lang/:locale", s.setLanguage, public},
		{"GET", "/healthz", s.health, public},
		{"GET", "/readyz", s.readiness, public},
		{"GET", "/static/*", s.assets.serve, public},
		{"GET", "/dev/mailbox", s.devMailbox, dev},
		{"POST", "/datamap/callback/:system", s.datamapCallback, callback},

		// The JSON API.
		{"GET", "/api/v1/openapi.json", s.apiOpenAPI, public},
		{"POST", "/api/v1/requests", s.apiSubmit, intakeAPI},
		{"GET", "/api/v1/requests", s.apiListRequests, apiKey(auth.PermRequestsRead)},
		{"GET", "/api/v1/requests/:reference", s.apiGetRequest, apiKey(auth.PermRequestsRead)},
		{"POST", "/api/v1/requests/:reference/transitions", s.apiTransition, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/assign", s.apiAssign, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/notes", s.apiAddNote, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/identity", s.apiRecordIdentity, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/gather", s.apiGather, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/plan", s.apiPlan, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/plan/approve", s.apiApprovePlan, apiKey(auth.PermRequestsWork)},
		{"POST", "/api/v1/requests/:reference/steps/:id/retry", s.apiRetryStep, apiKey(auth.PermRequestsWork)},

		// The staff workspace.
		{"GET", "/staff/login", s.staffLoginPage, signIn},
		{"POST", "/staff/login", s.staffLogin, signIn},
		{"GET", "/staff/login/code", s.staffCodePage, signIn},
		{"POST", "/staff/login/code", s.staffCode, signIn},
		{"GET", "/staff/password/:token", s.staffPasswordPage, signIn},
		{"POST", "/staff/password/:token", s.staffPassword, signIn},

		{"GET", "/staff", s.staffHome, staff(auth.PermRequestsRead)},
		{"GET", "/staff/export.csv", s.staffExport, staff(auth.PermRequestsRead)},
		{"GET", "/staff/dashboard", s.staffDashboard, staff(auth.PermRequestsRead)},
		{"GET", "/staff/requests/:reference", s.staffRequest, staff(auth.PermRequestsRead)},
		{"GET", "/staff/requests/:reference/files/:id", s.staffRequestFile, staff(auth.PermRequestsRead)},
		{"POST", "/staff/requests/:reference/assign", s.staffRequestAssign, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/start", s.staffRequestStart, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/ask", s.staffRequestAsk, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/extend", s.staffRequestExtend, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/complete", s.staffRequestComplete, staffUpload(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/reject", s.staffRequestReject, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/notes", s.staffRequestNote, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/identity", s.staffRequestIdentity, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/emails/:id/retry", s.staffRequestRetry, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/recompute", s.staffRequestRecompute, staff(auth.PermDeadlinesRecompute)},
		{"POST", "/staff/requests/:reference/gather", s.staffRequestGather, staff(auth.PermRequestsWork)},
		// Seeing what a plan would do changes nothing: auditors may; only
		// those who work requests approve one.
		{"POST", "/staff/requests/:reference/plan", s.staffRequestPlan, staff(auth.PermRequestsRead)},
		{"POST", "/staff/requests/:reference/plan/approve", s.staffRequestApprovePlan, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/steps/:id/retry", s.staffRequestRetryStep, staff(auth.PermRequestsWork)},
		{"GET", "/staff/requests/:reference/package", s.staffRequestPackage, staff(auth.PermRequestsRead)},
		{"POST", "/staff/requests/:reference/triage", s.staffRequestTriage, staff(auth.PermRequestsWork)},
		{"POST", "/staff/requests/:reference/merge", s.staffRequestMerge, staff(auth.PermRequestsWork)},

		{"POST", "/staff/logout", s.staffLogout, staff(auth.PermSelf)},
		// The switcher (issue 15): a handoff made here, spent on the other
		// operator's address by a button, never by opening the link.
		{"POST", "/staff/switch", s.staffSwitch, staff(auth.PermSelf)},
		{"GET", "/staff/switch/:token", s.staffSwitchPage, signIn},
		{"POST", "/staff/switch/:token", s.staffSwitchIn, signIn},
		// Counts across every operator, for the platform role's accounts.
		{"GET", "/staff/platform", s.staffPlatform, staff(auth.PermPlatform)},
		{"GET", "/staff/account", s.staffAccount, staff(auth.PermSelf)},
		{"POST", "/staff/account/totp", s.staffTOTPStart, staff(auth.PermSelf)},
		{"POST", "/staff/account/totp/confirm", s.staffTOTPConfirm, staff(auth.PermSelf)},
		{"POST", "/staff/account/totp/disable", s.staffTOTPDisable, staff(auth.PermSelf)},
		{"POST", "/staff/account/signout-everywhere", s.staffSignOutEverywhere, staff(auth.PermSelf)},

		{"GET", "/staff/users", s.staffUsers, staff(auth.PermStaffRead)},
		{"POST", "/staff/users", s.staffInvite, staff(auth.PermStaffManage)},
		{"POST", "/staff/users/:id/role", s.staffSetRole, staff(auth.PermStaffManage)},
		{"POST", "/staff/users/:id/disable", s.staffDisable, staff(auth.PermStaffManage)},
		{"POST", "/staff/users/:id/enable", s.staffEnable, staff(auth.PermStaffManage)},
		{"POST", "/staff/users/:id/signout", s.staffEndSessions, staff(auth.PermStaffManage)},
		{"GET", "/staff/apikeys", s.staffAPIKeys, staff(auth.PermStaffManage)},
		{"POST", "/staff/apikeys", s.staffCreateAPIKey, staff(auth.PermStaffManage)},
		{"POST", "/staff/apikeys/:id/revoke", s.staffRevokeAPIKey, staff(auth.PermStaffManage)},
		{"GET", "/staff/webhooks", s.staffWebhooks, staff(auth.PermStaffManage)},
		{"POST", "/staff/webhooks", s.staffCreateWebhook, staff(auth.PermStaffManage)},
		{"POST", "/staff/webhooks/:id/disable", s.staffDisableWebhook, staff(auth.PermStaffManage)},
	}
}

// chain is a route's middleware, in the order it runs.
func chain(mw ...echo.MiddlewareFunc) []echo.MiddlewareFunc { return mw }

func (s *Server) routes(e *echo.Echo) {
	for _, r := range s.routeTable() {
		e.Add(r.method, r.path, r.handler, r.door.chain...)
	}
}

// RouteAccess maps "METHOD path" to the access level it was registered with.
func (s *Server) RouteAccess() map[string]string {
	out := map[string]string{}
	for _, r := range s.routeTable() {
		out[r.method+" "+r.path] = r.door.access
	}
	return out
}
