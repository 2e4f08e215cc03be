package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// An operator's address may be a path prefix on a shared host
// (BASE_URL https://privacy.example.kz/alpha): the deployment strips the
// prefix before a request reaches the routes, so the handlers and templates
// speak of paths of the application ("/staff/login"), and every path
// written out (a link, a form's action, a redirect, a cookie's Path, a
// ?next= value) goes through the one rule here, which puts the prefix back.
// At the root of a host the prefix is "" and every path is as it was.

// pathPrefix is BASE_URL's path without its trailing slash, as browsers send
// it (escaped): "" at the root of a host, else "/alpha".
func pathPrefix(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		// config.Load has checked BASE_URL already.
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// path is where p, a path of the application ("/staff/login",
// "/s/x?done=reply"), is on this operator's address; a cookie's Path too,
// so that two operators under different prefixes of one host never receive,
// nor overwrite, each other's cookies. Templates call it as href:
// {{href "/staff/login"}}.
func (s *Server) path(p string) string { return s.prefix + p }

// seeOther redirects to p, a path of the application, on this operator's address.
func (s *Server) seeOther(c echo.Context, p string) error {
	return c.Redirect(http.StatusSeeOther, s.path(p))
}

// templateFuncs are the functions every page template may call.
func templateFuncs(prefix string) template.FuncMap {
	return template.FuncMap{
		"href": func(p string) string { return prefix + p },
	}
}

// ownPath reads next, a path as the browser sees it (a ?next= value or a
// form's next field), as a path of the application: ok only for a path on
// this operator's own address, never another host's nor another prefix's.
func (s *Server) ownPath(next string) (string, bool) {
	if !localPath(next) {
		return "", false
	}
	if s.prefix == "" {
		return next, true
	}
	rest, ok := strings.CutPrefix(next, s.prefix)
	switch {
	case !ok:
		return "", false
	case rest == "":
		return "/", true
	case rest[0] == '?':
		return "/" + rest, true
	case rest[0] != '/':
		// "/alphabet" is not under "/alpha".
		return "", false
	}
	// What follows the prefix must itself be a path here: "/alpha//evil.example"
	// would otherwise become "//evil.example".
	return rest, localPath(rest)
}

// localPath says whether next is a path on this site, never another host.
// Browsers read a backslash as a slash and drop tabs and line breaks from a
// Location before parsing it ("/\t/evil.example" is "//evil.example"), so
// any control character refuses the value, not only CR and LF.
func localPath(next string) bool {
	return strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") &&
		!strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
