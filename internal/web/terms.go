package web

import (
	"strings"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
)

// storedTermsInWords says how a request's deadline was counted, in the
// reader's language; an older record's English text is shown as written.
func storedTermsInWords(p *i18n.Printer, stored string) string {
	t, ok := deadline.DecodeTerms(stored)
	if !ok {
		return stored
	}
	return termsInWords(p, t)
}

// termsInWords words deadline.Terms, e.g. "15 рабочих дней (производственный
// календарь Казахстана), считая с подтверждения запроса".
func termsInWords(p *i18n.Printer, t deadline.Terms) string {
	s := periodInWords(p, t.Period)
	switch {
	case t.Default:
		s = p.T("staff.terms.default", "Period", s)
	case t.Period.Unit == deadline.WorkingDays:
		s = p.T("staff.terms.working_days", "Period", s, "Calendar", calendarInWords(p, t.Calendar))
	case t.Period.Unit == deadline.Months:
		s = p.T("staff.terms.months", "Period", s, "Calendar", calendarInWords(p, t.Calendar))
	}
	switch t.Start {
	case deadline.StartConfirmation:
		s = p.T("staff.terms.from_confirmation", "Terms", s)
	case deadline.StartGroundsConfirmed:
		s = p.T("staff.terms.from_grounds", "Terms", s)
	}
	if t.EarlierThan != nil {
		s = p.T("staff.terms.promise", "Terms", s, "Legal", termsInWords(p, *t.EarlierThan), "Ref", legalRefInWords(p, t.EarlierRule, t.EarlierRef))
	}
	if t.Extended != nil {
		ext := periodInWords(p, *t.Extended)
		if t.Extensions > 1 {
			s = p.T("staff.terms.extended_times", "Terms", s, "Times", t.Extensions, "Period", ext)
		} else {
			s = p.T("staff.terms.extended", "Terms", s, "Period", ext)
		}
	}
	return s
}

// legalRefInWords cites the law behind a rule in the reader's language
// where the catalogs have it (staff.legal_ref.<rule id>: the laws of
// Kazakhstan, in Russian and Kazakh); otherwise as the policy gives it.
func legalRefInWords(p *i18n.Printer, rule, stored string) string {
	if rule == "" {
		return stored
	}
	if s, ok := p.Lookup("staff.legal_ref." + strings.TrimSuffix(rule, ".extended")); ok {
		return s
	}
	return stored
}

func periodInWords(p *i18n.Printer, d deadline.Period) string {
	switch d.Unit {
	case deadline.CalendarDays, deadline.WorkingDays, deadline.Months:
		return p.N("staff.terms.unit."+string(d.Unit), d.Value)
	}
	return d.String()
}

func calendarInWords(p *i18n.Printer, name string) string {
	switch name {
	case "kz", "weekdays":
		return p.T("staff.terms.calendar." + name)
	}
	return p.T("staff.terms.calendar.named", "Name", name)
}

// periodForType says, on a request's form, how long an answer to a request
// of type t made now may take and who sets that period: the law (with its
// reference) or the operator.
func (s *Server) periodForType(p *i18n.Printer, t request.Type) string {
	now := s.clock.Now()
	due, err := s.intake.Deadlines.Due(deadline.Input{Type: string(t), ReceivedAt: now, ConfirmedAt: now})
	if err != nil {
		return ""
	}
	return s.periodInWords(p, "form.period", due.Rule, due.LegalRef, due.Terms)
}

// periodInWords words a deadline's period for the requester, with its
// source: the law (and its reference) or the operator. key is
// "form.period" or "status.period".
func (s *Server) periodInWords(p *i18n.Printer, key, rule, legalRef string, t deadline.Terms) string {
	period := periodInWords(p, t.Period)
	if t.Period.Unit == "" {
		return ""
	}
	if t.Period.Unit == deadline.WorkingDays {
		period = p.T("staff.terms.working_days", "Period", period, "Calendar", calendarInWords(p, t.Calendar))
	}
	if legalRef != "" {
		return p.T(key+".law", "Period", period, "Ref", legalRefInWords(p, rule, legalRef))
	}
	return p.T(key+".operator", "Period", period, "Org", s.cfg.OrgName)
}

// storedPeriodInWords words the period a stored request was dated by;
// empty for records from before Terms were kept.
func (s *Server) storedPeriodInWords(p *i18n.Printer, r request.Request) string {
	t, ok := deadline.DecodeTerms(r.RuleBasis)
	if !ok {
		return ""
	}
	return s.periodInWords(p, "status.period", strings.TrimSuffix(r.Rule, ".extended"), r.LegalRef, t)
}
