package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// LetterStore reads the letters a request came as or was written in
// (issue 14): the request page shows them as they came, sanitised.
type LetterStore interface {
	Letters(ctx context.Context, requestID int64) (store.LetterInfo, error)
}

// lettersView is what the request page shows of a request's letters: each
// letter as it came (text only, never HTML), what named this request, the
// request it was merged into, and the triage and merge forms.
type lettersView struct {
	Letters    []letterView
	NamedBy    []duplicateView
	MergedInto string
	// Suggestion is the first letter's suggested type in words, or the
	// note that its words suggest none; Warnings say which request a
	// letter named without joining it, and why.
	Suggestion string
	Warnings   []string
	CanTriage  bool
	CanMerge   bool
	Types      []typeOption
	Scopes     []typeOption
}

type letterView struct {
	Title                             string
	From, To, Cc, Date, Subject, Text string
	Received                          string
	FromHTML, Truncated, Gone         bool
	Skipped                           []string
}

type typeOption struct {
	Code, Label string
	Selected    bool
}

// letters builds the letters part of the request page.
func (s *Server) lettersOf(ctx context.Context, p *i18n.Printer, r request.Request, canWork bool, loc *time.Location) (lettersView, error) {
	var v lettersView
	if s.letters == nil {
		return v, nil
	}
	info, err := s.letters.Letters(ctx, r.ID)
	if err != nil {
		return v, err
	}
	if info.MergedInto.Reference != "" {
		v.MergedInto = info.MergedInto.Reference
	}
	for _, n := range info.NamedBy {
		v.NamedBy = append(v.NamedBy, duplicateView{Reference: n.Reference, Status: p.T("staff.status." + string(n.Status))})
	}
	for i, l := range info.Letters {
		lv := letterView{
			Title: p.T("staff.letter.title"), From: l.View.From, To: l.View.To, Cc: l.View.Cc, Subject: l.View.Subject,
			Text: maskSecrets(l.View.Text), FromHTML: l.View.FromHTML, Truncated: l.View.Truncated,
			Received: p.DateTime(l.ReceivedAt.In(loc)), Gone: l.View.From == "" && l.View.Text == "",
		}
		if l.Outcome == "reply" {
			lv.Title = p.T("staff.letter.reply_title")
		}
		if t, err := time.Parse(time.RFC3339, l.View.Date); err == nil {
			lv.Date = p.DateTime(t.In(loc))
		}
		for _, sk := range l.View.Skipped {
			lv.Skipped = append(lv.Skipped, p.T("staff.letter.skipped", "Name", sk.Name, "Type", sk.ContentType))
		}
		v.Letters = append(v.Letters, lv)
		if l.NamedWhy != "" {
			v.Warnings = append(v.Warnings, p.T("staff.letter.named."+l.NamedWhy, "Reference", l.Named.Reference))
		}
		if i == 0 && l.Outcome == "request" {
			if l.Suggested != "" {
				v.Suggestion = p.T("staff.letter.suggested", "Type", p.T("type."+string(l.Suggested)+".name"), "Cues", strings.Join(l.Cues, ", "))
			} else {
				v.Suggestion = p.T("staff.letter.no_suggestion")
			}
		}
	}
	if !canWork {
		return v, nil
	}
	v.CanTriage = s.desk.CanTriage(r) == nil
	v.CanMerge = s.desk.CanMerge(r) == nil
	for _, t := range s.cfg.EnabledTypes {
		v.Types = append(v.Types, typeOption{Code: string(t), Label: p.T("type." + string(t) + ".name"), Selected: t == r.Type})
	}
	for _, sc := range []string{"information", "copy"} {
		v.Scopes = append(v.Scopes, typeOption{Code: sc, Label: p.T("field.access_scope." + sc), Selected: sc == r.AccessScope})
	}
	return v, nil
}

// staffRequestTriage confirms (or changes) the type of a letter's request;
// its due date then follows that type's rule from the letter's receipt.
func (s *Server) staffRequestTriage(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		t := request.Retype{Type: request.Type(c.FormValue("type")), AccessScope: c.FormValue("access_scope")}
		_, err := s.desk.Triage(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), t)
		if errors.Is(err, request.ErrTypeNotOffered) {
			p := s.catalog.Printer(localeOf(c))
			return s.renderRequest(c, http.StatusUnprocessableEntity, r, actionForm{}, p.T("staff.triage.error.type"), "triage", nil)
		}
		return s.afterAction(c, r, actionForm{}, "triage", err, "staff.request.done.triaged")
	})
}

// staffRequestMerge adds a letter's request to the request it follows up.
func (s *Server) staffRequestMerge(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		into := strings.ToUpper(strings.TrimSpace(c.FormValue("into")))
		_, err := s.desk.Merge(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), into)
		if errors.Is(err, request.ErrMergeTarget) {
			p := s.catalog.Printer(localeOf(c))
			return s.renderRequest(c, http.StatusUnprocessableEntity, r, actionForm{MergeInto: into}, p.T("staff.merge.error.target"), "merge", nil)
		}
		return s.afterAction(c, r, actionForm{MergeInto: into}, "merge", err, "staff.request.done.merged")
	})
}
