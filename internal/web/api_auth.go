package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

const apiKeyContextKey = "rd.apikey"

// apiError is the answer of a refused API call that is about no one field.
type apiError struct {
	Error string `json:"error"`
}

// requireAPIKey lets through calls with a live API key (Authorization:
// Bearer) whose role holds perm. The key is looked up on every call, so a
// revoked key fails at once. Cookies are never read: a browser visiting a
// page elsewhere cannot make a call with anyone's rights, so these routes
// need no CSRF token.
func (s *Server) requireAPIKey(perm auth.Perm) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
			return s.withAPIKey(c, perm, next)
		}
	}
}

// optionalAPIKey lets calls without an Authorization header through as
// they are (the public intake), and treats a call with one as requireAPIKey
// does: a malformed, unknown or revoked key is 401 and a key whose role
// lacks perm 403, never a silent fall-back to the public door.
func (s *Server) optionalAPIKey(perm auth.Perm) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, sent := c.Request().Header[echo.HeaderAuthorization]; !sent {
				return next(c)
			}
			return s.withAPIKey(c, perm, next)
		}
	}
}

// withAPIKey authenticates the call's bearer key and runs next with it.
func (s *Server) withAPIKey(c echo.Context, perm auth.Perm, next echo.HandlerFunc) error {
	h := c.Response().Header()
	p := s.catalog.Printer(localeOf(c))
	key, err := auth.APIKey{}, auth.ErrBadAPIKey
	if token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization)); ok {
		key, err = s.apiKeys.Authenticate(c.Request().Context(), token)
	}
	if errors.Is(err, auth.ErrBadAPIKey) {
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="rightsdesk"`)
		return c.JSON(http.StatusUnauthorized, apiError{p.T("api.error.unauthorized")})
	}
	if err != nil {
		return err
	}
	if !key.Can(perm) {
		return c.JSON(http.StatusForbidden, apiError{p.T("api.error.forbidden")})
	}
	c.Set(apiKeyContextKey, key)
	return next(c)
}

// bearerToken reads "Bearer <token>" (the scheme in any letter case).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func apiKeyOf(c echo.Context) auth.APIKey {
	k, _ := c.Get(apiKeyContextKey).(auth.APIKey)
	return k
}

// vouchingKey is the API key a call to the intake came with, if any (it
// passed optionalAPIKey).
func vouchingKey(c echo.Context) (auth.APIKey, bool) {
	k, ok := c.Get(apiKeyContextKey).(auth.APIKey)
	return k, ok && k.ID != 0
}
