package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

type accountView struct {
	Me      auth.Staff
	TOTPOn  bool
	Pending bool
	Secret  string
	URI     string
	QR      template.HTML
	Error   string
}

func (s *Server) staffAccount(c echo.Context) error {
	return s.renderAccount(c, http.StatusOK, "")
}

func (s *Server) renderAccount(c echo.Context, status int, errKey string) error {
	me := staffOf(c)
	p := s.catalog.Printer(localeOf(c))
	v := accountView{Me: me, TOTPOn: me.HasTOTP()}
	if uri := s.auth.PendingTOTPURI(me); uri != "" {
		v.Pending, v.Secret, v.URI = true, me.TOTPSecret, uri
		qr, err := qrSVG(uri, p.T("staff.account.totp.qr"))
		if err != nil {
			// The secret as text is enough to enrol; the picture is a convenience.
			s.log.WarnContext(c.Request().Context(), "draw TOTP QR code", "error", err)
		}
		v.QR = qr
	}
	if errKey != "" {
		v.Error = p.T(errKey)
	}
	return s.renderStaff(c, status, "account", p.T("staff.account.title"), v)
}

func (s *Server) staffTOTPStart(c echo.Context) error {
	_, _, err := s.auth.StartTOTP(c.Request().Context(), staffOf(c))
	if err != nil && !errors.Is(err, auth.ErrTOTPActive) {
		return err
	}
	return s.seeOther(c, "/staff/account#totp")
}

func (s *Server) staffTOTPConfirm(c echo.Context) error {
	err := s.auth.ConfirmTOTP(c.Request().Context(), staffOf(c), c.FormValue("code"))
	switch {
	case errors.Is(err, auth.ErrBadCode):
		return s.renderAccount(c, http.StatusUnprocessableEntity, "staff.account.totp.bad_code")
	case errors.Is(err, auth.ErrTOTPActive), errors.Is(err, auth.ErrTOTPNotActive):
		return s.seeOther(c, "/staff/account")
	case err != nil:
		return err
	}
	s.flash(c, "staff.account.totp.enabled")
	return s.seeOther(c, "/staff/account")
}

func (s *Server) staffTOTPDisable(c echo.Context) error {
	err := s.auth.DisableTOTP(c.Request().Context(), staffOf(c), c.FormValue("code"))
	switch {
	case errors.Is(err, auth.ErrBadCode):
		return s.renderAccount(c, http.StatusUnprocessableEntity, "staff.account.totp.bad_code")
	case errors.Is(err, auth.ErrThrottled):
		return s.renderAccount(c, http.StatusTooManyRequests, "staff.account.totp.throttled")
	case errors.Is(err, auth.ErrTOTPNotActive):
		return s.seeOther(c, "/staff/account")
	case err != nil:
		return err
	}
	s.flash(c, "staff.account.totp.disabled")
	return s.seeOther(c, "/staff/account")
}

// staffSignOutEverywhere ends every session of the account, this one too.
func (s *Server) staffSignOutEverywhere(c echo.Context) error {
	me := staffOf(c)
	if err := s.auth.EndSessions(c.Request().Context(), me, me.ID); err != nil {
		return err
	}
	if err := s.endSession(c); !errors.Is(err, errNotSignedIn) {
		return err
	}
	return s.seeOther(c, "/staff/login")
}
