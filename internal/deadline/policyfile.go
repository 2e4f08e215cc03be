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

func parsePolicyFile(r io.Reader) (*PolicyFile, error) {
	doc, err := readYAML(r)
	if err != nil {
		return nil, err
	}
	top, err := fields(doc, "", "preset", "calendar", "promise", "types")
	if err != nil {
		return nil, err
	}
	pf := &PolicyFile{}
	if n, ok := top["preset"]; ok {
		if err := scalar(n, "preset", &pf.Preset); err != nil {
			return nil, err
		}
		if _, err := LookupPreset(pf.Preset); err != nil {
			return nil, fmt.Errorf("preset: %w", err)
		}
	}
	if n, ok := top["calendar"]; ok {
		if pf.Calendar, err = parseCalendarRef(n); err != nil {
			return nil, err
		}
	}
	if n, ok := top["promise"]; ok {
		o, err := parseOverride(n, "promise", false)
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
	if n, ok := top["types"]; ok {
		if pf.Rules, err = parseTypes(n); err != nil {
			return nil, err
		}
	}
	return pf, nil
}

func parseCalendarRef(n *yaml.Node) (Calendar, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "kz":
			return Kazakhstan(), nil
		case "weekdays":
			return Weekdays{}, nil
		}
		return nil, fmt.Errorf("calendar (line %d): %q: want kz, weekdays or a calendar mapping", n.Line, n.Value)
	}
	return calendarFromNode(n, "calendar", Kazakhstan)
}

func parseTypes(n *yaml.Node) (map[string]RuleOverride, error) {
	f, err := fields(n, "types", RequestTypes()...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]RuleOverride, len(f))
	for _, t := range RequestTypes() {
		v, ok := f[t]
		if !ok {
			continue
		}
		if out[t], err = parseOverride(v, "types."+t, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseOverride(n *yaml.Node, path string, withRef bool) (RuleOverride, error) {
	keys := []string{"value", "unit", "start", "extension"}
	if withRef {
		keys = append(keys, "legal_ref")
	}
	f, err := fields(n, path, keys...)
	if err != nil {
		return RuleOverride{}, err
	}
	var o RuleOverride
	if o.Period, err = parsePeriod(f, path); err != nil {
		return RuleOverride{}, err
	}
	if v, ok := f["start"]; ok {
		var s string
		if err := scalar(v, path+".start", &s); err != nil {
			return RuleOverride{}, err
		}
		// Only the requester's events start a request's clock from a
		// file; the staff-started clock belongs to the law's second clock.
		if s != string(StartReceipt) && s != string(StartConfirmation) {
			return RuleOverride{}, fmt.Errorf("%s.start: %q: want %s or %s", path, s, StartReceipt, StartConfirmation)
		}
		o.Start = Start(s)
	}
	if v, ok := f["legal_ref"]; ok {
		var s string
		if err := scalar(v, path+".legal_ref", &s); err != nil {
			return RuleOverride{}, err
		}
		o.LegalRef = &s
	}
	if v, ok := f["extension"]; ok {
		if v := deref(v); v.Kind == yaml.ScalarNode && v.Value == "none" {
			o.NoExtension = true
		} else if o.Extension, err = parseExtension(v, path+".extension"); err != nil {
			return RuleOverride{}, err
		}
	}
	return o, nil
}

func parsePeriod(f map[string]*yaml.Node, path string) (*Period, error) {
	vn, hasValue := f["value"]
	un, hasUnit := f["unit"]
	if !hasValue && !hasUnit {
		return nil, nil
	}
	if !hasValue || !hasUnit {
		return nil, fmt.Errorf("%s: give both value and unit", path)
	}
	var p Period
	if err := scalar(vn, path+".value", &p.Value); err != nil {
		return nil, err
	}
	var u string
	if err := scalar(un, path+".unit", &u); err != nil {
		return nil, err
	}
	p.Unit = Unit(u)
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

func parseExtension(n *yaml.Node, path string) (*Extension, error) {
	f, err := fields(n, path, "value", "unit", "max_uses", "legal_ref")
	if err != nil {
		return nil, err
	}
	per, err := parsePeriod(f, path)
	if err != nil {
		return nil, err
	}
	if per == nil {
		return nil, fmt.Errorf("%s: value and unit are required (or write extension: none)", path)
	}
	e := &Extension{Period: *per, MaxUses: 1}
	if v, ok := f["max_uses"]; ok {
		if err := scalar(v, path+".max_uses", &e.MaxUses); err != nil {
			return nil, err
		}
		if e.MaxUses < 1 || e.MaxUses > 10 {
			return nil, fmt.Errorf("%s.max_uses: %d: want 1 to 10", path, e.MaxUses)
		}
	}
	if v, ok := f["legal_ref"]; ok {
		if err := scalar(v, path+".legal_ref", &e.LegalRef); err != nil {
			return nil, err
		}
	}
	return e, nil
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
		r = Rule{ID: "policy." + t, Period: *o.Period, Start: r.Start, Extension: r.Extension}
	} else if !ok {
		return fmt.Errorf("preset %s has no rule for %s: give value and unit", p.preset.Name, t)
	}
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
		return err
	}
	p.preset.Rules[t] = r
	return nil
}
