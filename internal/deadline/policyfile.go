package deadline

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// PolicyFile is an operator's policy file (POLICY_FILE), parsed and
// checked. Apply it with WithPolicyFile.
type PolicyFile struct {
	// Preset is the preset the file was written for; empty when it does
	// not say. The caller decides how it combines with DEADLINE_PRESET;
	// WithPolicyFile refuses a file written for another preset.
	Preset string
	// Calendar replaces the policy's calendar; nil keeps it.
	Calendar Calendar
	// Promise is the operator's own promise; nil when the file has none.
	Promise *Rule
	// Rules override the preset's rule per request type.
	Rules map[string]RuleOverride
}

// RuleOverride changes parts of a preset's rule for one request type;
// nil and empty fields keep the preset's value.
type RuleOverride struct {
	// Period replaces the period. The rule then becomes the operator's own
	// ("policy.<type>") and keeps a legal reference only if LegalRef gives one.
	Period   *Period
	Start    Start
	LegalRef *string
	// Extension replaces the extension; NoExtension removes it.
	Extension   *Extension
	NoExtension bool
}

// LoadPolicyFile reads a policy file:
//
//	preset: kz                    # optional: the preset this file is written for
//	calendar: kz                  # optional: kz, weekdays, or a calendar as in LoadCalendar
//	promise:                      # optional: "we answer within 30 days"
//	  value: 30
//	  unit: calendar_days         # calendar_days | working_days | months
//	  start: receipt              # receipt (default) | confirmation
//	types:                        # optional overrides per request type
//	  access:
//	    value: 30
//	    unit: working_days
//	    start: confirmation
//	    legal_ref: "..."
//	    extension: {value: 30, unit: calendar_days, max_uses: 1, legal_ref: "..."}   # or: none
//
// Unknown keys, request types, units and starts are refused with an error
// that names the key.
func LoadPolicyFile(r io.Reader) (*PolicyFile, error) {
	f, err := parsePolicyFile(r)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return f, nil
}

// policySpec is a policy file as written.
type policySpec struct {
	Preset   string        `yaml:"preset"`
	Calendar calendarField `yaml:"calendar"`
	Promise  *promiseSpec  `yaml:"promise"`
	Types    *typesSpec    `yaml:"types"`
}

// promiseSpec is the operator's promise: a period and how it counts.
type promiseSpec struct {
	Value     *int           `yaml:"value"`
	Unit      *string        `yaml:"unit"`
	Start     string         `yaml:"start"`
	Extension extensionField `yaml:"extension"`
}

// overrideSpec changes one request type's rule; unlike the promise it may
// cite the law.
type overrideSpec struct {
	promiseSpec `yaml:",inline"`
	LegalRef    *string `yaml:"legal_ref"`
}

type extensionSpec struct {
	Value    *int    `yaml:"value"`
	Unit     *string `yaml:"unit"`
	MaxUses  *int    `yaml:"max_uses"`
	LegalRef string  `yaml:"legal_ref"`
}

// typesSpec names each request type as a key, so an unknown type is an
// unknown key.
type typesSpec struct {
	Access            *overrideSpec `yaml:"access"`
	Rectification     *overrideSpec `yaml:"rectification"`
	Erasure           *overrideSpec `yaml:"erasure"`
	Restriction       *overrideSpec `yaml:"restriction"`
	Objection         *overrideSpec `yaml:"objection"`
	ConsentWithdrawal *overrideSpec `yaml:"consent_withdrawal"`
	Portability       *overrideSpec `yaml:"portability"`
}

func (t typesSpec) byType() map[string]*overrideSpec {
	return map[string]*overrideSpec{
		TypeAccess: t.Access, TypeRectification: t.Rectification, TypeErasure: t.Erasure,
		TypeRestriction: t.Restriction, TypeObjection: t.Objection,
		TypeConsentWithdrawal: t.ConsentWithdrawal, TypePortability: t.Portability,
	}
}

// calendarField is "calendar: kz", "calendar: weekdays", or a calendar
// written out as in LoadCalendar.
type calendarField struct {
	name string
	spec *calendarSpec
	line int
}

// UnmarshalYAML takes the decoder's unmarshal function (yaml.v3's older
// interface) rather than the node, so that the calendar's own keys are
// decoded by the same strict decoder and an unknown one is still refused.
func (c *calendarField) UnmarshalYAML(unmarshal func(any) error) error {
	n, err := nodeOf(unmarshal)
	if err != nil {
		return err
	}
	c.line = n.Line
	if n.Kind == yaml.ScalarNode {
		c.name = n.Value
		return nil
	}
	c.spec = &calendarSpec{}
	return unmarshal(c.spec)
}

// extensionField is an extension written out, or "none" to remove it.
type extensionField struct {
	none bool
	spec *extensionSpec
}

// UnmarshalYAML: see calendarField.
func (e *extensionField) UnmarshalYAML(unmarshal func(any) error) error {
	n, err := nodeOf(unmarshal)
	if err != nil {
		return err
	}
	if n.Kind == yaml.ScalarNode {
		if n.Value != "none" {
			return fmt.Errorf("line %d: extension %q: want none or a mapping of value, unit, max_uses, legal_ref", n.Line, n.Value)
		}
		e.none = true
		return nil
	}
	e.spec = &extensionSpec{}
	return unmarshal(e.spec)
}

// nodeCapture keeps the node it is decoded from.
type nodeCapture struct{ node *yaml.Node }

func (c *nodeCapture) UnmarshalYAML(n *yaml.Node) error { c.node = n; return nil }

// nodeOf returns the node an older-style unmarshal function decodes.
func nodeOf(unmarshal func(any) error) (*yaml.Node, error) {
	var c nodeCapture
	if err := unmarshal(&c); err != nil {
		return nil, err
	}
	n := c.node
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n, nil
}

func parsePolicyFile(r io.Reader) (*PolicyFile, error) {
	var spec policySpec
	if err := decodeStrict(r, &spec); err != nil {
		return nil, err
	}
	pf := &PolicyFile{Preset: spec.Preset}
	if pf.Preset != "" {
		if _, err := LookupPreset(pf.Preset); err != nil {
			return nil, fmt.Errorf("preset: %w", err)
		}
	}
	switch c := spec.Calendar; {
	case c.spec != nil:
		cal, err := c.spec.build("calendar", Kazakhstan)
		if err != nil {
			return nil, err
		}
		pf.Calendar = cal
	case c.name == "kz":
		pf.Calendar = Kazakhstan()
	case c.name == "weekdays":
		pf.Calendar = Weekdays{}
	case c.line != 0:
		return nil, fmt.Errorf("line %d: calendar %q: want kz, weekdays or a calendar mapping", c.line, c.name)
	}
	if spec.Promise != nil {
		o, err := spec.Promise.override("promise")
		if err != nil {
			return nil, err
		}
		if o.Period == nil {
			return nil, fmt.Errorf("promise: value and unit are required")
		}
		r := Rule{ID: PromiseRuleID, Period: *o.Period, Start: o.Start, Extension: o.Extension}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("promise: %w", err)
		}
		pf.Promise = &r
	}
	if spec.Types != nil {
		pf.Rules = map[string]RuleOverride{}
		byType := spec.Types.byType()
		for _, t := range RequestTypes() {
			o := byType[t]
			if o == nil {
				continue
			}
			ro, err := o.override("types." + t)
			if err != nil {
				return nil, err
			}
			ro.LegalRef = o.LegalRef
			pf.Rules[t] = ro
		}
	}
	return pf, nil
}

// override checks a promise or a type's override; path names it in errors.
func (s promiseSpec) override(path string) (RuleOverride, error) {
	var o RuleOverride
	var err error
	if o.Period, err = period(s.Value, s.Unit, path); err != nil {
		return RuleOverride{}, err
	}
	if s.Start != "" {
		// Only the requester's events start a request's clock from a
		// file; the staff-started clock belongs to the law's second clock.
		if s.Start != string(StartReceipt) && s.Start != string(StartConfirmation) {
			return RuleOverride{}, fmt.Errorf("%s.start: %q: want %s or %s", path, s.Start, StartReceipt, StartConfirmation)
		}
		o.Start = Start(s.Start)
	}
	o.NoExtension = s.Extension.none
	if e := s.Extension.spec; e != nil {
		p := path + ".extension"
		per, err := period(e.Value, e.Unit, p)
		if err != nil {
			return RuleOverride{}, err
		}
		if per == nil {
			return RuleOverride{}, fmt.Errorf("%s: value and unit are required (or write extension: none)", p)
		}
		o.Extension = &Extension{Period: *per, MaxUses: 1, LegalRef: e.LegalRef}
		if e.MaxUses != nil {
			if *e.MaxUses < 1 || *e.MaxUses > 10 {
				return RuleOverride{}, fmt.Errorf("%s.max_uses: %d: want 1 to 10", p, *e.MaxUses)
			}
			o.Extension.MaxUses = *e.MaxUses
		}
	}
	return o, nil
}

// period checks a value and unit given together; nil when neither is.
func period(value *int, unit *string, path string) (*Period, error) {
	if value == nil && unit == nil {
		return nil, nil
	}
	if value == nil || unit == nil {
		return nil, fmt.Errorf("%s: give both value and unit", path)
	}
	p := Period{Value: *value, Unit: Unit(*unit)}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// WithPolicyFile applies a policy file: its calendar, its promise and its
// rule overrides. It refuses a file written for another preset, and an
// override that gives no period for a type the preset has no rule for.
func WithPolicyFile(f *PolicyFile) Option {
	return func(p *Policy) error {
		if f == nil {
			return nil
		}
		if f.Preset != "" && f.Preset != p.preset.Name {
			return fmt.Errorf("policy file is written for preset %s", f.Preset)
		}
		if f.Calendar != nil {
			p.cal = f.Calendar
		}
		if f.Promise != nil {
			if err := WithPromiseRule(*f.Promise)(p); err != nil {
				return err
			}
		}
		types := make([]string, 0, len(f.Rules))
		for t := range f.Rules {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			if err := p.override(t, f.Rules[t]); err != nil {
				return fmt.Errorf("policy file: types.%s: %w", t, err)
			}
		}
		return nil
	}
}

func (p *Policy) override(t string, o RuleOverride) error {
	if !knownType(t) {
		return fmt.Errorf("%w %q: want one of %s", ErrUnknownType, t, strings.Join(RequestTypes(), ", "))
	}
	r, ok := p.preset.Rules[t]
	if o.Period != nil {
		// The operator's own period replaces the law's, later laws included.
		r = Rule{ID: "policy." + t, Period: *o.Period, Start: r.Start, Extension: r.Extension}
		p.dropAmendments(t)
		ok = true
	}
	dated := false
	for _, a := range p.preset.Amendments {
		_, has := a.Rules[t]
		dated = dated || has
	}
	if !ok && !dated {
		return fmt.Errorf("preset %s has no rule for %s: give value and unit", p.preset.Name, t)
	}
	if ok {
		changed, err := o.apply(r)
		if err != nil {
			return err
		}
		p.preset.Rules[t] = changed
	}
	for _, a := range p.preset.Amendments {
		if ar, has := a.Rules[t]; has {
			changed, err := o.apply(ar)
			if err != nil {
				return err
			}
			a.Rules[t] = changed
		}
	}
	return nil
}

// apply changes r as the override says, keeping what it leaves out.
func (o RuleOverride) apply(r Rule) (Rule, error) {
	if o.Start != "" {
		r.Start = o.Start
	}
	if o.LegalRef != nil {
		r.LegalRef = *o.LegalRef
	}
	if o.Extension != nil {
		e := *o.Extension
		r.Extension = &e
	}
	if o.NoExtension {
		r.Extension = nil
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}
