// Package web is rightsdesk's HTTP surface: the public pages and forms, the
// JSON API and the operational endpoints, on Echo. Handlers parse, authorise
// and render; decisions belong to the request package, data to the store.
package web

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/egress"
	"rightsdesk/internal/fulfil"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// Store is what the handlers read directly; writes go through the domain.
type Store interface {
	RequestByStatusToken(ctx context.Context, tokenHash []byte) (request.Request, error)
	RequestByReference(ctx context.Context, reference string) (request.Request, error)
	Messages(ctx context.Context, requestID int64) ([]store.Message, error)
	Events(ctx context.Context, requestID int64) ([]store.Event, error)
	Download(ctx context.Context, tokenHash []byte, now time.Time) (request.File, request.Locale, error)
	CountHit(ctx context.Context, bucket string, now time.Time, window time.Duration) (int, error)
	Ping(ctx context.Context) error
}

// Config is the part of the configuration the web layer needs.
type Config struct {
	OrgName         string
	BaseURL         string
	Secure          bool // served over https: Secure cookies and HSTS
	EnabledTypes    []request.Type
	IntakeRateLimit int
	TrustedProxies  []netip.Prefix
	Location        *time.Location
	Preset          string // DEADLINE_PRESET: how rights are worded, the rule set of records that name none
	DevMailboxDir   string // non-empty when no SMTP server is configured
	FormBodyLimit   string // e.g. "64K"
	APIBodyLimit    string

	// WebhookEgress is where webhooks may be sent (WEBHOOK_ALLOW_PRIVATE);
	// the admin page refuses an address it can already tell is refused.
	WebhookEgress egress.Policy

	// The operator's look: its logo (LOGO_FILE's bytes and type: png,
	// jpg, webp or gif) beside OrgName and its colour (BRAND_COLOR,
	// #rrggbb) for links and buttons; none, the default look.
	Logo       []byte
	LogoExt    string
	BrandColor string
	// DefaultLocale is the public pages' language when the visitor has
	// chosen none and the browser asks for none we have; "" is Russian.
	DefaultLocale request.Locale
}

// Deps are the web layer's collaborators.
type Deps struct {
	Config    Config
	Intake    *request.Intake
	Confirmer *request.Confirmer
	Requester *request.Requester
	// Receipts sign the thank-you page's address.
	Receipts request.Receipts
	Store    Store
	Catalog  *i18n.Catalog
	Clock    request.Clock
	Logger   *slog.Logger
	Files    fs.FS // templates and static files (web.Templates merged with web.Static)
	// Ready reports whether the instance can serve (database reachable,
	// jobs running); nil means always ready.
	Ready func(ctx context.Context) error
	// Auth runs staff accounts and sign-in; Sessions keeps staff sessions
	// (PostgreSQL through scs's pgxstore); StaffHome reads the queue, its
	// export and the dashboard.
	Auth      *auth.Service
	Sessions  scs.Store
	StaffHome QueueSource
	// Desk carries out staff actions on a request; DeskStore reads what the
	// request page shows; Delivery makes a failed email's job run again.
	Desk      *request.Desk
	DeskStore DeskStore
	Delivery  store.DeliveryRetrier
	// APIKeys checks the staff API's keys and manages them; APIStore reads
	// what the staff API answers; Webhooks keeps the webhook endpoints.
	APIKeys  *auth.APIKeys
	APIStore APIStore
	Webhooks WebhookAdmin
	// Metrics times every request by route pattern; nil records nothing.
	Metrics Metrics
	// Mail says whether email delivery is paused, for the staff pages to
	// say so; nil never says.
	Mail MailState
	// Fulfil answers requests from the data map; nil without one (the
	// request page and the API then say nothing of it).
	Fulfil *fulfil.Service
	// Letters reads the letters a request came as or was written in
	// (staff_request_letters.go); nil shows none.
	Letters LetterStore
	// Operators are the deployment's operators, for the switcher and the
	// platform page (issue 15); nil for a deployment of one operator.
	Operators Operators
}

// MailState is what the staff pages show of email delivery.
type MailState interface {
	// DeliveryPausedAt is when delivery was paused; zero when it runs.
	DeliveryPausedAt(ctx context.Context) (time.Time, error)
}

// Server holds the handlers' shared state; it is immutable after New, but
// for the flag of a warning logged once.
type Server struct {
	// prefix is the operator's address's path on its host (BASE_URL's path,
	// "" at the root of a host): see paths.go.
	prefix    string
	cfg       Config
	intake    *request.Intake
	confirmer *request.Confirmer
	requester *request.Requester
	receipts  request.Receipts
	store     Store
	catalog   *i18n.Catalog
	clock     request.Clock
	log       *slog.Logger
	pages     pages
	assets    *assets
	ready     func(ctx context.Context) error
	echo      *echo.Echo
	auth      *auth.Service
	sessions  *scs.SessionManager
	home      QueueSource
	desk      *request.Desk
	deskStore DeskStore
	delivery  store.DeliveryRetrier
	apiKeys   *auth.APIKeys
	apiStore  APIStore
	webhooks  WebhookAdmin
	metrics   Metrics
	mail      MailState
	fulfil    *fulfil.Service
	letters   LetterStore
	operators Operators
	// routePatterns are the registered route patterns, the only values the
	// metrics' route label may take.
	routePatterns map[string]bool
	// proxyWarned is set once the missing TRUSTED_PROXIES has been logged.
	proxyWarned atomic.Bool
}

// New builds the HTTP handler with every route.
func New(d Deps) (*Server, error) {
	prefix := pathPrefix(d.Config.BaseURL)
	pg, err := parsePages(d.Files, templateFuncs(prefix))
	if err != nil {
		return nil, err
	}
	as, err := loadAssets(d.Files)
	if err != nil {
		return nil, err
	}
	// The operator's logo and colours are served as the static files are,
	// under names that change with their content.
	if d.Config.BrandColor != "" {
		as.add("brand.css", []byte(":root { --accent: "+d.Config.BrandColor+"; --accent-dark: "+config.Darker(d.Config.BrandColor)+"; }\n"))
	}
	if len(d.Config.Logo) > 0 {
		as.add("logo."+d.Config.LogoExt, d.Config.Logo)
	}
	if d.Config.FormBodyLimit == "" {
		d.Config.FormBodyLimit = "64K"
	}
	if d.Config.APIBodyLimit == "" {
		d.Config.APIBodyLimit = "64K"
	}
	s := &Server{
		prefix: prefix, cfg: d.Config, intake: d.Intake, confirmer: d.Confirmer, requester: d.Requester, receipts: d.Receipts, store: d.Store, catalog: d.Catalog, clock: d.Clock,
		log: d.Logger, pages: pg, assets: as, ready: d.Ready,
		auth: d.Auth, sessions: newSessionManager(d.Sessions, prefix+"/staff", d.Config.Secure), home: d.StaffHome,
		desk: d.Desk, deskStore: d.DeskStore, delivery: d.Delivery,
		apiKeys: d.APIKeys, apiStore: d.APIStore, webhooks: d.Webhooks,
		metrics: d.Metrics, mail: d.Mail, fulfil: d.Fulfil, letters: d.Letters, operators: d.Operators, routePatterns: map[string]bool{},
	}
	for _, r := range s.routeTable() {
		s.routePatterns[r.path] = true
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = s.warnUntrustedProxy(ipExtractor(d.Config.TrustedProxies))
	e.Use(requestID, s.observe, s.accessLog, middleware.Recover(), s.securityHeaders, s.negotiateLocale)
	s.echo = e
	s.routes(e)
	return s, nil
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Routes lists every registered route as "METHOD path" (for route tests).
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// ipExtractor believes X-Forwarded-For only from the configured proxies.
// Echo would also trust every loopback, link-local and private address by
// default: then anyone on the operator's network, or any client of a
// same-host proxy that passes the header on, could name their own address
// and start afresh at every throttle.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// warnUntrustedProxy logs once when requests arrive through a proxy while
// TRUSTED_PROXIES is empty: every client then has the proxy's address, so
// the intake limit and the sign-in throttle's address bucket are shared by
// all of them (trusted sign-in clients keep their own buckets).
func (s *Server) warnUntrustedProxy(extract echo.IPExtractor) echo.IPExtractor {
	if len(s.cfg.TrustedProxies) != 0 {
		return extract
	}
	return func(r *http.Request) string {
		if r.Header.Get("X-Forwarded-For") != "" && s.proxyWarned.CompareAndSwap(false, true) {
			s.log.Warn("requests carry X-Forwarded-For but TRUSTED_PROXIES is empty: every client counts as the proxy's address; set TRUSTED_PROXIES to the proxy's addresses")
		}
		return extract(r)
	}
}

// csrf protects every form: browsers that send Sec-Fetch-Site are checked by
// it, others by a double-submit token.
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{ // #nosec G101 -- names of the CSRF cookie and field, not a credential
		TokenLookup:    "form:_csrf",
		CookieName:     "_csrf",
		CookiePath:     s.path("/"),
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.Secure,
		CookieSameSite: http.SameSiteLaxMode,
		ContextKey:     csrfContextKey,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "csrf").SetInternal(err)
		},
	})
}

// handleError is the one place where errors become answers: JSON under
// /api, a page in the visitor's language elsewhere.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, auth.ErrBusy):
		// Every password hashing slot stayed taken: try again shortly.
		code = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", "5")
	case errors.Is(err, context.Canceled):
		code = 499 // the client went away; nothing to answer
	}
	if code >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", "route", c.Path(), "error", err, "request_id", requestIDOf(c))
		if isUnavailable(err) {
			code = http.StatusServiceUnavailable
		}
	}
	if code == 499 {
		c.Response().WriteHeader(code)
		return
	}
	key := errorPageKey(code)
	p := s.catalog.Printer(localeOf(c))
	if isAPI(c) {
		_ = c.JSON(code, map[string]string{"error": p.T("errorpage." + key + ".text")})
		return
	}
	if rerr := s.render(c, code, "message", p.T("errorpage."+key+".title"),
		map[string]string{"Text": p.T("errorpage." + key + ".text")}); rerr != nil {
		s.log.ErrorContext(c.Request().Context(), "render error page", "error", rerr)
		c.Response().WriteHeader(code)
	}
}

func errorPageKey(code int) string {
	switch code {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "notfound"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "toomany"
	case http.StatusRequestEntityTooLarge:
		return "toolarge"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if code >= 400 && code < 500 {
		return "badrequest"
	}
	return "server"
}

func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return len(p) >= 5 && p[:5] == "/api/"
}

func isUnavailable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errDatabaseDown)
}

var errDatabaseDown = errors.New("database unavailable")

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readiness(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	check := s.store.Ping
	if s.ready != nil {
		check = s.ready
	}
	if err := check(ctx); err != nil {
		// The reason (a host name, an address) is for the operator's log,
		// not for whoever asks: the probe is public.
		s.log.WarnContext(ctx, "not ready", "error", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
