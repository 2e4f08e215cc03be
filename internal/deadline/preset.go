package deadline

import (
	"fmt"
	"strings"
	"time"
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
	// Amendments are later laws, each applying to requests received from
	// its first day on: a request received earlier keeps the rule it was
	// dated by. They are kept in order of date.
	Amendments []Amendment
	// Grounds are the reasons the law lets the operator refuse a request,
	// with their references; GenericGrounds marks a preset whose grounds are
	// rightsdesk's plain set rather than the law's own list.
	Grounds        []Ground
	GenericGrounds bool
	// PortabilityRef is the law giving a right to a machine-readable copy;
	// empty when the law gives none, and the operator offers it as its own
	// service.
	PortabilityRef string
}

// Amendment is a later law that changes rules from a given day.
type Amendment struct {
	// From is the first day, in the policy's time zone, of the requests it
	// applies to (the law's entry into force).
	From Date
	// Law names the act, e.g. "Digital Code of RK No. 255-VIII".
	Law   string
	Rules map[string]Rule
}

// Ground is one reason for refusing a request.
type Ground struct {
	// Code is stable and stored with a rejected request, e.g. "identity_not_confirmed".
	Code string
	// LegalRef cites the law behind it; empty for a ground that is a fact
	// ("we hold no data") or the operator's own.
	LegalRef string
}

// Ground codes shared by several presets.
const (
	GroundIdentityNotConfirmed = "identity_not_confirmed"
	GroundManifestlyUnfounded  = "manifestly_unfounded"
	GroundExcessive            = "excessive"
	GroundLegalExemption       = "legal_exemption"
	GroundNoData               = "no_data"
	GroundOther                = "other"
	// Law 94-V art. 8(2): the subject may not withdraw consent where that
	// is contrary to the laws of Kazakhstan, or while an obligation is
	// unfinished; the Digital Code keeps data whose storage a law requires.
	GroundRequiredByLaw         = "kz_required_by_law"
	GroundUnfulfilledObligation = "kz_unfulfilled_obligation"
)

// DigitalCodeFrom is the day the Digital Code of RK (No. 255-VIII of 9
// January 2026) enters into force, as its summaries by counsel give it.
var DigitalCodeFrom = Date{2026, time.July, 11}

// genericGrounds are offered where rightsdesk has not read a law's own list.
func genericGrounds() []Ground {
	return []Ground{{Code: GroundIdentityNotConfirmed}, {Code: GroundLegalExemption}, {Code: GroundNoData}, {Code: GroundOther}}
}

// RuleSetOf names the preset a stored rule id belongs to ("kz" for
// "kz.consent_withdrawal"); "" for the operator's own rules
// ("operator.promise", "policy.access"), which belong to whatever preset
// the deployment had.
func RuleSetOf(rule string) string {
	name, _, _ := strings.Cut(rule, ".")
	for _, n := range PresetNames() {
		if n == name {
			return n
		}
	}
	return ""
}

// GroundsOf returns the grounds of the named preset (the default's for an
// unknown name).
func GroundsOf(preset string) []Ground {
	pr, err := LookupPreset(preset)
	if err != nil {
		pr = presets("default")
	}
	return pr.Grounds
}

// PresetNames returns the valid preset names.
func PresetNames() []string {
	return []string{"default", "kz", "gdpr", "ccpa", "lgpd", "ru152"}
}

// genericGroundsNote marks a preset whose refusal grounds are not the law's.
const genericGroundsNote = " Its refusal grounds are rightsdesk's plain set (identity not confirmed, an exemption in law, no data held, other), not a list read from the law."

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
		const code = "Digital Code of RK No. 255-VIII"
		action := func(id string) Rule {
			return Rule{ID: id, Period: Period{1, WorkingDays}, Start: StartGroundsConfirmed,
				LegalRef: law + ", art. 25(2)(8)"}
		}
		// The Digital Code (press of 12 and 23 January 2026): 15 days after the
		// person's request to delete, anonymise or stop processing their data
		// where no law requires keeping it. Its article and whether the days
		// are calendar or working days are not confirmed: calendar days, the
		// earlier reading, are counted (see the note and docs/legal.md).
		digital := func(id string) Rule {
			return Rule{ID: id, Period: Period{15, CalendarDays}, LegalRef: code + " (in force from 11 July 2026)"}
		}
		return Preset{
			Name:  "kz",
			Title: "Kazakhstan: Law of RK No. 94-V on Personal Data and their Protection; Digital Code of RK No. 255-VIII",
			Note: "Consent withdrawal and objection to decisions made by automated processing have their own periods; " +
				"changing, blocking and destroying data is due 1 working day after staff confirm the grounds; " +
				"access and the other requests have no period in Law 94-V and follow the operator's promise. " +
				"From 11 July 2026 the Digital Code gives 15 days to delete, anonymise or stop processing data at the person's request; " +
				"its article and whether the 15 days are calendar or working days could not be confirmed, so 15 calendar days (the earlier date) are counted, " +
				"and the entry into force is taken from counsel's summaries, not from the Code's text. " +
				"The articles of Law 94-V cited for the periods (8(7), 19-1(3), 25(2)(8)) were not re-read against the law's text for this release; art. 8(2), the grounds for refusing a withdrawal, was. " +
				"The law gives no right to a machine-readable copy: portability is the operator's own service." + counselNote,
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
			Amendments: []Amendment{{From: DigitalCodeFrom, Law: code, Rules: map[string]Rule{
				TypeErasure:     digital("kz.digital_code_erasure"),
				TypeRestriction: digital("kz.digital_code_restriction"),
			}}},
			Grounds: []Ground{
				{Code: GroundIdentityNotConfirmed, LegalRef: law + ": the rights are the subject's or their legal representative's"},
				{Code: GroundRequiredByLaw, LegalRef: law + ", art. 8(2); " + code},
				{Code: GroundUnfulfilledObligation, LegalRef: law + ", art. 8(2)"},
				{Code: GroundNoData},
				{Code: GroundOther},
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
			Grounds: []Ground{
				{Code: GroundIdentityNotConfirmed, LegalRef: "GDPR art. 11(2), 12(2)"},
				{Code: GroundManifestlyUnfounded, LegalRef: "GDPR art. 12(5)(b)"},
				{Code: GroundExcessive, LegalRef: "GDPR art. 12(5)(b)"},
				{Code: GroundLegalExemption, LegalRef: "GDPR art. 23; for erasure art. 17(3)"},
				{Code: GroundNoData},
				{Code: GroundOther},
			},
			PortabilityRef: "GDPR art. 20",
		}
	case "ccpa":
		return Preset{
			Name:  "ccpa",
			Title: "California: CCPA/CPRA",
			Note: "45 calendar days, extendable once by 45 with notice; receipt confirmed within 10 business days. " +
				"Opt-out and limit requests have shorter periods (11 CCR §§ 7026(f), 7027(g)): override them in the policy file if you map them." + genericGroundsNote + counselNote,
			Rules: everyType(Rule{ID: "ccpa.45_days", Period: Period{45, CalendarDays},
				LegalRef:  "Cal. Civ. Code § 1798.130(a)(2)(A)",
				Extension: &Extension{Period: Period{45, CalendarDays}, MaxUses: 1, LegalRef: "Cal. Civ. Code § 1798.130(a)(2)(A)"}}),
			Acknowledgement: &Rule{ID: "ccpa.acknowledgement", Period: Period{10, WorkingDays},
				LegalRef: "Cal. Code Regs. tit. 11, § 7021(a)"},
			Grounds: genericGrounds(), GenericGrounds: true,
		}
	case "lgpd":
		return Preset{
			Name:  "lgpd",
			Title: "Brazil: Lei nº 13.709/2018 (LGPD)",
			Note: "15 days from the request, as art. 19(II) gives for a full access reply; the ANPD has not set periods " +
				"for the other rights, so the same period is used for them." + genericGroundsNote + counselNote,
			Rules: everyType(Rule{ID: "lgpd.15_days", Period: Period{15, CalendarDays},
				LegalRef: "LGPD (Lei nº 13.709/2018), art. 19(II)"}),
			Grounds: genericGrounds(), GenericGrounds: true,
			PortabilityRef: "LGPD (Lei nº 13.709/2018), art. 18(V)",
		}
	case "ru152":
		return Preset{
			Name:  "ru152",
			Title: "Russia: Federal Law No. 152-FZ on Personal Data",
			Note: "10 working days, extendable by 5 with a reasoned notice. Working days follow the policy's calendar: " +
				"load a Russian production calendar for this preset." + genericGroundsNote + counselNote,
			Rules: everyType(Rule{ID: "ru152.10_working_days", Period: Period{10, WorkingDays},
				LegalRef:  "Federal Law No. 152-FZ, art. 14(3), art. 20(1)",
				Extension: &Extension{Period: Period{5, WorkingDays}, MaxUses: 1, LegalRef: "Federal Law No. 152-FZ, art. 14(3), art. 20(1)"}}),
			Grounds: genericGrounds(), GenericGrounds: true,
		}
	default:
		return Preset{
			Name:    "default",
			Title:   "rightsdesk default",
			Note:    "30 calendar days for every request type, the period operators usually promise. It is not taken from a law." + genericGroundsNote,
			Rules:   everyType(defaultRule()),
			Grounds: genericGrounds(), GenericGrounds: true,
		}
	}
}
