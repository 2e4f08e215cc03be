package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

type usersView struct {
	Staff     []auth.Staff
	MeID      int64
	CanManage bool
	Roles     []auth.Role
	Locales   []request.Locale
	Form      auth.AccountInput
	Err       map[string]string
}

func (s *Server) staffUsers(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, auth.AccountInput{Role: string(auth.Agent), Locale: string(request.Russian)}, nil)
}

func (s *Server) renderUsers(c echo.Context, status int, form auth.AccountInput, errs map[string]string) error {
	me := staffOf(c)
	list, err := s.auth.List(c.Request().Context(), me)
	if err != nil {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, status, "users", p.T("staff.users.title"), usersView{
		Staff: list, MeID: me.ID, CanManage: me.Can(auth.PermStaffManage),
		Roles: auth.Roles(), Locales: request.Locales(), Form: form, Err: errs,
	})
}

func (s *Server) staffInvite(c echo.Context) error {
	in := auth.AccountInput{
		Email: c.FormValue("email"), Name: c.FormValue("name"),
		Role: c.FormValue("role"), Locale: c.FormValue("locale"),
	}
	_, err := s.auth.Invite(c.Request().Context(), staffOf(c), in)
	p := s.catalog.Printer(localeOf(c))
	var verr *auth.ValidationError
	switch {
	case errors.As(err, &verr):
		return s.renderUsers(c, http.StatusUnprocessableEntity, in, map[string]string{verr.Field: p.T("staff.error." + verr.Key)})
	case errors.Is(err, auth.ErrEmailTaken):
		return s.renderUsers(c, http.StatusUnprocessableEntity, in, map[string]string{"email": p.T("staff.error.email_taken")})
	case err != nil:
		return err
	}
	s.flash(c, "staff.users.invited")
	return s.seeOther(c, "/staff/users")
}

// targetID reads the :id of the account a user-management form acts on.
func targetID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

// userChanged answers a user-management form: back to the list, with a
// line saying what happened or why nothing did.
func (s *Server) userChanged(c echo.Context, err error, done string) error {
	switch {
	case errors.Is(err, auth.ErrSelfChange):
		s.flash(c, "staff.users.self")
	case errors.As(err, new(*auth.ValidationError)):
		s.flash(c, "staff.error.role")
	case err != nil:
		return err
	default:
		s.flash(c, done)
	}
	return s.seeOther(c, "/staff/users")
}

func (s *Server) staffSetRole(c echo.Context) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	_, err = s.auth.SetRole(c.Request().Context(), staffOf(c), id, c.FormValue("role"))
	return s.userChanged(c, err, "staff.users.role_changed")
}

func (s *Server) staffDisable(c echo.Context) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	_, err = s.auth.SetDisabled(c.Request().Context(), staffOf(c), id, true)
	return s.userChanged(c, err, "staff.users.disabled")
}

func (s *Server) staffEnable(c echo.Context) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	_, err = s.auth.SetDisabled(c.Request().Context(), staffOf(c), id, false)
	return s.userChanged(c, err, "staff.users.enabled")
}

func (s *Server) staffEndSessions(c echo.Context) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	err = s.auth.EndSessions(c.Request().Context(), staffOf(c), id)
	return s.userChanged(c, err, "staff.users.signed_out")
}
