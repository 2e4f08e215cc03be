package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/store"
)

// Operators is the deployment's operators as one operator's workspace sees
// them (issue 15): the switcher's list and the platform page's figures.
// nil for a deployment of one operator, which has neither.
type Operators interface {
	// Self is the id of the operator this server serves.
	Self() int64
	// All lists every operator of the deployment, in the file's order.
	All() []OperatorRef
	// Counts counts one operator's requests and emails at now, under that
	// operator's own scope: figures only, never a row.
	Counts(ctx context.Context, operatorID int64, now time.Time) (store.OperatorCounts, error)
}

// OperatorRef names an operator of the deployment.
type OperatorRef struct {
	ID      int64
	Slug    string
	Name    string
	BaseURL string // its own address, with its path prefix if any
}

// switchItem is one other operator the signed-in account works for.
type switchItem struct {
	Slug, Name string
	Role       auth.Role
}

// switchTargets lists the other operators me is a member of, for the
// header's switcher; none in a deployment of one operator. A failed look
// costs the switcher, not the page.
func (s *Server) switchTargets(c echo.Context, me auth.Staff) []switchItem {
	if s.operators == nil || len(s.operators.All()) < 2 {
		return nil
	}
	ctx := c.Request().Context()
	ms, err := s.auth.Memberships(ctx, me)
	if err != nil {
		s.log.WarnContext(ctx, "list the account's operators", "error", err, "request_id", requestIDOf(c))
		return nil
	}
	var out []switchItem
	for _, op := range s.operators.All() {
		if op.ID == s.operators.Self() {
			continue
		}
		if i := slices.IndexFunc(ms, func(m auth.Membership) bool { return m.OperatorID == op.ID }); i >= 0 {
			out = append(out, switchItem{Slug: op.Slug, Name: op.Name, Role: ms[i].Role})
		}
	}
	return out
}

// operatorBySlug is the deployment's operator with slug, other than this one.
func (s *Server) otherOperator(slug string) (OperatorRef, bool) {
	if s.operators == nil {
		return OperatorRef{}, false
	}
	for _, op := range s.operators.All() {
		if op.Slug == slug && op.ID != s.operators.Self() {
			return op, true
		}
	}
	return OperatorRef{}, false
}

// staffSwitch starts a switch to another operator's workspace: a
// same-origin POST (the staff door's CSRF check) makes a one-time handoff,
// and the browser is sent to the other operator's own address to use it.
// An operator the account is not a member of is not found, as a slug
// never seen.
func (s *Server) staffSwitch(c echo.Context) error {
	me := staffOf(c)
	target, ok := s.otherOperator(c.FormValue("operator"))
	if !ok {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	signedIn := time.Unix(s.sessions.GetInt64(ctx, sessSignedIn), 0)
	token, err := s.auth.StartHandoff(ctx, me, s.operators.Self(), target.ID, signedIn)
	if errors.Is(err, auth.ErrNotMember) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, target.BaseURL+"/staff/switch/"+token)
}

type switchView struct {
	Action string
}

// staffSwitchPage is where a handoff lands on the other operator's
// address. Opening it spends nothing (a prefetching browser or a scanner
// opens links too): its button does, with this address's CSRF token.
func (s *Server) staffSwitchPage(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, http.StatusOK, "switch", p.T("staff.switch.title", "Org", s.cfg.OrgName),
		switchView{Action: s.path("/staff/switch/" + c.Param("token"))})
}

// staffSwitchIn spends the handoff and signs its account in here, on a
// fresh session that ends when the one it came from would have; with a
// second factor on, the code is asked here first.
func (s *Server) staffSwitchIn(c echo.Context) error {
	ctx := c.Request().Context()
	me, signedIn, needCode, err := s.auth.RedeemHandoff(ctx, c.Param("token"))
	if errors.Is(err, auth.ErrLinkInvalid) {
		return s.renderStaff(c, http.StatusNotFound, "message", s.catalog.Printer(localeOf(c)).T("staff.switch.invalid.title"),
			staffMessage{Text: s.catalog.Printer(localeOf(c)).T("staff.switch.invalid.text"), Link: "/staff/login",
				LinkText: s.catalog.Printer(localeOf(c)).T("staff.login.title")})
	}
	if err != nil {
		return err
	}
	if needCode {
		return s.awaitCode(c, me.ID, "/staff", signedIn.Unix())
	}
	if err := s.startSession(c, me); err != nil {
		return err
	}
	s.carrySignIn(ctx, signedIn.Unix())
	return s.seeOther(c, "/staff")
}

// carrySignIn dates the session's sign-in back to when the account signed
// in where it came from, so that switching never lengthens staffLifetime.
func (s *Server) carrySignIn(ctx context.Context, at int64) {
	if at > 0 && at < s.sessions.GetInt64(ctx, sessSignedIn) {
		s.sessions.Put(ctx, sessSignedIn, at)
	}
}
