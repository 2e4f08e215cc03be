package deadline

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policy computes deadlines: a preset plus the operator's promise and
// overrides, bound to a time zone and a holiday calendar. A Policy is
// immutable once built and safe for concurrent use.
type Policy struct {
	preset  Preset
	loc     *time.Location
	cal     Calendar
	promise *Rule
}

// Option configures a Policy in NewPolicy.
type Option func(*Policy) error

// WithCalendar sets the holiday calendar for working days and for moving a
// month's end off a non-working day. The default is Kazakhstan().
func WithCalendar(cal Calendar) Option {
	return func(p *Policy) error {
		if cal == nil {
			return errors.New("nil calendar")
		}
		p.cal = cal
		return nil
	}
}

// WithPromise sets the operator's own promise (e.g. "within 30 days"),
// counted from receipt. The due date is the earlier of the promise and the
// legal rule; a type with no legal rule follows the promise alone.
func WithPromise(period Period) Option {
	return WithPromiseRule(Rule{Period: period})
}

// WithPromiseRule is WithPromise with a chosen start and extension. The
// rule's ID is always "operator.promise" and it has no legal reference.
func WithPromiseRule(r Rule) Option {
	return func(p *Policy) error {
		r.ID = PromiseRuleID
		r.LegalRef = ""
		if err := r.Validate(); err != nil {
			return fmt.Errorf("promise: %w", err)
		}
		p.promise = &r
		return nil
	}
}

// WithRule replaces the legal rule for one request type, as the policy file
// does. Use it for an operator's reading of the law that differs from the
// preset's.
func WithRule(requestType string, r Rule) Option {
	return func(p *Policy) error {
		if !knownType(requestType) {
			return fmt.Errorf("%w %q", ErrUnknownType, requestType)
		}
		if r.ID == "" {
			r.ID = "policy." + requestType
		}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule for %s: %w", requestType, err)
		}
		p.preset.Rules[requestType] = r
		p.dropAmendments(requestType)
		return nil
	}
}

// dropAmendments removes a type's dated rules: the operator's own rule for
// it replaces them all.
func (p *Policy) dropAmendments(requestType string) {
	for i := range p.preset.Amendments {
		delete(p.preset.Amendments[i].Rules, requestType)
	}
}

// legalRule returns the legal rule for a request type that applies to a
// request received at receivedAt: the preset's rule, or a later law's from
// its first day on. A request keeps the rule of the day it was received.
func (p *Policy) legalRule(requestType string, receivedAt time.Time) (Rule, bool) {
	r, ok := p.preset.Rules[requestType]
	day := DateOf(receivedAt.In(p.loc))
	for _, a := range p.preset.Amendments {
		if ar, has := a.Rules[requestType]; has && !day.Before(a.From) {
			r, ok = ar, true
		}
	}
	return r, ok
}

// PromiseRuleID is the Rule of a Result set by the operator's promise.
const PromiseRuleID = "operator.promise"

// NewPolicy returns the policy of the named preset (one of PresetNames)
// in time zone loc.
func NewPolicy(preset string, loc *time.Location, opts ...Option) (*Policy, error) {
	pr, err := LookupPreset(preset)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		return nil, errors.New("deadline policy: nil time zone")
	}
	p := &Policy{preset: pr, loc: loc}
	for i := range p.preset.Amendments {
		// A fresh copy: options change these maps.
		p.preset.Amendments[i].Rules = cloneRules(p.preset.Amendments[i].Rules)
	}
	for _, opt := range opts {
		if err := opt(p); err != nil {
			return nil, fmt.Errorf("deadline policy %s: %w", preset, err)
		}
	}
	if p.cal == nil {
		p.cal = Kazakhstan()
	}
	return p, nil
}

// Preset returns the policy's preset, with any rule overrides applied.
func (p *Policy) Preset() Preset {
	pr := p.preset
	pr.Rules = cloneRules(pr.Rules)
	pr.Actions = cloneRules(pr.Actions)
	pr.Amendments = make([]Amendment, len(p.preset.Amendments))
	for i, a := range p.preset.Amendments {
		a.Rules = cloneRules(a.Rules)
		pr.Amendments[i] = a
	}
	pr.Grounds = append([]Ground(nil), p.preset.Grounds...)
	return pr
}

// Location returns the time zone the policy counts days in.
func (p *Policy) Location() *time.Location { return p.loc }

// Calendar returns the policy's holiday calendar.
func (p *Policy) Calendar() Calendar { return p.cal }

// Due returns the deadline for answering a request: the earlier of the
// legal rule for its type and the operator's promise (the legal rule wins a
// tie, so staff see the law). A type with neither follows the rightsdesk
// default of 30 calendar days.
func (p *Policy) Due(in Input) (Result, error) {
	if err := p.check(in); err != nil {
		return Result{}, err
	}
	legal, hasLegal := p.legalRule(in.Type, in.ReceivedAt)
	switch {
	case !hasLegal && p.promise == nil:
		return p.clock(defaultRule(), in)
	case !hasLegal:
		return p.clock(*p.promise, in)
	case p.promise == nil:
		return p.clock(legal, in)
	}
	lr, err := p.clock(legal, in)
	if err != nil {
		return Result{}, err
	}
	pr, err := p.clock(*p.promise, in)
	if err != nil {
		return Result{}, err
	}
	if pr.DueAt.Before(lr.DueAt) {
		legalTerms := lr.Terms
		pr.Terms.EarlierThan, pr.Terms.EarlierRule, pr.Terms.EarlierRef = &legalTerms, legal.ID, ruleRef(legal)
		return pr, nil
	}
	return lr, nil
}

// ActionDue returns the second clock of a request type, started when staff
// confirm the grounds (Input.GroundsConfirmedAt): under Law 94-V art.
// 25(2)(8) data must be changed, blocked or destroyed within one working
// day of that. It returns ErrNoRule when the type has no second clock and
// ErrNotStarted while the grounds are not confirmed.
func (p *Policy) ActionDue(in Input) (Result, error) {
	if err := p.check(in); err != nil {
		return Result{}, err
	}
	r, ok := p.preset.Actions[in.Type]
	if !ok {
		return Result{}, fmt.Errorf("%s: second clock for %s: %w", p.preset.Name, in.Type, ErrNoRule)
	}
	return p.clock(r, in)
}

// AcknowledgementDue returns the deadline for confirming receipt of a
// request, where the preset has one (ccpa: 10 business days), or ErrNoRule.
func (p *Policy) AcknowledgementDue(in Input) (Result, error) {
	if err := p.check(in); err != nil {
		return Result{}, err
	}
	if p.preset.Acknowledgement == nil {
		return Result{}, fmt.Errorf("%s: acknowledgement: %w", p.preset.Name, ErrNoRule)
	}
	return p.clock(*p.preset.Acknowledgement, in)
}

func (p *Policy) check(in Input) error {
	if !knownType(in.Type) {
		return fmt.Errorf("%w %q: want one of %s", ErrUnknownType, in.Type, strings.Join(RequestTypes(), ", "))
	}
	if in.ReceivedAt.IsZero() {
		return fmt.Errorf("%w: no receipt time", ErrInvalidInput)
	}
	if !in.ConfirmedAt.IsZero() && in.ConfirmedAt.Before(in.ReceivedAt) {
		return fmt.Errorf("%w: confirmed before received", ErrInvalidInput)
	}
	if !in.GroundsConfirmedAt.IsZero() && in.GroundsConfirmedAt.Before(in.ReceivedAt) {
		return fmt.Errorf("%w: grounds confirmed before received", ErrInvalidInput)
	}
	return nil
}

// startDay returns the local day on which r's clock starts.
func (p *Policy) startDay(r Rule, in Input) (Date, error) {
	var at time.Time
	switch r.start() {
	case StartConfirmation:
		at = in.ConfirmedAt
	case StartGroundsConfirmed:
		at = in.GroundsConfirmedAt
	default:
		at = in.ReceivedAt
	}
	if at.IsZero() {
		return Date{}, fmt.Errorf("%s starts at %s: %w", r.ID, r.start(), ErrNotStarted)
	}
	return DateOf(at.In(p.loc)), nil
}

// add counts period from the start day. The start day itself is never
// counted: calendar days add, working days count from the next working
// day, and months land on the same date (Reg. 1182/71 art. 3).
func (p *Policy) add(from Date, per Period) (Date, error) {
	switch per.Unit {
	case CalendarDays:
		return from.AddDays(per.Value), nil
	case WorkingDays:
		return AddWorkingDays(p.cal, from, per.Value)
	case Months:
		// Reg. 1182/71 art. 3(4): a period ending on a holiday, Saturday
		// or Sunday ends at the end of the next working day.
		return NextWorkingDay(p.cal, from.AddMonths(per.Value))
	}
	return Date{}, fmt.Errorf("unit %q: want one of %s", per.Unit, joinUnits())
}

// clock computes one rule's deadline.
func (p *Policy) clock(r Rule, in Input) (Result, error) {
	from, err := p.startDay(r, in)
	if err != nil {
		return Result{}, err
	}
	due, err := p.add(from, r.Period)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", r.ID, err)
	}
	return Result{DueAt: due.EndOfDay(p.loc), Rule: r.ID, LegalRef: r.LegalRef, Terms: p.terms(r)}, nil
}

func ruleRef(r Rule) string {
	if r.LegalRef != "" {
		return r.LegalRef
	}
	return r.ID
}

func cloneRules(m map[string]Rule) map[string]Rule {
	if m == nil {
		return nil
	}
	out := make(map[string]Rule, len(m))
	for k, r := range m {
		if r.Extension != nil {
			e := *r.Extension
			r.Extension = &e
		}
		out[k] = r
	}
	return out
}
