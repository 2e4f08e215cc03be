package deadline

import (
	"encoding/json"
	"strings"
)

// Terms say how a deadline was counted, as data, so that staff pages can
// word it in the reader's language. A request stores its Terms encoded
// (Encode). Records from before Terms hold an English text, which
// DecodeTerms leaves to be shown as written.
type Terms struct {
	Period Period `json:"period"`
	// RuleSet is the preset the deadline was counted under ("kz", "gdpr",
	// ...): what staff may refuse the request for follows it. Empty in
	// records from before it was kept.
	RuleSet string `json:"rule_set,omitempty"`
	// Calendar is what working days and months are counted in: "kz" (the
	// Kazakhstan calendar), "weekdays", or a calendar file's own name.
	Calendar string `json:"calendar,omitempty"`
	Start    Start  `json:"start,omitempty"` // empty: from receipt
	// Default marks rightsdesk's own default: no rule of law or promise.
	Default bool `json:"default,omitempty"`
	// EarlierThan is set for the operator's promise when it beat the
	// legal rule, whose id is EarlierRule and reference EarlierRef.
	EarlierThan *Terms `json:"earlier_than,omitempty"`
	EarlierRule string `json:"earlier_rule,omitempty"`
	EarlierRef  string `json:"earlier_ref,omitempty"`
	// Extended is the extension period, added Extensions times.
	Extended   *Period `json:"extended,omitempty"`
	Extensions int     `json:"extensions,omitempty"`
}

// Encode is how Terms are stored.
func (t Terms) Encode() string {
	b, err := json.Marshal(t)
	if err != nil {
		// Strings, numbers and booleans only: Marshal cannot fail on them.
		panic("deadline: encode terms: " + err.Error())
	}
	return string(b)
}

// DecodeTerms reads stored Terms; false for a record that holds the English
// text of before.
func DecodeTerms(s string) (Terms, bool) {
	var t Terms
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &t) != nil {
		return Terms{}, false
	}
	return t, t.Period.Unit != ""
}

// terms describes how r counts under p.
func (p *Policy) terms(r Rule) Terms {
	t := Terms{Period: r.Period, RuleSet: p.preset.Name, Default: r.ID == defaultRuleID}
	if r.start() != StartReceipt {
		t.Start = r.start()
	}
	if r.Period.Unit != CalendarDays {
		t.Calendar = calendarTerm(p.cal)
	}
	return t
}

// calendarTerm names cal in Terms.
func calendarTerm(cal Calendar) string {
	switch c := cal.(type) {
	case Weekdays:
		return "weekdays"
	case *DataCalendar:
		if c.Code() == "kz" && c.String() == Kazakhstan().String() {
			return "kz"
		}
	}
	return calendarName(cal)
}
