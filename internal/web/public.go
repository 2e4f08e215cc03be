package web

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

func (s *Server) landing(c echo.Context) error {
	return s.render(c, http.StatusOK, "landing", "", map[string]any{"Types": s.cfg.EnabledTypes})
}

// enabledType reads the :type path parameter; an unknown or switched-off
// type is simply not found.
func (s *Server) enabledType(c echo.Context) (request.Type, error) {
	t := request.Type(c.Param("type"))
	if !slices.Contains(s.cfg.EnabledTypes, t) {
		return "", echo.ErrNotFound
	}
	return t, nil
}

func (s *Server) requestForm(c echo.Context) error {
	t, err := s.enabledType(c)
	if err != nil {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	v := newFormView(p, t, request.Submission{Type: t}, nil)
	v.Period = s.periodForType(p, t)
	return s.render(c, http.StatusOK, "form", p.T("type."+string(t)+".name"), v)
}

func (s *Server) submitForm(c echo.Context) error {
	t, err := s.enabledType(c)
	if err != nil {
		return err
	}
	sub := request.Submission{
		Type:         t,
		FullName:     c.FormValue("full_name"),
		Email:        c.FormValue("email"),
		Phone:        c.FormValue("phone"),
		AccountID:    c.FormValue("account_id"),
		Details:      c.FormValue("details"),
		Locale:       request.Locale(c.FormValue("locale")),
		OnBehalf:     c.FormValue("on_behalf") == "true",
		SubjectName:  c.FormValue("subject_name"),
		Relationship: request.Relationship(c.FormValue("relationship")),
		Consent:      c.FormValue("consent") == "true",
		AccessScope:  c.FormValue("access_scope"),
		Correction:   c.FormValue("correction"),
		Processing:   c.FormValue("processing"),
		FormID:       c.FormValue("form_id"),
	}
	if form, err := c.MultipartForm(); err == nil {
		if sub.Proof, err = readUploads(form.File["proof"]); err != nil {
			return err
		}
	}
	if sub.Locale.Valid() {
		// Answer in the language the form was shown in.
		c.Set(localeContextKey, sub.Locale)
	} else {
		sub.Locale = localeOf(c)
	}
	receipt, err := s.intake.Submit(c.Request().Context(), sub, localeOf(c))
	var verr *request.ValidationError
	if errors.As(err, &verr) {
		p := s.catalog.Printer(localeOf(c))
		sub.Normalize()
		v := newFormView(p, t, sub, verr)
		v.Period = s.periodForType(p, t)
		return s.render(c, http.StatusUnprocessableEntity, "form", p.T("type."+string(t)+".name"), v)
	}
	var limit *request.LimitReached
	if errors.As(err, &limit) {
		p := s.catalog.Printer(localeOf(c))
		sub.Normalize()
		return s.render(c, http.StatusTooManyRequests, "form", p.T("type."+string(t)+".name"), newFormView(p, t, sub, s.limitReached(c, limit)))
	}
	if err != nil {
		return err
	}
	// Post/redirect/get: reloading the thank-you page never resubmits. Its
	// address is a receipt of its own, not a way into the request: the
	// browser that filed it may not be the owner of the address it names.
	return s.seeOther(c, "/thanks/"+s.receipts.Issue(receipt.Reference))
}

// requestByToken finds the request behind a secret link. Every failure —
// malformed, unknown, old — looks the same to the visitor.
func (s *Server) requestByToken(c echo.Context) (request.Request, error) {
	token := c.Param("token")
	if !request.WellFormedToken(token) {
		return request.Request{}, store.ErrNotFound
	}
	return s.store.RequestByStatusToken(c.Request().Context(), request.HashToken(token))
}

// speakRequestersLanguage answers pages reached from an email in the
// language the person chose for their request, unless they have picked one
// on this site since.
func speakRequestersLanguage(c echo.Context, r request.Request) {
	if _, err := c.Cookie(langCookie); err != nil && r.Locale.Valid() {
		c.Set(localeContextKey, r.Locale)
	}
}

func (s *Server) invalidLink(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusNotFound, "message", p.T("invalid_link.title"), map[string]string{"Text": p.T("invalid_link.text")})
}

// withLinkedRequest runs page with the request behind the page's secret
// link, in the requester's language; a link that leads nowhere gets the
// not-valid page.
func (s *Server) withLinkedRequest(c echo.Context, page func(r request.Request) error) error {
	r, err := s.requestByToken(c)
	if errors.Is(err, store.ErrNotFound) {
		return s.invalidLink(c)
	}
	if err != nil {
		return err
	}
	speakRequestersLanguage(c, r)
	return page(r)
}

// thanks is the thank-you page: the reference, type and dates of the
// request just filed, and where its link went: to the mailbox it names.
// Nothing on it says whether that address had filed before (a duplicate is
// staff's business), whether it was confirmed since, or anything else the
// request holds; and the page opens for an hour only (request.Receipts).
func (s *Server) thanks(c echo.Context) error {
	ref, err := s.receipts.Check(c.Param("receipt"))
	if errors.Is(err, request.ErrLinkExpired) {
		p := s.catalog.Printer(localeOf(c))
		return s.render(c, http.StatusGone, "message", p.T("thanks.expired.title"), map[string]string{"Text": p.T("thanks.expired.text")})
	}
	if err != nil {
		return s.invalidLink(c)
	}
	r, err := s.store.RequestByReference(c.Request().Context(), ref)
	if errors.Is(err, store.ErrNotFound) {
		return s.invalidLink(c)
	}
	if err != nil {
		return err
	}
	speakRequestersLanguage(c, r)
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusOK, "thanks", p.T("thanks.title"), map[string]any{
		"Reference":     r.Reference,
		"Type":          r.Type,
		"ReceivedLocal": r.ReceivedAt.In(s.cfg.Location),
		"DueLocal":      r.DueAt.In(s.cfg.Location),
		// What the deployment does, not what this request has become.
		"Verify": s.intake.Config.VerifyEmail,
	})
}

// daysLeftText counts calendar days between today and the due day in the
// operator's time zone, as a person would count them on a calendar.
func daysLeftText(p *i18n.Printer, now, due time.Time, loc *time.Location) string {
	today := civilDay(now.In(loc))
	dueDay := civilDay(due.In(loc))
	days := int(dueDay.Sub(today).Hours() / 24)
	switch {
	case now.After(due):
		return p.T("status.overdue")
	case days == 0:
		return p.T("status.due_today")
	}
	return p.N("status.days_left", days)
}

func civilDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// setLanguage remembers the visitor's language and sends them back.
func (s *Server) setLanguage(c echo.Context) error {
	l := request.Locale(c.Param("locale"))
	if !l.Valid() {
		return echo.ErrNotFound
	}
	c.SetCookie(&http.Cookie{ // #nosec G124 -- HttpOnly and SameSite set; Secure follows BASE_URL (https in production, http on a developer's machine)
		Name: langCookie, Value: string(l), Path: s.path("/"), MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
	next, ok := s.ownPath(c.QueryParam("next"))
	if !ok {
		next = "/"
	}
	return s.seeOther(c, next)
}

// confirmPage asks the requester to confirm with a button: mail scanners
// open links on their own, and must not confirm anything by doing so.
func (s *Server) confirmPage(c echo.Context) error {
	r, err := s.confirmer.Peek(c.Request().Context(), c.Param("token"))
	return s.confirmOutcome(c, r, err, func() error {
		p := s.catalog.Printer(localeOf(c))
		return s.render(c, http.StatusOK, "confirm", p.T("confirm.ask.title"), map[string]any{
			"Reference": r.Reference, "Action": "/confirm/" + c.Param("token"),
		})
	})
}

func (s *Server) confirm(c echo.Context) error {
	r, err := s.confirmer.Confirm(c.Request().Context(), c.Param("token"))
	return s.confirmOutcome(c, r, err, func() error {
		p := s.catalog.Printer(localeOf(c))
		return s.render(c, http.StatusOK, "message", p.T("confirm.title"), map[string]string{
			"Text": p.T("confirm.text", "Reference", r.Reference, "By", p.DateBy(r.DueAt.In(s.cfg.Location))),
		})
	})
}

// confirmOutcome answers a used link kindly, and an expired, unknown or
// no longer applicable one with the same not-valid page.
func (s *Server) confirmOutcome(c echo.Context, r request.Request, err error, ok func() error) error {
	if r.ID != 0 {
		speakRequestersLanguage(c, r)
	}
	switch {
	case err == nil:
		return ok()
	case errors.Is(err, request.ErrAlreadyConfirmed):
		p := s.catalog.Printer(localeOf(c))
		return s.render(c, http.StatusOK, "message", p.T("confirm.title"), map[string]string{"Text": p.T("confirm.already")})
	case errors.Is(err, request.ErrNotFound), errors.Is(err, request.ErrLinkExpired), errors.Is(err, request.ErrTransitionNotAllowed):
		return s.invalidLink(c)
	}
	return err
}
