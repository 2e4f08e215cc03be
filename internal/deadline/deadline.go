// Package deadline computes when a data-subject request is due.
//
// It is pure arithmetic over dates: no database, no network and no clock
// reads. Every instant is passed in, every day is counted in the operator's
// time zone, and working days come from a holiday Calendar. A Policy binds
// a legal preset (kz, gdpr, ...), the operator's own promise and any
// overrides from the policy file to a time zone and a calendar.
//
// Presets encode the authors' reading of the law, with references, so that
// staff can see which rule set a date. They are not legal advice: check
// them with counsel before relying on them.
package deadline

import (
	"errors"
	"time"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotStarted means the rule's clock starts on an event (the
	// requester's confirmation, staff confirming the grounds) that has not
	// happened yet.
	ErrNotStarted = errors.New("deadline clock has not started")
	// ErrUnknownType means the request type is not one the package knows.
	ErrUnknownType = errors.New("unknown request type")
	// ErrUnknownPreset means the preset name is not one of PresetNames.
	ErrUnknownPreset = errors.New("unknown deadline preset")
	// ErrInvalidInput means the Input is inconsistent (no receipt time,
	// confirmation before receipt).
	ErrInvalidInput = errors.New("invalid deadline input")
	// ErrNoRule means the policy has no rule of the asked kind for the
	// request type (no second clock, no acknowledgement deadline).
	ErrNoRule = errors.New("no such deadline rule")
	// ErrNoExtension means the rule that sets the deadline cannot be extended.
	ErrNoExtension = errors.New("deadline cannot be extended")
	// ErrExtensionReasonRequired means an extension was asked without a reason.
	ErrExtensionReasonRequired = errors.New("an extension needs a reason")
	// ErrExtensionAfterDeadline means an extension was asked after the
	// deadline had passed: the law allows extending only a running period.
	ErrExtensionAfterDeadline = errors.New("deadline has passed and can no longer be extended")
	// ErrExtensionLimit means the rule's extensions are used up.
	ErrExtensionLimit = errors.New("no extensions left")
	// ErrNoWorkingDay means a calendar has no working day in a long run of
	// days, so working days cannot be counted.
	ErrNoWorkingDay = errors.New("calendar has no working days")
)

// Request types, as stored by the request domain.
const (
	TypeAccess            = "access"
	TypeRectification     = "rectification"
	TypeErasure           = "erasure"
	TypeRestriction       = "restriction"
	TypeObjection         = "objection"
	TypeConsentWithdrawal = "consent_withdrawal"
	TypePortability       = "portability"
)

// RequestTypes returns every request type the package knows, in display order.
func RequestTypes() []string {
	return []string{TypeAccess, TypeRectification, TypeErasure, TypeRestriction,
		TypeObjection, TypeConsentWithdrawal, TypePortability}
}

func knownType(t string) bool {
	for _, k := range RequestTypes() {
		if k == t {
			return true
		}
	}
	return false
}

// Input describes one request for the clock.
type Input struct {
	// Type is the request type: access, rectification, erasure, restriction,
	// objection, consent_withdrawal or portability.
	Type       string
	ReceivedAt time.Time
	// ConfirmedAt is when the requester confirmed the request; zero when not
	// (yet) confirmed.
	ConfirmedAt time.Time
	// GroundsConfirmedAt is when staff confirmed the grounds for changing,
	// blocking or destroying data; zero until then. It starts the second
	// clock of the kz preset (Law 94-V art. 25(2)(8)), see Policy.ActionDue.
	GroundsConfirmedAt time.Time
}

// Result is what a policy gives: the due instant and which rule set it.
type Result struct {
	// DueAt is the last instant of the due day in the policy's time zone
	// (23:59:59 local, no sub-seconds).
	DueAt time.Time
	// Rule is a stable rule id, e.g. "default.calendar_30d",
	// "kz.consent_withdrawal", "operator.promise".
	Rule string
	// LegalRef is the legal reference, e.g. "Law of RK No. 94-V, art. 8(7)";
	// empty for the operator's own promise.
	LegalRef string
	// Terms say how the deadline was counted, for staff to read in their
	// language (the web layer words them from the catalogs).
	Terms Terms
	// Extensions is how many times the deadline has been extended.
	Extensions int
}
