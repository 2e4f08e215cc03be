package web

import (
	"bytes"
	"fmt"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
)

// staffPage is what staff templates receive: the common page plus who is
// signed in and the navigation their role allows.
type staffPage struct {
	page
	Me       *auth.Staff
	Nav      []staffNavItem
	Flash    string
	StaffCSS string
	// MailPaused says since when email delivery is paused; "" when it runs.
	MailPaused string
	// Switch lists the other operators the account works for (the
	// switcher); empty for a member of one.
	Switch []switchItem
}

type staffNavItem struct {
	URL, Label string
	Current    bool
}

type staffMessage struct {
	Text, Link, LinkText string
}

// staffNav lists the sections a role may open.
var staffNav = []struct {
	url, key string
	perm     auth.Perm
}{
	{"/staff", "staff.nav.queue", auth.PermRequestsRead},
	{"/staff/dashboard", "staff.nav.dashboard", auth.PermRequestsRead},
	{"/staff/users", "staff.nav.users", auth.PermStaffRead},
	{"/staff/apikeys", "staff.nav.apikeys", auth.PermStaffManage},
	{"/staff/webhooks", "staff.nav.webhooks", auth.PermStaffManage},
	{"/staff/account", "staff.nav.account", auth.PermSelf},
	{"/staff/platform", "staff.nav.platform", auth.PermPlatform},
}

// renderStaff writes a page of templates/staff with the staff layout.
func (s *Server) renderStaff(c echo.Context, status int, name, title string, data any) error {
	t, ok := s.pages["staff/"+name]
	if !ok {
		return fmt.Errorf("no staff page template %q", name)
	}
	p := staffPage{page: s.pageFor(c, title, data), StaffCSS: s.assets.url("staff.css")}
	if me, ok := c.Get(staffContextKey).(auth.Staff); ok {
		p.Me = &me
		for _, n := range staffNav {
			if n.perm == auth.PermPlatform && s.operators == nil {
				continue // one operator: its dashboard says it all
			}
			if me.Can(n.perm) {
				p.Nav = append(p.Nav, staffNavItem{URL: n.url, Label: p.L.T(n.key), Current: c.Request().URL.Path == n.url})
			}
		}
	}
	if p.Me != nil {
		p.Switch = s.switchTargets(c, *p.Me)
	}
	if p.Me != nil && s.mail != nil {
		// Staff must know that requesters hear nothing meanwhile; a failed
		// look costs the notice, not the page.
		if since, err := s.mail.DeliveryPausedAt(c.Request().Context()); err != nil {
			s.log.WarnContext(c.Request().Context(), "read whether email delivery is paused", "error", err)
		} else if !since.IsZero() {
			p.MailPaused = p.L.T("staff.mail_paused", "Since", p.L.DateTime(since.In(s.cfg.Location)))
		}
	}
	if s.sessions != nil && s.sessions.Exists(c.Request().Context(), sessFlash) {
		p.Flash = p.L.T(s.sessions.PopString(c.Request().Context(), sessFlash))
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", p); err != nil {
		return fmt.Errorf("render staff/%s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Content-Language", p.Lang)
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) staffMessagePage(c echo.Context, status int, titleKey, textKey string) error {
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, status, "message", p.T(titleKey), staffMessage{Text: p.T(textKey)})
}
