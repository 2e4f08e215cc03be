package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

type loginView struct {
	Email, Next, Error string
}

// staffNext is where to go after signing in, as a path of the application:
// next when it is a path on this operator's own address, else the queue.
func (s *Server) staffNext(next string) string {
	if p, ok := s.ownPath(next); ok {
		return p
	}
	return "/staff"
}

func (s *Server) staffLoginPage(c echo.Context) error {
	next := s.staffNext(c.QueryParam("next"))
	if _, err := s.currentStaff(c); err == nil {
		return s.seeOther(c, next)
	} else if !errors.Is(err, errNotSignedIn) {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, http.StatusOK, "login", p.T("staff.login.title"), loginView{Next: next})
}

// staffLogin checks the password. A wrong email, a wrong password and a
// disabled account get the same page, in about the same time.
func (s *Server) staffLogin(c echo.Context) error {
	ctx := c.Request().Context()
	p := s.catalog.Printer(localeOf(c))
	v := loginView{Email: c.FormValue("email"), Next: s.staffNext(c.FormValue("next"))}
	me, needCode, err := s.auth.SignIn(ctx, v.Email, c.FormValue("password"), s.signInClient(c))
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return s.throttledLogin(c, v, err)
	case errors.Is(err, auth.ErrBusy):
		return s.busyLogin(c, v)
	case errors.Is(err, auth.ErrBadCredentials):
		v.Error = p.T("staff.login.failed")
		return s.renderStaff(c, http.StatusOK, "login", p.T("staff.login.title"), v)
	case err != nil:
		return err
	}
	if needCode {
		return s.awaitCode(c, me.ID, v.Next, 0) // a password, not a switch
	}
	if err := s.signedIn(c, me); err != nil {
		return err
	}
	return s.seeOther(c, v.Next)
}

// signInClient is who is signing in: the client's address and the device
// cookie it sent.
func (s *Server) signInClient(c echo.Context) auth.Client {
	cl := auth.Client{Address: c.RealIP()}
	if ck, err := c.Cookie(auth.DeviceCookie); err == nil {
		cl.Device = ck.Value
	}
	return cl
}

// signedIn starts the session of a complete sign-in and marks this browser
// as a trusted client of the account (the device cookie), so that a
// guesser locking out other clients does not lock out this one.
func (s *Server) signedIn(c echo.Context, me auth.Staff) error {
	if err := s.startSession(c, me); err != nil {
		return err
	}
	value, err := s.auth.TrustDevice(me, s.signInClient(c).Device)
	if err != nil || value == "" {
		return err
	}
	c.SetCookie(&http.Cookie{ // #nosec G124 -- HttpOnly and SameSite=Strict set; Secure follows BASE_URL (https in production, http on a developer's machine)
		Name: auth.DeviceCookie, Value: value, Path: s.path("/staff/login"),
		MaxAge: int(auth.DeviceFor / time.Second), HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

func (s *Server) throttledLogin(c echo.Context, v loginView, err error) error {
	p := s.catalog.Printer(localeOf(c))
	wait := auth.RetryAfterOf(err)
	c.Response().Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	v.Error = p.N("staff.login.throttled", int((wait+time.Minute-1)/time.Minute))
	return s.renderStaff(c, http.StatusTooManyRequests, "login", p.T("staff.login.title"), v)
}

// busyLogin answers a sign-in whose password could not be checked in time
// because every hashing slot was taken: nothing was counted against it.
func (s *Server) busyLogin(c echo.Context, v loginView) error {
	p := s.catalog.Printer(localeOf(c))
	c.Response().Header().Set("Retry-After", "5")
	v.Error = p.T("staff.login.busy")
	return s.renderStaff(c, http.StatusServiceUnavailable, "login", p.T("staff.login.title"), v)
}

// pendingStaff is the account that passed the password step in this
// session, if it did so recently enough.
func (s *Server) pendingStaff(c echo.Context) int64 {
	ctx := c.Request().Context()
	id := s.sessions.GetInt64(ctx, sessPendingID)
	at := time.Unix(s.sessions.GetInt64(ctx, sessPendingAt), 0)
	if id == 0 || s.clock.Now().Sub(at) > pendingCodeFor {
		return 0
	}
	return id
}

func (s *Server) staffCodePage(c echo.Context) error {
	if s.pendingStaff(c) == 0 {
		return s.seeOther(c, "/staff/login")
	}
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, http.StatusOK, "code", p.T("staff.code.title"), loginView{})
}

func (s *Server) staffCode(c echo.Context) error {
	ctx := c.Request().Context()
	id := s.pendingStaff(c)
	if id == 0 {
		return s.seeOther(c, "/staff/login")
	}
	p := s.catalog.Printer(localeOf(c))
	me, err := s.auth.SignInCode(ctx, id, c.FormValue("code"), s.signInClient(c))
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return s.throttledLogin(c, loginView{Next: s.sessions.GetString(ctx, sessNext)}, err)
	case errors.Is(err, auth.ErrBadCode):
		return s.renderStaff(c, http.StatusOK, "code", p.T("staff.code.title"), loginView{Error: p.T("staff.code.failed")})
	case errors.Is(err, auth.ErrBadCredentials):
		// The account was disabled or lost its second factor meanwhile.
		_ = s.endSession(c)
		return s.seeOther(c, "/staff/login")
	case err != nil:
		return err
	}
	// The session keeps the application's path staffNext gave.
	next := s.sessions.PopString(ctx, sessNext)
	if !localPath(next) {
		next = "/staff"
	}
	if err := s.signedIn(c, me); err != nil {
		return err
	}
	return s.seeOther(c, next)
}

func (s *Server) staffLogout(c echo.Context) error {
	me := staffOf(c)
	if err := s.auth.SignedOut(c.Request().Context(), me.ID); err != nil {
		return err
	}
	if err := s.endSession(c); !errors.Is(err, errNotSignedIn) {
		return err
	}
	return s.seeOther(c, "/staff/login")
}

// awaitCode is the step between a first factor (a password, or a
// switcher's handoff) and the second: the account is not yet signed in, and
// the session only remembers, on a new token, whom the code is for, where to
// go after it and, for a switch, when the account signed in where it came
// from (0: nothing carried).
func (s *Server) awaitCode(c echo.Context, accountID int64, next string, carriedSignIn int64) error {
	ctx := c.Request().Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessPendingID, accountID)
	s.sessions.Put(ctx, sessPendingAt, s.clock.Now().Unix())
	s.sessions.Put(ctx, sessNext, next)
	if carriedSignIn == 0 {
		s.sessions.Remove(ctx, sessCarriedSignIn)
	} else {
		s.sessions.Put(ctx, sessCarriedSignIn, carriedSignIn)
	}
	return s.seeOther(c, "/staff/login/code")
}
