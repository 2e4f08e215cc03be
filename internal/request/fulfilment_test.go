package request

import (
	"errors"
	"testing"
	"time"

	"rightsdesk/internal/identifier"
)

func TestTheSystemsAreSearchedOnlyByTheIdentifiersTheRequestProved(t *testing.T) {
	rule, errs := ParseIdentityRule(DefaultIdentityRule)
	if errs != nil {
		t.Fatal(errs)
	}
	base := Request{Type: Erasure, Status: InProgress, Email: "Aigerim@Example.kz", Phone: "+7 701 123 45 67", AccountID: "aigerim.n"}
	staffCheck := IdentityCheck{At: time.Unix(1, 0), Method: IdentityVideoCall, StaffID: 4}
	accountCheck := IdentityCheck{At: time.Unix(1, 0), Method: IdentityOperatorAccount, StaffID: 4}
	vouched := IdentityCheck{At: time.Unix(1, 0), Method: IdentityOperatorAccount, APIKeyID: 9}
	email := identifier.Identity{Email: "aigerim@example.kz"}
	for name, tc := range map[string]struct {
		typ    Type
		status Status
		check  IdentityCheck
		proof  IdentityProof
		want   identifier.Identity
		err    error
	}{
		"erasure without the check the rule names":           {Erasure, InProgress, IdentityCheck{}, IdentityProof{AddressConfirmed: true}, identifier.Identity{}, ErrIdentityNotEstablished},
		"erasure checked by staff: the email":                {Erasure, InProgress, staffCheck, IdentityProof{}, email, nil},
		"checked by the account sign-in: and the account":    {Erasure, New, accountCheck, IdentityProof{}, identifier.Identity{Email: "aigerim@example.kz", AccountID: "aigerim.n"}, nil},
		"vouched by the operator's key: every identifier":    {Erasure, New, vouched, IdentityProof{}, identifier.Identity{Email: "aigerim@example.kz", AccountID: "aigerim.n", Phone: identifier.Phone("+7 701 123 45 67")}, nil},
		"restriction with the address confirmed":             {Restriction, InProgress, IdentityCheck{}, IdentityProof{AddressConfirmed: true}, email, nil},
		"restriction with nothing proven":                    {Restriction, InProgress, IdentityCheck{}, IdentityProof{}, identifier.Identity{}, ErrIdentityNotEstablished},
		"never the phone typed into the form":                {ConsentWithdrawal, New, IdentityCheck{}, IdentityProof{AddressConfirmed: true}, email, nil},
		"an unconfirmed request":                             {Restriction, Unverified, IdentityCheck{}, IdentityProof{AddressConfirmed: true}, identifier.Identity{}, ErrTransitionNotAllowed},
		"a completed request":                                {Erasure, Completed, staffCheck, IdentityProof{}, identifier.Identity{}, ErrTransitionNotAllowed},
		"an access copy without the check, though confirmed": {Access, InProgress, IdentityCheck{}, IdentityProof{AddressConfirmed: true}, identifier.Identity{}, ErrIdentityNotEstablished},
	} {
		r := base
		r.Type, r.Status, r.Identity = tc.typ, tc.status, tc.check
		if r.Type == Access {
			r.AccessScope = "copy"
		}
		got, err := rule.CheckFulfilment(r, tc.proof)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", name, err, tc.err)
		}
		if got != tc.want.Normalized() && !(tc.err != nil && got == identifier.Identity{}) {
			t.Errorf("%s: identity %+v, want %+v", name, got, tc.want.Normalized())
		}
	}
}
