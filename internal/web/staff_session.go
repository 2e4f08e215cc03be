package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

// Staff session limits. The clock-based checks below use the injected
// clock; the stored row expires in real time too (scs's Lifetime, and
// idleExpiry's backstop for the idle timeout).
const (
	staffCookie = "rd_staff"
	// A lunch break keeps one signed in; a desk left overnight does not.
	staffIdleTimeout = 2 * time.Hour
	// A working day, then sign in again.
	staffLifetime = 12 * time.Hour
	// Between the password and the code.
	pendingCodeFor = 5 * time.Minute
	// How often a page view writes its session's last-seen time. A write
	// is an UPDATE of the session's row and a WAL flush at commit; within
	// the minute a page writes nothing, so the idle timeout may end a
	// session up to this much early (after 1 h 59 min of idleness at
	// worst), never late.
	seenEvery = time.Minute

	staffContextKey = "rd.staff"

	// Session keys. Times are Unix seconds: plain int64 keeps the gob codec
	// free of type registrations.
	sessStaffID   = "staff_id"
	sessEpoch     = "epoch"
	sessSignedIn  = "signed_in"
	sessSeen      = "seen"
	sessPendingID = "pending_id"
	sessPendingAt = "pending_at"
	sessNext      = "next"
	sessFlash     = "flash"
	// sessCarriedSignIn is, between a switcher's handoff and its code,
	// when the account signed in where it came from (staff_switch.go).
	sessCarriedSignIn = "carried_signed_in"
)

// newSessionManager keeps staff sessions in store, their cookie sent only
// under path (the operator's /staff).
func newSessionManager(store scs.Store, path string, secure bool) *scs.SessionManager {
	sm := scs.New()
	// No scs IdleTimeout: with one, scs writes every session it loads
	// back to the store, to move its expiry on (a row update and a WAL
	// flush per page). currentStaff enforces the idle timeout, and writes
	// the last-seen time at most once per seenEvery.
	sm.Store = idleExpiry{Store: store, after: staffIdleTimeout + seenEvery}
	sm.Lifetime = staffLifetime
	// The table keeps hashes of tokens, so reading it gives no live session.
	sm.HashTokenInStore = true
	sm.Cookie.Name = staffCookie
	sm.Cookie.Path = path
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	// A browser session cookie: closing the browser on a shared computer
	// signs out.
	sm.Cookie.Persist = false
	return sm
}

// idleExpiry stores each session to expire, in real time, no later than
// its idle time after it was last written: a row nobody has written for
// that long is gone from the store, whatever its data says. It is a
// backstop: the last-seen time is written with the row, and currentStaff
// ends a session staffIdleTimeout after it, seenEvery before the row goes.
type idleExpiry struct {
	scs.Store
	after time.Duration
}

// Commit stores the session with expiry, or earlier when the idle time
// from now ends first.
func (s idleExpiry) Commit(token string, b []byte, expiry time.Time) error {
	if idle := time.Now().Add(s.after).UTC(); idle.Before(expiry) {
		expiry = idle
	}
	return s.Store.Commit(token, b, expiry)
}

// staffSession loads the staff session for the request and saves it just
// before the answer's headers go out, whatever path the answer takes
// (handler, redirect or error page).
func (s *Server) staffSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Cookie")
		token := ""
		if ck, err := c.Cookie(staffCookie); err == nil {
			token = ck.Value
		}
		ctx, err := s.sessions.Load(c.Request().Context(), token)
		if err != nil {
			return fmt.Errorf("load staff session: %w", err)
		}
		c.SetRequest(c.Request().WithContext(ctx))
		c.Response().Before(func() {
			switch s.sessions.Status(ctx) {
			case scs.Modified:
				tok, expiry, err := s.sessions.Commit(ctx)
				if err != nil {
					s.log.ErrorContext(ctx, "save staff session", "error", err, "request_id", requestIDOf(c))
					return
				}
				s.sessions.WriteSessionCookie(ctx, c.Response(), tok, expiry)
			case scs.Destroyed:
				s.sessions.WriteSessionCookie(ctx, c.Response(), "", time.Time{})
			}
		})
		return next(c)
	}
}

var errNotSignedIn = errors.New("not signed in")

// currentStaff is the signed-in staff member, read afresh from the database
// on every request so that disabling an account, changing its role or
// ending its sessions applies to the very next request.
func (s *Server) currentStaff(c echo.Context) (auth.Staff, error) {
	ctx := c.Request().Context()
	id := s.sessions.GetInt64(ctx, sessStaffID)
	if id == 0 {
		return auth.Staff{}, errNotSignedIn
	}
	now := s.clock.Now()
	signedIn := time.Unix(s.sessions.GetInt64(ctx, sessSignedIn), 0)
	seen := time.Unix(s.sessions.GetInt64(ctx, sessSeen), 0)
	if now.Sub(signedIn) > staffLifetime || now.Sub(seen) > staffIdleTimeout {
		return auth.Staff{}, s.endSession(c)
	}
	me, err := s.auth.Staff(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Staff{}, s.endSession(c)
	}
	if err != nil {
		return auth.Staff{}, err
	}
	if !me.Active() || me.SessionEpoch != s.sessions.GetInt64(ctx, sessEpoch) {
		return auth.Staff{}, s.endSession(c)
	}
	if now.Sub(seen) >= seenEvery || now.Before(seen) {
		s.sessions.Put(ctx, sessSeen, now.Unix())
	}
	return me, nil
}

// endSession forgets the session and reports the visitor as signed out.
func (s *Server) endSession(c echo.Context) error {
	if err := s.sessions.Destroy(c.Request().Context()); err != nil {
		return fmt.Errorf("end staff session: %w", err)
	}
	return errNotSignedIn
}

// startSession signs a staff member in on a fresh token (no fixation).
func (s *Server) startSession(c echo.Context, me auth.Staff) error {
	ctx := c.Request().Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew staff session: %w", err)
	}
	now := s.clock.Now().Unix()
	carried := s.sessions.GetInt64(ctx, sessCarriedSignIn)
	s.sessions.Remove(ctx, sessCarriedSignIn)
	s.sessions.Remove(ctx, sessPendingID)
	s.sessions.Remove(ctx, sessPendingAt)
	s.sessions.Put(ctx, sessStaffID, me.ID)
	s.sessions.Put(ctx, sessEpoch, me.SessionEpoch)
	s.sessions.Put(ctx, sessSignedIn, now)
	s.sessions.Put(ctx, sessSeen, now)
	s.carrySignIn(ctx, carried)
	return nil
}

// requireStaff lets through signed-in staff whose role holds perm; others
// are sent to sign in, or told they may not.
func (s *Server) requireStaff(perm auth.Perm) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			me, err := s.currentStaff(c)
			if errors.Is(err, errNotSignedIn) {
				return s.toSignIn(c)
			}
			if err != nil {
				return err
			}
			c.Set(staffContextKey, me)
			speakStaffLanguage(c, me)
			if !me.Can(perm) {
				if perm == auth.PermPlatform {
					// Not advertised to those who may not open it.
					return echo.ErrNotFound
				}
				if me.Role == auth.PlatformOnly && c.Request().Method == http.MethodGet && c.Request().URL.Path == "/staff" && s.operators != nil {
					// A platform account here for the figures, not the queue.
					return c.Redirect(http.StatusSeeOther, "/staff/platform")
				}
				p := s.catalog.Printer(localeOf(c))
				return s.renderStaff(c, http.StatusForbidden, "message", p.T("staff.forbidden.title"),
					staffMessage{Text: p.T("staff.forbidden.text"), Link: "/staff", LinkText: p.T("staff.nav.queue")})
			}
			return next(c)
		}
	}
}

// toSignIn sends the visitor to the sign-in page, to come back here after.
func (s *Server) toSignIn(c echo.Context) error {
	next := "/staff"
	if c.Request().Method == http.MethodGet {
		next = c.Request().URL.RequestURI()
	}
	return s.seeOther(c, "/staff/login?next="+url.QueryEscape(s.path(next)))
}

// speakStaffLanguage uses the staff member's own language unless they
// picked one with the language switch.
func speakStaffLanguage(c echo.Context, me auth.Staff) {
	if _, err := c.Cookie(langCookie); err != nil && me.Locale.Valid() {
		c.Set(localeContextKey, me.Locale)
	}
}

func staffOf(c echo.Context) auth.Staff {
	me, _ := c.Get(staffContextKey).(auth.Staff)
	return me
}

// flash leaves a one-line message for the next page the staff member sees.
func (s *Server) flash(c echo.Context, key string) {
	s.sessions.Put(c.Request().Context(), sessFlash, key)
}
