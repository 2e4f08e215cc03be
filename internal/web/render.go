package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
)

// pages holds every page template, each parsed once at start together with
// the layout and partials.
type pages map[string]*template.Template

func parsePages(fsys fs.FS, funcs template.FuncMap) (pages, error) {
	names, err := fs.Glob(fsys, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("list pages: %w", err)
	}
	out := pages{}
	for _, name := range names {
		t, err := template.New(path.Base(name)).Funcs(funcs).ParseFS(fsys, "templates/layouts/*.html", "templates/partials/*.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		out[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	// Staff pages have a layout of their own and are named "staff/<page>",
	// so they never shadow a public page.
	staffNames, err := fs.Glob(fsys, "templates/staff/*.html")
	if err != nil {
		return nil, fmt.Errorf("list staff pages: %w", err)
	}
	for _, name := range staffNames {
		t, err := template.New(path.Base(name)).Funcs(funcs).ParseFS(fsys, "templates/staff/layouts/*.html", "templates/partials/*.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		out["staff/"+strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return out, nil
}

// page is what every page template receives.
type page struct {
	L         *i18n.Printer
	Lang      string
	Title     string
	Org       string
	CSS       string
	Brand     string // the operator's colours (brand.css), when BRAND_COLOR is set
	Logo      string // the operator's logo, when LOGO_FILE is set
	CSRF      string
	Languages []languageLink
	Data      any
}

type languageLink struct {
	Code    string
	Name    string
	URL     string
	Current bool
}

// render writes a page with its status code. Pages carry personal data or
// secret links, so none of them may be cached.
func (s *Server) render(c echo.Context, status int, name, title string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	p := s.pageFor(c, title, data)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Content-Language", p.Lang)
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) pageFor(c echo.Context, title string, data any) page {
	l := localeOf(c)
	p := s.catalog.Printer(l)
	csrf, _ := c.Get(csrfContextKey).(string)
	// The language switch comes back to this page, as the browser names it.
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet {
		next = c.Request().URL.Path
	}
	next = s.path(next)
	var langs []languageLink
	for _, other := range request.Locales() {
		langs = append(langs, languageLink{
			Code:    string(other),
			Name:    p.T("lang." + string(other)),
			URL:     "/lang/" + string(other) + "?next=" + url.QueryEscape(next),
			Current: other == l,
		})
	}
	return page{
		L: p, Lang: string(l), Title: title, Org: s.cfg.OrgName, CSS: s.assets.url("style.css"),
		Brand: s.assets.url("brand.css"), Logo: s.assets.url("logo." + s.cfg.LogoExt),
		CSRF: csrf, Languages: langs, Data: data,
	}
}

// assets serves the embedded static files under content-hashed names, so
// browsers may cache them forever and still never see a stale one.
type assets struct {
	byURL  map[string][]byte
	byName map[string]string
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{byURL: map[string][]byte{}, byName: map[string]string{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		a.add(strings.TrimPrefix(p, "static/"), b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static files: %w", err)
	}
	return a, nil
}

// add serves b as the static file name, under a name with its hash.
func (a *assets) add(name string, b []byte) {
	sum := sha256.Sum256(b)
	ext := path.Ext(name)
	u := "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
	a.byURL[u] = b
	a.byName[name] = u
}

func (a *assets) url(name string) string { return a.byName[name] }

func (a *assets) serve(c echo.Context) error {
	b, ok := a.byURL[c.Request().URL.Path]
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	ctype := "application/octet-stream"
	switch path.Ext(c.Request().URL.Path) {
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	case ".png":
		ctype = "image/png"
	case ".jpg":
		ctype = "image/jpeg"
	case ".webp":
		ctype = "image/webp"
	case ".gif":
		ctype = "image/gif"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	}
	return c.Blob(http.StatusOK, ctype, b)
}
