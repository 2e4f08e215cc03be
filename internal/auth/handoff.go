package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"rightsdesk/internal/request"
)

// HandoffFor is how long a handoff works: the time a browser takes to
// follow a redirect and its owner to press one button.
const HandoffFor = 60 * time.Second

// Membership is an account's role for one operator.
type Membership struct {
	OperatorID int64
	Role       Role
}

// Handoff takes a member of several operators from one operator's workspace
// to another's (issue 15, the switcher): a one-time token, kept hashed,
// bound to the account and to both operators.
type Handoff struct {
	TokenHash []byte
	StaffID   int64
	From, To  int64 // operator ids
	// SignedInAt is when the account signed in on From: the session the
	// handoff starts on To ends when that one would have.
	SignedInAt time.Time
	ExpiresAt  time.Time
	At         time.Time // when it was made (or, from UseHandoff, spent)
}

// ErrNotMember is the answer to a switch to an operator the account is not
// a member of.
var ErrNotMember = errors.New("not a member of that operator")

// Memberships lists the operators the account is a member of.
func (s *Service) Memberships(ctx context.Context, me Staff) ([]Membership, error) {
	return s.repo.Memberships(ctx, me.ID)
}

// StartHandoff makes the token that takes me, signed in since signedIn on
// the operator from, to the workspace of the operator to. The account must
// be a member of to; to redeems it with RedeemHandoff within HandoffFor.
func (s *Service) StartHandoff(ctx context.Context, me Staff, from, to int64, signedIn time.Time) (string, error) {
	if from == to || !me.Active() {
		return "", ErrNotMember
	}
	ms, err := s.repo.Memberships(ctx, me.ID)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(ms, func(m Membership) bool { return m.OperatorID == to }) {
		return "", ErrNotMember
	}
	token, err := request.NewToken(nil)
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	if err := s.repo.CreateHandoff(ctx, Handoff{TokenHash: token.Hash, StaffID: me.ID, From: from, To: to,
		SignedInAt: signedIn, ExpiresAt: now.Add(HandoffFor), At: now}); err != nil {
		return "", fmt.Errorf("create handoff: %w", err)
	}
	return token.Plain, nil
}

// RedeemHandoff spends a handoff to the repository's operator and returns
// the account it signs in, with when its working day began (the source
// session's sign-in). An unknown, used, expired or misdirected token, an
// account no longer a member of this operator and a disabled account all
// get ErrLinkInvalid; the token is spent whatever the outcome once it
// matched. With a second factor on, needCode says the code is still to be
// asked: the handoff proves the password step, never the code (a code is
// typed on the address it signs in to, docs/security.md).
func (s *Service) RedeemHandoff(ctx context.Context, token string) (st Staff, signedIn time.Time, needCode bool, err error) {
	if !request.WellFormedToken(token) {
		return Staff{}, time.Time{}, false, ErrLinkInvalid
	}
	now := s.clock.Now()
	h, err := s.repo.UseHandoff(ctx, request.HashToken(token), now)
	if errors.Is(err, ErrNotFound) {
		return Staff{}, time.Time{}, false, ErrLinkInvalid
	}
	if err != nil {
		return Staff{}, time.Time{}, false, err
	}
	st, err = s.repo.StaffByID(ctx, h.StaffID)
	if errors.Is(err, ErrNotFound) || (err == nil && (!st.Active() || st.Role == PlatformOnly)) {
		// Removed from this operator (or only here as a platform account,
		// which the switcher never offers), or disabled meanwhile.
		return Staff{}, time.Time{}, false, ErrLinkInvalid
	}
	if err != nil {
		return Staff{}, time.Time{}, false, err
	}
	if st.HasTOTP() {
		return st, h.SignedInAt, true, nil
	}
	if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, OK: true, Method: "switch", FromOperator: h.From, At: now}); err != nil {
		return Staff{}, time.Time{}, false, err
	}
	return st, h.SignedInAt, false, nil
}
