package web

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"rightsdesk/internal/auth"
)

// Access levels. Every route states one; a test walks the table so that a
// new route without a decision fails the build.
const (
	accessPublic = "public" // anyone
	accessDev    = "dev"    // only when no SMTP server is configured, only from this machine
	accessStaff  = "staff:" // signed-in staff, followed by the permission needed (routes_staff.go)
	// accessPublicOrAPIKey is anyone, or, when an API key is sent, a key
	// whose role holds the permission that follows. A key that is sent is
	// always checked: a bad one is refused, never taken for no key at all.
	accessPublicOrAPIKey = "public+apikey:"
)

type route struct {
	method, path string
	access       string
	handler      echo.HandlerFunc
	mw           []echo.MiddlewareFunc
}

// routeTable is every door into rightsdesk.
func (s *Server) routeTable() []route {
	form := []echo.MiddlewareFunc{middleware.BodyLimit(s.cfg.FormBodyLimit), s.csrf()}
	intakeForm := append(append([]echo.MiddlewareFunc{}, form...), s.rateLimitIntake)
	// Forms that carry files: five of 10 MB and the fields.
	uploadForm := []echo.MiddlewareFunc{middleware.BodyLimit(strconv.Itoa(maxReplyBody)), s.csrf()}
	// The JSON intake: public, or an operator's system vouching with its key
	// for a requester its own sign-in proved (no per-address limit then).
	api := []echo.MiddlewareFunc{middleware.BodyLimit(s.cfg.APIBodyLimit), s.optionalAPIKey(auth.PermRequestsVouch), s.rateLimitIntake}
	return append([]route{
		{"GET", "/", accessPublic, s.landing, nil},
		{"GET", "/request/:type", accessPublic, s.requestForm, form},
		{"POST", "/request/:type", accessPublic, s.submitForm, []echo.MiddlewareFunc{uploadForm[0], uploadForm[1], s.rateLimitIntake}},
		{"GET", "/thanks/:receipt", accessPublic, s.thanks, nil},
		{"GET", "/s/:token", accessPublic, s.status, form},
		{"POST", "/s/:token/reply", accessPublic, s.reply, uploadForm},
		{"GET", "/s/:token/withdraw", accessPublic, s.withdrawPage, form},
		{"POST", "/s/:token/withdraw", accessPublic, s.withdraw, form},
		{"GET", "/d/:token", accessPublic, s.download, nil},
		{"POST", "/s/:token/files/:id/link", accessPublic, s.emailDownloadLink, form},
		{"GET", "/status", accessPublic, s.resendPage, form},
		{"POST", "/status", accessPublic, s.resend, intakeForm},
		{"GET", "/confirm/:token", accessPublic, s.confirmPage, form},
		{"POST", "/confirm/:token", accessPublic, s.confirm, form},
		{"GET", "/lang/:locale", accessPublic, s.setLanguage, nil},
		{"POST", "/api/v1/requests", accessPublicOrAPIKey + string(auth.PermRequestsVouch), s.apiSubmit, api},
		{"GET", "/healthz", accessPublic, s.health, nil},
		{"GET", "/readyz", accessPublic, s.readiness, nil},
		{"GET", "/static/*", accessPublic, s.assets.serve, nil},
		{"GET", "/dev/mailbox", accessDev, s.devMailbox, []echo.MiddlewareFunc{s.devOnly}},
	}, append(s.staffRoutes(), s.apiRoutes()...)...)
}

func (s *Server) routes(e *echo.Echo) {
	for _, r := range s.routeTable() {
		e.Add(r.method, r.path, r.handler, r.mw...)
	}
}

// RouteAccess maps "METHOD path" to the access level it was registered with.
func (s *Server) RouteAccess() map[string]string {
	out := map[string]string{}
	for _, r := range s.routeTable() {
		out[r.method+" "+r.path] = r.access
	}
	return out
}

// proxyHeaders are the headers a proxy adds to what it forwards. The browser
// of someone at this machine sends none of them.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Real-IP", "Via", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP"}

// DevMailboxRefusal says why the development mailbox is not served with
// this BASE_URL, or "" when it is: only a portal whose own address is on
// this machine (localhost, 127.0.0.0/8, ::1) serves it. A same-host proxy
// that adds no header makes every visitor look like a loopback peer, but a
// portal published through a proxy has a public BASE_URL.
func DevMailboxRefusal(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "BASE_URL cannot be read"
	}
	if loopbackHost(u.Hostname()) {
		return ""
	}
	return "BASE_URL's host " + u.Hostname() + " is not a loopback address (localhost, 127.0.0.0/8, ::1)"
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// devOnly hides the development mailbox unless mail really stays on this
// machine, the portal's address is on it too, and the visitor sits at it:
// a loopback peer, through no proxy (none of the headers one adds).
func (s *Server) devOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s.cfg.DevMailboxDir == "" || DevMailboxRefusal(s.cfg.BaseURL) != "" {
			return echo.ErrNotFound
		}
		for _, h := range proxyHeaders {
			if _, ok := req.Header[http.CanonicalHeaderKey(h)]; ok {
				return echo.ErrNotFound
			}
		}
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			return echo.ErrNotFound
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Unmap().IsLoopback() {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
