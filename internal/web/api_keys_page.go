package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/store"
)

type apiKeyRow struct {
	ID                           int64
	Name, Role, Prefix           string
	Created, LastUsed, RevokedAt string
	Active                       bool
	// Suspended says, in words, why a key that is not revoked does not
	// work: its maker lost the rights it was made with.
	Suspended string
}

type apiKeysView struct {
	Keys  []apiKeyRow
	Roles []auth.Role
	Name  string
	Role  string
	Err   map[string]string
	// NewKey is the key just created: shown on this answer only, never
	// stored, never shown again.
	NewKey     string
	NewKeyName string
}

func (s *Server) staffAPIKeys(c echo.Context) error {
	return s.renderAPIKeys(c, http.StatusOK, apiKeysView{Role: string(auth.Agent)})
}

func (s *Server) renderAPIKeys(c echo.Context, status int, v apiKeysView) error {
	keys, err := s.apiKeys.List(c.Request().Context(), staffOf(c))
	if err != nil {
		return err
	}
	staff, err := s.auth.List(c.Request().Context(), staffOf(c))
	if err != nil {
		return err
	}
	makers := map[int64]string{}
	for _, st := range staff {
		makers[st.ID] = st.Name
	}
	p := s.catalog.Printer(localeOf(c))
	loc := s.cfg.Location
	for _, k := range keys {
		row := apiKeyRow{ID: k.ID, Name: k.Name, Role: string(k.Role), Prefix: k.Prefix,
			Created: p.DateTime(k.CreatedAt.In(loc)), LastUsed: p.T("api.keys.never"), Active: k.Active()}
		if !k.LastUsedAt.IsZero() {
			row.LastUsed = p.DateTime(k.LastUsedAt.In(loc))
		}
		if !k.Active() {
			row.RevokedAt = p.DateTime(k.RevokedAt.In(loc))
		} else if why := k.Suspension(); why != "" {
			row.Suspended = p.T("api.keys.suspended."+why, "Maker", makers[k.CreatedBy])
		}
		v.Keys = append(v.Keys, row)
	}
	v.Roles = auth.Roles()
	return s.renderStaff(c, status, "apikeys", p.T("api.keys.title"), v)
}

// staffCreateAPIKey makes a key and shows it once, on this answer: it is
// not put in the session or anywhere else (the page is no-store).
func (s *Server) staffCreateAPIKey(c echo.Context) error {
	v := apiKeysView{Name: c.FormValue("name"), Role: c.FormValue("role")}
	k, secret, err := s.apiKeys.Create(c.Request().Context(), staffOf(c), v.Name, v.Role)
	var verr *auth.ValidationError
	p := s.catalog.Printer(localeOf(c))
	switch {
	case errors.As(err, &verr):
		v.Err = map[string]string{verr.Field: p.T("api.keys.error." + verr.Field)}
		return s.renderAPIKeys(c, http.StatusUnprocessableEntity, v)
	case err != nil:
		return err
	}
	return s.renderAPIKeys(c, http.StatusOK, apiKeysView{Role: string(auth.Agent), NewKey: secret, NewKeyName: k.Name})
}

func (s *Server) staffRevokeAPIKey(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.ErrNotFound
	}
	_, err = s.apiKeys.Revoke(c.Request().Context(), staffOf(c), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return echo.ErrNotFound
	case errors.Is(err, auth.ErrAPIKeyRevoked):
		s.flash(c, "api.keys.already_revoked")
	case err != nil:
		return err
	default:
		s.flash(c, "api.keys.revoked")
	}
	return s.seeOther(c, "/staff/apikeys")
}
