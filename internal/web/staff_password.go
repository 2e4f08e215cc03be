package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

type passwordView struct {
	Name, Email, Action, Error string
}

// staffPasswordPage shows the form behind an invitation link. Opening the
// link changes nothing: mail scanners open links too.
func (s *Server) staffPasswordPage(c echo.Context) error {
	st, err := s.auth.Invitation(c.Request().Context(), c.Param("token"))
	if errors.Is(err, auth.ErrLinkInvalid) {
		return s.staffMessagePage(c, http.StatusNotFound, "staff.password.invalid.title", "staff.password.invalid.text")
	}
	if err != nil {
		return err
	}
	speakStaffLanguage(c, st)
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, http.StatusOK, "password", p.T("staff.password.title"),
		passwordView{Name: st.Name, Email: st.Email, Action: "/staff/password/" + c.Param("token")})
}

func (s *Server) staffPassword(c echo.Context) error {
	token := c.Param("token")
	ctx := c.Request().Context()
	pw := c.FormValue("password")
	st, err := s.auth.Invitation(ctx, token)
	if errors.Is(err, auth.ErrLinkInvalid) {
		return s.staffMessagePage(c, http.StatusNotFound, "staff.password.invalid.title", "staff.password.invalid.text")
	}
	if err != nil {
		return err
	}
	speakStaffLanguage(c, st)
	p := s.catalog.Printer(localeOf(c))
	v := passwordView{Name: st.Name, Email: st.Email, Action: "/staff/password/" + token}
	if pw != c.FormValue("password2") {
		v.Error = p.T("staff.error.password.mismatch")
		return s.renderStaff(c, http.StatusUnprocessableEntity, "password", p.T("staff.password.title"), v)
	}
	_, err = s.auth.AcceptInvitation(ctx, token, pw)
	var verr *auth.ValidationError
	switch {
	case errors.As(err, &verr):
		v.Error = p.T("staff.error."+verr.Key, "Min", auth.MinPasswordLen, "Max", auth.MaxPasswordLen)
		return s.renderStaff(c, http.StatusUnprocessableEntity, "password", p.T("staff.password.title"), v)
	case errors.Is(err, auth.ErrLinkInvalid):
		return s.staffMessagePage(c, http.StatusNotFound, "staff.password.invalid.title", "staff.password.invalid.text")
	case err != nil:
		return err
	}
	return s.renderStaff(c, http.StatusOK, "message", p.T("staff.password.done.title"),
		staffMessage{Text: p.T("staff.password.done.text"), Link: "/staff/login", LinkText: p.T("staff.login.submit")})
}
