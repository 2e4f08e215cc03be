package deadline

import (
	"fmt"
	"strings"
)

// Preset is a named set of deadline rules taken from one law, with the
// references staff need to see which rule set a date.
type Preset struct {
	Name  string
	Title string
	// Note is shown next to the preset: presets are the authors' reading of
	// the law, not advice.
	Note string
	// Rules is the legal clock per request type. A type with no rule has
	// no number in the law and falls back to the operator's promise.
	Rules map[string]Rule
	// Actions is a second clock per request type, started by a staff
	// action rather than by the request (Law 94-V art. 25(2)(8)).
	Actions map[string]Rule
	// Acknowledgement, when set, is the deadline for confirming receipt.
	Acknowledgement *Rule
}

// PresetNames returns the valid preset names.
func PresetNames() []string {
	return []string{"default", "kz", "gdpr", "ccpa", "lgpd", "ru152"}
}

const counselNote = " Presets are rightsdesk's reading of the law as of 2026, not legal advice: check them with counsel before relying on them."

// LookupPreset returns a fresh copy of the named preset; callers may change it.
func LookupPreset(name string) (Preset, error) {
	for _, n := range PresetNames() {
		if n == name {
			return presets(name), nil
		}
	}
	return Preset{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownPreset, name, strings.Join(PresetNames(), ", "))
}

// everyType gives each request type the same rule.
func everyType(r Rule) map[string]Rule {
	m := make(map[string]Rule)
	for _, t := range RequestTypes() {
		m[t] = r
	}
	return m
}

// defaultRuleID is the id of defaultRule.
const defaultRuleID = "default.calendar_30d"

// defaultRule is the rightsdesk default and the last resort when a type has
// neither a legal rule nor an operator's promise.
func defaultRule() Rule {
	// One extension of 30 days, with a reason, before the deadline: what
	// operators who promise "30 days" usually allow themselves, and what
	// requesters are told when it happens.
	return Rule{ID: defaultRuleID, Period: Period{30, CalendarDays},
		Extension: &Extension{Period: Period{30, CalendarDays}, MaxUses: 1}}
}

func presets(name string) Preset {
	switch name {
	case "kz":
		const law = "Law of RK No. 94-V"
		action := func(id string) Rule {
			return Rule{ID: id, Period: Period{1, WorkingDays}, Start: StartGroundsConfirmed,
				LegalRef: law + ", art. 25(2)(8)"}
		}
		return Preset{
			Name:  "kz",
			Title: "Kazakhstan: Law of RK No. 94-V on Personal Data and their Protection",
			Note: "Consent withdrawal and objection to automated processing have their own periods; " +
				"changing, blocking and destroying data is due 1 working day after staff confirm the grounds; " +
				"access and the other requests have no period in the law and follow the operator's promise." + counselNote,
			Rules: map[string]Rule{
				TypeConsentWithdrawal: {ID: "kz.consent_withdrawal", Period: Period{15, WorkingDays},
					LegalRef: law + ", art. 8(7)"},
				TypeObjection: {ID: "kz.objection_automated", Period: Period{3, WorkingDays},
					LegalRef: law + ", art. 19-1(3)"},
			},
			Actions: map[string]Rule{
				TypeRectification: action("kz.change_data"),
				TypeRestriction:   action("kz.block_data"),
				TypeErasure:       action("kz.destroy_data"),
			},
		}
	case "gdpr":
		return Preset{
			Name:  "gdpr",
			Title: "EU: Regulation (EU) 2016/679 (GDPR)",
			Note: "One month from receipt, counted per Reg. 1182/71 (same date next month, clamped to the month's end, " +
				"moved to the next working day); may be extended once by two months, with reasons told to the requester." + counselNote,
			Rules: everyType(Rule{ID: "gdpr.one_month", Period: Period{1, Months},
				LegalRef:  "GDPR art. 12(3); Reg. (EEC, Euratom) 1182/71 art. 3",
				Extension: &Extension{Period: Period{2, Months}, MaxUses: 1, LegalRef: "GDPR art. 12(3)"}}),
		}
	case "ccpa":
		return Preset{
			Name:  "ccpa",
			Title: "California: CCPA/CPRA",
			Note: "45 calendar days, extendable once by 45 with notice; receipt confirmed within 10 business days. " +
				"Opt-out and limit requests have shorter periods (11 CCR §§ 7026(f), 7027(g)): override them in the policy file if you map them." + counselNote,
			Rules: everyType(Rule{ID: "ccpa.45_days", Period: Period{45, CalendarDays},
				LegalRef:  "Cal. Civ. Code § 1798.130(a)(2)(A)",
				Extension: &Extension{Period: Period{45, CalendarDays}, MaxUses: 1, LegalRef: "Cal. Civ. Code § 1798.130(a)(2)(A)"}}),
			Acknowledgement: &Rule{ID: "ccpa.acknowledgement", Period: Period{10, WorkingDays},
				LegalRef: "Cal. Code Regs. tit. 11, § 7021(a)"},
		}
	case "lgpd":
		return Preset{
			Name:  "lgpd",
			Title: "Brazil: Lei nº 13.709/2018 (LGPD)",
			Note: "15 days from the request, as art. 19(II) gives for a full access reply; the ANPD has not set periods " +
				"for the other rights, so the same period is used for them." + counselNote,
			Rules: everyType(Rule{ID: "lgpd.15_days", Period: Period{15, CalendarDays},
				LegalRef: "LGPD (Lei nº 13.709/2018), art. 19(II)"}),
		}
	case "ru152":
		return Preset{
			Name:  "ru152",
			Title: "Russia: Federal Law No. 152-FZ on Personal Data",
			Note: "10 working days, extendable by 5 with a reasoned notice. Working days follow the policy's calendar: " +
				"load a Russian production calendar for this preset." + counselNote,
			Rules: everyType(Rule{ID: "ru152.10_working_days", Period: Period{10, WorkingDays},
				LegalRef:  "Federal Law No. 152-FZ, art. 14(3), art. 20(1)",
				Extension: &Extension{Period: Period{5, WorkingDays}, MaxUses: 1, LegalRef: "Federal Law No. 152-FZ, art. 14(3), art. 20(1)"}}),
		}
	default:
		return Preset{
			Name:  "default",
			Title: "rightsdesk default",
			Note:  "30 calendar days for every request type, the period operators usually promise. It is not taken from a law.",
			Rules: everyType(defaultRule()),
		}
	}
}
