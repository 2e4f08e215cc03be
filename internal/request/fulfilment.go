package request

import (
	"context"
	"errors"
	"fmt"

	"rightsdesk/internal/identifier"
)

// Answering a request from the operator's own systems (the data map,
// internal/fulfil): gathering a person's rows, planning and executing an
// erasure, a rectification, a restriction or a consent withdrawal. The
// engine is elsewhere; the rules of the request are here: for whom the
// systems may be touched at all, and by which identifiers.

// ErrIdentityNotEstablished refuses gathering, planning and executing for
// a request whose requester is not established as the deployment requires
// (CheckFulfilment): nothing is read from, or changed in, the operator's
// systems for them.
var ErrIdentityNotEstablished = errors.New("the requester's identity is not established")

// IdentityProof is what is known, beyond the request's own fields, of how
// its identifiers were proven.
type IdentityProof struct {
	// AddressConfirmed: the requester opened the confirmation link sent to
	// the request's email address (VERIFY_EMAIL).
	AddressConfirmed bool
}

// CheckFulfilment is the one rule for touching the operator's systems on
// behalf of r's requester. It returns the identifiers the data map may
// match rows by, only those the request has proven, or an error:
// ErrTransitionNotAllowed while r is not a request staff can answer
// (unconfirmed, closed), ErrIdentityNotEstablished when the identity check
// the deployment's rule asks for is missing or no identifier is proven.
//
// Which identifiers are proven:
//   - the email address, when the requester confirmed it through the link
//     sent there, when the operator's own system vouched for the requester
//     (its sign-in proved them), or when staff recorded an identity check
//     (they established who writes from that address, where the answer goes);
//   - the account id, when the operator's sign-in proved it: the request was
//     filed by a vouching API key, or staff recorded the check by the
//     "signed in to their account with the operator" method;
//   - the phone number, only when a vouching key filed it: nobody else has
//     proven that the number typed into a form is the requester's own.
//
// Rows are found by any one identifier that matches, so a single unproven
// one (someone else's phone typed into the form) would hand out another
// person's data: what is not proven is left out, never tried.
func (ir IdentityRule) CheckFulfilment(r Request, proof IdentityProof) (identifier.Identity, error) {
	if err := CheckTransition(r.Status, Completed, ActorStaff); err != nil {
		return identifier.Identity{}, fmt.Errorf("%w: a %s request is not answered from the data map", ErrTransitionNotAllowed, r.Status)
	}
	if err := ir.AllowsAnswer(r); err != nil {
		return identifier.Identity{}, fmt.Errorf("%w: %w", ErrIdentityNotEstablished, err)
	}
	var id identifier.Identity
	vouched := r.Identity.Done() && r.Identity.APIKeyID != 0
	if proof.AddressConfirmed || r.Identity.Done() {
		id.Email = r.Email
	}
	if vouched || r.Identity.Done() && r.Identity.Method == IdentityOperatorAccount {
		id.AccountID = r.AccountID
	}
	if vouched {
		id.Phone = r.Phone
	}
	if id.Empty() {
		return identifier.Identity{}, ErrIdentityNotEstablished
	}
	return id.Normalized(), nil
}

// Fulfilment is how answering a request from the data map stands, as the
// desk needs it to complete the request.
type Fulfilment struct {
	// Started: a gathering or an approved plan exists for the request.
	Started bool
	// Done: every step of it is done (and, for a gathering, the access
	// package is built).
	Done bool
	// Package is the access package built by the gathering, ready to send
	// as the response file; nil when there is none.
	Package *File
	// Outcome says, in the language of the request it was read for (its
	// Locale), what the executed plans changed and what they kept and why:
	// one line each, for the completion email.
	Outcome []string
}

// FulfilmentReader reads how answering r from the data map stands, with r's
// Locale as the language of the outcome. The desk calls it while r is
// locked; every change of a fulfilment locks its request first, so what it
// reads cannot change meanwhile.
type FulfilmentReader interface {
	AnswerFulfilment(ctx context.Context, r Request) (Fulfilment, error)
}

// Errors of completing a request answered from the data map.
var (
	// ErrFulfilmentUnfinished refuses to complete a request while steps of
	// its gathering or of its approved plan are not done: the requester
	// would be told of an answer that is not there yet.
	ErrFulfilmentUnfinished = errors.New("the steps of answering from the data map are not done")
	// ErrNoAccessPackage refuses to send the access package when none is
	// built (or a new gathering replaced it).
	ErrNoAccessPackage = errors.New("no access package to send")
	// ErrPackageAndFile refuses an answer with both the access package and
	// another file: an answer carries one file.
	ErrPackageAndFile = errors.New("the access package and another file at once")
)

// fulfilmentForCompletion checks that f allows completing and returns the
// file the answer sends when it asks for the package.
func fulfilmentForCompletion(f Fulfilment, withPackage bool) (*File, error) {
	if f.Started && !f.Done {
		return nil, ErrFulfilmentUnfinished
	}
	if !withPackage {
		return nil, nil
	}
	if f.Package == nil {
		return nil, ErrNoAccessPackage
	}
	p := *f.Package
	p.Purpose = FileResponse
	return &p, nil
}
