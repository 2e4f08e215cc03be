package deadline

import (
	"fmt"
	"strings"
	"time"
)

// Extend returns the deadline extended once more under the rule for the
// request's type, e.g. GDPR art. 12(3) (two further months) or CCPA (45
// more days). now is when staff ask for it; current is the deadline in
// force, including its Extensions count.
//
// The law lets a controller extend a running period, so the extension is
// refused with ErrExtensionAfterDeadline once current.DueAt has passed. A
// reason is required (ErrExtensionReasonRequired) because it must be told
// to the requester, and the rule's MaxUses (1 unless the policy says
// otherwise) bounds the count (ErrExtensionLimit).
//
// The new date is counted from the start of the legal clock, so one month
// extended by two ends three months after receipt rather than two months
// after a date already moved off a weekend; a pause already added to
// current (see Resume) is kept. When the operator's promise had set an
// earlier date, the extension replaces it with the extended legal date.
func (p *Policy) Extend(in Input, current Result, now time.Time, reason string) (Result, error) {
	if err := p.check(in); err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return Result{}, ErrExtensionReasonRequired
	}
	return p.Extension(in, current, now)
}

// Extension is what one more extension would give at now, or why there is
// none (ErrExtensionAfterDeadline, ErrNoExtension, ErrExtensionLimit): the
// rule of Extend without its reason, so that a page can offer the date
// before staff have written why.
func (p *Policy) Extension(in Input, current Result, now time.Time) (Result, error) {
	if err := p.check(in); err != nil {
		return Result{}, err
	}
	if now.After(current.DueAt) {
		return Result{}, fmt.Errorf("due %s, asked %s: %w", current.DueAt.Format(time.DateTime), now.In(p.loc).Format(time.DateTime), ErrExtensionAfterDeadline)
	}
	r := p.governing(in)
	if r.Extension == nil {
		return Result{}, fmt.Errorf("%s: %w", r.ID, ErrNoExtension)
	}
	if current.Extensions >= r.Extension.maxUses() {
		return Result{}, fmt.Errorf("%s allows %d: %w", r.ID, r.Extension.maxUses(), ErrExtensionLimit)
	}
	k := current.Extensions
	before, err := p.extendedDay(r, in, k)
	if err != nil {
		return Result{}, err
	}
	after, err := p.extendedDay(r, in, k+1)
	if err != nil {
		return Result{}, err
	}
	if paused := before.DaysUntil(DateOf(current.DueAt.In(p.loc))); paused > 0 {
		after = after.AddDays(paused)
	}
	ref := r.Extension.LegalRef
	if ref == "" {
		ref = r.LegalRef
	}
	terms := p.terms(r)
	extended := r.Extension.Period
	terms.Extended, terms.Extensions = &extended, k+1
	return Result{
		DueAt:      after.EndOfDay(p.loc),
		Rule:       r.ID + ".extended",
		LegalRef:   ref,
		Terms:      terms,
		Extensions: k + 1,
	}, nil
}

// governing returns the rule whose extension applies to a request: the
// legal rule of the day it was received, else the operator's promise, else
// the default.
func (p *Policy) governing(in Input) Rule {
	if r, ok := p.legalRule(in.Type, in.ReceivedAt); ok {
		return r
	}
	if p.promise != nil {
		return *p.promise
	}
	return defaultRule()
}

// extendedDay is the due day of r after k extensions.
func (p *Policy) extendedDay(r Rule, in Input, k int) (Date, error) {
	from, err := p.startDay(r, in)
	if err != nil {
		return Date{}, err
	}
	if k > 0 && r.Period.Unit == Months && r.Extension.Period.Unit == Months {
		// Months add up before the end is moved off a non-working day,
		// so the roll is not applied twice (Reg. 1182/71 art. 3(2)(c), (4)).
		return p.add(from, Period{r.Period.Value + k*r.Extension.Period.Value, Months})
	}
	day, err := p.add(from, r.Period)
	for i := 0; i < k && err == nil; i++ {
		day, err = p.add(day, r.Extension.Period)
	}
	if err != nil {
		return Date{}, fmt.Errorf("%s: %w", r.ID, err)
	}
	return day, nil
}

// Resume returns current with its due day moved later by the whole days
// the request was paused (e.g. waiting for the requester's identity
// documents): the number of local days from pausedAt's day to resumedAt's
// day. A pause that starts and ends on the same day moves nothing.
func (p *Policy) Resume(current Result, pausedAt, resumedAt time.Time) (Result, error) {
	if pausedAt.IsZero() || resumedAt.Before(pausedAt) {
		return Result{}, fmt.Errorf("%w: resumed before paused", ErrInvalidInput)
	}
	days := DateOf(pausedAt.In(p.loc)).DaysUntil(DateOf(resumedAt.In(p.loc)))
	return p.Shift(current, days), nil
}

// Shift returns current with its due day moved by days calendar days
// (later when positive), keeping the rule that set it.
func (p *Policy) Shift(current Result, days int) Result {
	current.DueAt = DateOf(current.DueAt.In(p.loc)).AddDays(days).EndOfDay(p.loc)
	return current
}
