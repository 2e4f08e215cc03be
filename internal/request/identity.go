package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Proof of identity. Confirming the email address proves only that the
// requester reads that mailbox. For answers that hand a person's data out
// (or destroy it) a deployment may want more: a member of staff who has
// seen who the requester is and records how. The rule for which answers
// need that is the deployment's (IDENTITY_CHECK), read from the
// configuration when an answer is about to leave, so tightening it protects
// the requests already open too; what is stored with each request is the
// fact of the check (who, when, how), which no setting changes.

// IdentityMethod is how a member of staff established who the requester is.
type IdentityMethod string

// The ways an identity check can be made.
const (
	IdentityDocumentSeen            IdentityMethod = "identity_document"
	IdentityOperatorAccount         IdentityMethod = "operator_account" // signed in to their account with the operator
	IdentityVideoCall               IdentityMethod = "video_call"
	IdentityInPerson                IdentityMethod = "in_person"
	IdentityRepresentativeAuthority IdentityMethod = "representative_authority" // a power of attorney, a child's birth certificate
	IdentityOther                   IdentityMethod = "other"
)

// MaxIdentityNote bounds the note of an identity check.
const MaxIdentityNote = 2000

// The names IDENTITY_CHECK takes besides the request types.
const (
	identityRuleNone          = "none"
	identityAccessCopy        = "access:copy"
	identityAccessInformation = "access:information"
)

// IdentityMethods lists the methods in the order staff are offered them.
func IdentityMethods() []IdentityMethod {
	return []IdentityMethod{IdentityDocumentSeen, IdentityOperatorAccount, IdentityVideoCall, IdentityInPerson, IdentityRepresentativeAuthority, IdentityOther}
}

// IdentityCheck is a recorded check of who the requester is. The zero
// value means none was recorded.
type IdentityCheck struct {
	At     time.Time
	Method IdentityMethod
	// Exactly one of StaffID and APIKeyID names who checked: a member of
	// staff, or the operator's system whose key vouched for the requester.
	StaffID  int64
	APIKeyID int64
	// ByName is the staff member's name, or the key's, as the store found it.
	ByName string
}

// Done reports whether a check was recorded.
func (c IdentityCheck) Done() bool { return !c.At.IsZero() }

// IdentityRule says which answers need a staff-recorded identity check
// before they are sent. The zero value needs none (email proof only).
type IdentityRule struct {
	types map[Type]bool
	// For access requests the scope decides: a copy of the data needs the
	// check under "access:copy", information about the processing under
	// "access:information"; "access" means both.
	accessCopy, accessInformation bool
}

// DefaultIdentityRule is IDENTITY_CHECK's default: an access copy,
// portability and erasure hand out or destroy the data, so they need the
// staff check.
const DefaultIdentityRule = "access:copy,portability,erasure"

// ParseIdentityRule reads IDENTITY_CHECK: request types (access:copy and
// access:information name the two kinds of access request, access both),
// comma-separated, or "none". It returns every mistake, one error each.
func ParseIdentityRule(s string) (IdentityRule, []error) {
	rule := IdentityRule{types: map[Type]bool{}}
	var errs []error
	parts := strings.Split(s, ",")
	for _, part := range parts {
		name := strings.TrimSpace(part)
		switch {
		case name == "":
			errs = append(errs, errors.New("an empty entry: write the types separated by single commas"))
		case name == identityRuleNone:
			if len(parts) > 1 {
				errs = append(errs, errors.New(`"none" cannot be combined with request types`))
			}
		case name == identityAccessCopy:
			rule.accessCopy = true
		case name == identityAccessInformation:
			rule.accessInformation = true
		case name == string(Access):
			rule.accessCopy, rule.accessInformation = true, true
		case Type(name).Valid():
			rule.types[Type(name)] = true
		default:
			errs = append(errs, fmt.Errorf("unknown request type %q (known: access, access:copy, access:information, %s; or none)",
				name, joinTypes(slices.DeleteFunc(AllTypes(), func(t Type) bool { return t == Access }))))
		}
	}
	if len(errs) > 0 {
		return IdentityRule{}, errs
	}
	return rule, nil
}

// Needed reports whether an answer to r needs a staff-recorded identity
// check under this rule.
func (ir IdentityRule) Needed(r Request) bool {
	if r.Type == Access {
		return (r.AccessScope == "copy" && ir.accessCopy) || (r.AccessScope != "copy" && ir.accessInformation)
	}
	return ir.types[r.Type]
}

// Errors of the identity check.
var (
	// ErrIdentityCheckMissing refuses an answer the rule says needs a
	// staff-recorded identity check that nobody has recorded.
	ErrIdentityCheckMissing = errors.New("identity check needed before answering")
	// ErrIdentityChecked refuses a second check of the same request.
	ErrIdentityChecked = errors.New("identity already checked")
	// ErrIdentityMethod is a method not in IdentityMethods.
	ErrIdentityMethod = errors.New("identity check method not in the list")
	// ErrIdentityNote is a check without a note (or one too long).
	ErrIdentityNote = errors.New("identity check needs a note")
)

// AllowsAnswer returns nil when r may be completed under the rule: no check
// is needed, or one was recorded.
func (ir IdentityRule) AllowsAnswer(r Request) error {
	if ir.Needed(r) && !r.Identity.Done() {
		return ErrIdentityCheckMissing
	}
	return nil
}

// IdentityState is how a request stands with regard to the rule, for the
// pages that show it.
type IdentityState string

// The states of the identity check.
const (
	IdentityNotNeeded IdentityState = "not_needed"
	IdentityMissing   IdentityState = "missing"
	IdentityDone      IdentityState = "done"
)

// State says whether r needs a check and whether it has one.
func (ir IdentityRule) State(r Request) IdentityState {
	switch {
	case r.Identity.Done():
		return IdentityDone
	case ir.Needed(r):
		return IdentityMissing
	}
	return IdentityNotNeeded
}

// identityCheckable returns nil when a check can be recorded on r: open,
// its address confirmed, and not checked before.
func identityCheckable(r Request) error {
	// Not while unconfirmed, nor in triage: which answers need a check
	// depends on the type staff have yet to confirm.
	if !r.Status.Open() || r.Status == Unverified || r.Status == Triage {
		return fmt.Errorf("%w: the identity of a %s request is not checked", ErrTransitionNotAllowed, r.Status)
	}
	if r.Identity.Done() {
		return ErrIdentityChecked
	}
	return nil
}

// identityChange is the change that records a check on r (who made it is
// the StaffActor's to say).
func identityChange(r Request, method IdentityMethod, note string, now time.Time) (Change, error) {
	if err := identityCheckable(r); err != nil {
		return Change{}, err
	}
	return Change{
		To: r.Status, Event: EventIdentityChecked, At: now,
		Data:     map[string]any{"method": string(method)},
		Text:     note,
		Identity: &IdentityCheck{At: now, Method: method},
	}, nil
}

// checkIdentityInput cleans what staff typed for a check.
func checkIdentityInput(method IdentityMethod, note string) (string, error) {
	note = StaffText(note)
	if !slices.Contains(IdentityMethods(), method) {
		return "", ErrIdentityMethod
	}
	if note == "" || utf8.RuneCountInString(note) > MaxIdentityNote {
		return "", ErrIdentityNote
	}
	return note, nil
}

// EventIdentityChecked is the event that records an identity check.
const EventIdentityChecked = "identity_checked"
