package web

import (
	"strings"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/i18n"
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
