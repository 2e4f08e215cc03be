package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/clientip"
	"rightsdesk/internal/request"
)

const (
	localeContextKey    = "rd.locale"
	requestIDContextKey = "rd.request_id"
	csrfContextKey      = "csrf"
	langCookie          = "lang"
)

// securityHeaders sets the headers every answer carries. There is no script
// on any page, so the policy allows none.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// Status links carry a secret token in the path: never leak it.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if s.cfg.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// requestID tags each request for the logs, reusing a proxy's id when sane.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(requestIDContextKey, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// accessLog logs one line per request. It logs the route pattern, never the
// path: paths hold status tokens, and query strings may hold anything.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(c.Request().Context(), level, "http request",
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", c.Response().Size),
			slog.String("request_id", requestIDOf(c)),
		)
		return nil
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(requestIDContextKey).(string)
	return id
}

// negotiateLocale picks the visitor's language: the remembered choice, then
// the browser's preference, then the operator's DEFAULT_LOCALE.
func (s *Server) negotiateLocale(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		l := request.Locale("")
		if ck, err := c.Cookie(langCookie); err == nil && request.Locale(ck.Value).Valid() {
			l = request.Locale(ck.Value)
		} else {
			l = s.catalog.NegotiateOr(c.Request().Header.Get("Accept-Language"), s.cfg.DefaultLocale)
		}
		c.Set(localeContextKey, l)
		return next(c)
	}
}

func localeOf(c echo.Context) request.Locale {
	if l, ok := c.Get(localeContextKey).(request.Locale); ok {
		return l
	}
	return request.Russian
}

// rateLimitIntake counts submissions per client (clientip.Key: an IPv6
// client by its /64) per minute in PostgreSQL, so the limit holds across instances.
func (s *Server) rateLimitIntake(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, vouched := vouchingKey(c); s.cfg.IntakeRateLimit <= 0 || vouched {
			// An operator's own system with a valid key is not a stranger
			// filing in bulk: the per-address limit is for the public.
			return next(c)
		}
		// The address is hashed: the table needs a key, not a person's IP.
		sum := sha256.Sum256([]byte("intake\x00" + clientip.Key(c.RealIP())))
		now := s.clock.Now()
		hits, err := s.store.CountHit(c.Request().Context(), "intake:"+hex.EncodeToString(sum[:12]), now, time.Minute)
		if err != nil {
			// Failing open: a request must not be refused because the
			// limiter's bookkeeping failed; the submission itself will tell.
			s.log.WarnContext(c.Request().Context(), "rate limit unavailable", "error", err)
			return next(c)
		}
		if hits > s.cfg.IntakeRateLimit {
			retry := time.Minute - now.Sub(now.Truncate(time.Minute))
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			return echo.NewHTTPError(http.StatusTooManyRequests)
		}
		return next(c)
	}
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
	return "BASE_URL's host " + u.Hostname() + " is not a loopback address (localhost, *.localhost, 127.0.0.0/8, ::1)"
}

// hostOnly is a Host header's name without its port.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// loopbackHost says whether host names this machine: localhost and every
// name under it (RFC 6761: they resolve to loopback, and a resolver never
// asks the network for them, so no one else's DNS can rebind one), or a
// loopback address.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// devOnly hides the development mailbox unless mail really stays on this
// machine, the portal's address is on it too, and the visitor sits at it:
// a loopback peer, through no proxy (none of the headers one adds), asking
// for a loopback host. The host check closes two more doors: a proxy in TCP
// mode (TLS passthrough) forwards the public name it was asked for, and a
// page on another site that rebinds its own name to 127.0.0.1 (DNS
// rebinding) sends that name, so neither reads the mailbox.
func (s *Server) devOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s.cfg.DevMailboxDir == "" || DevMailboxRefusal(s.cfg.BaseURL) != "" {
			return echo.ErrNotFound
		}
		if !loopbackHost(hostOnly(req.Host)) {
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
