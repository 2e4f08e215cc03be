// Package auth is rightsdesk's staff side of identity: accounts and their
// roles, argon2id passwords, sign-in with throttling and an optional TOTP
// second factor, invitations, and the permission table every staff route
// is checked against. It knows nothing of HTTP or SQL: the web layer keeps
// the session, the store keeps the rows.
package auth

import (
	"context"
	"errors"
	"time"

	"rightsdesk/internal/request"
)

// Staff is a staff account.
type Staff struct {
	ID           int64
	Email        string
	Name         string
	Role         Role
	Locale       request.Locale
	PasswordHash string
	TOTPSecret   string    // set during enrolment and while enabled
	TOTPEnabled  time.Time // zero unless the second factor is on
	TOTPLastStep int64     // the last TOTP step used, so no code works twice
	SessionEpoch int64     // bumped to end every session of the account at once
	DisabledAt   time.Time // zero for an active account
	CreatedAt    time.Time
	// Platform marks an account of the platform role (issue 15): the
	// deployment's flag, whatever its memberships; Role is PlatformOnly on
	// the address of an operator it is not a member of.
	Platform bool
}

// Active reports whether the account may sign in.
func (s Staff) Active() bool { return s.DisabledAt.IsZero() }

// HasTOTP reports whether sign-in asks for a code.
func (s Staff) HasTOTP() bool { return !s.TOTPEnabled.IsZero() && s.TOTPSecret != "" }

// Can reports whether the account's role holds perm. The platform page is
// the platform flag's, not a role's; an account there as PlatformOnly holds
// its own account besides and nothing of the operator's.
func (s Staff) Can(p Perm) bool {
	switch {
	case p == PermPlatform:
		return s.Platform
	case s.Role == PlatformOnly:
		return s.Platform && p == PermSelf
	}
	return Can(s.Role, p)
}

// Errors the service returns; the web layer maps them to answers.
var (
	// ErrBadCredentials is the one answer for an unknown email, a wrong
	// password, a disabled account and an account without a password yet.
	ErrBadCredentials = errors.New("wrong email or password")
	ErrBadCode        = errors.New("wrong or used code")
	ErrThrottled      = errors.New("too many failed sign-ins")
	ErrEmailTaken     = errors.New("a staff member with this email exists")
	ErrSelfChange     = errors.New("staff cannot change their own role or disable themselves")
	ErrLinkInvalid    = errors.New("link unknown, used or expired")
	ErrNotFound       = request.ErrNotFound
)

// Clock tells the time; tests pass one they move.
type Clock interface{ Now() time.Time }

// Audit is who did something and when, for the event log.
type Audit struct {
	ActorID int64 // 0: the system (the command line)
	At      time.Time
}

// NewStaff is an account to create, with its invitation when it has no
// password yet.
type NewStaff struct {
	Staff          Staff
	InviteHash     []byte // nil when a password is given
	InviteExpires  time.Time
	Emails         []request.OutboxEmail
	Audit          Audit
	CreatedByAdmin bool
}

// SignInAttempt is one sign-in outcome to record. Failures were counted
// before the check (Repository.UpdateThrottle); a success clears buckets.
type SignInAttempt struct {
	StaffID int64    // 0 when the email matched no account
	Clear   []string // buckets a success clears
	OK      bool
	Reason  string // for failures: bad_password, unknown, disabled, no_password, bad_code, throttled, busy
	Method  string // for successes: password, password+totp, switch
	// FromOperator is, for a sign-in by the switcher, the operator the
	// account came from (its handoff's From).
	FromOperator int64
	Trusted      bool // the client sent a device cookie that holds for the account
	At           time.Time
	// ForgetBefore: with a success, buckets without a failure since then
	// are deleted (the throttle would start them over anyway).
	ForgetBefore time.Time
}

// Repository keeps staff accounts. Each write records its event in the same
// transaction.
type Repository interface {
	StaffByID(ctx context.Context, id int64) (Staff, error)
	StaffByEmail(ctx context.Context, email string) (Staff, error)
	ListStaff(ctx context.Context) ([]Staff, error)
	CreateStaff(ctx context.Context, n NewStaff) (Staff, error)
	// UpdateThrottle locks the buckets (missing ones start at zero), hands
	// their states, in the order given, to update, and stores what it
	// returns, in one transaction: attempts on one bucket are counted one
	// after the other, however many arrive at once.
	UpdateThrottle(ctx context.Context, buckets []string, update func([]BucketState) ([]BucketState, error)) error
	RecordSignIn(ctx context.Context, a SignInAttempt) error
	RecordSignOut(ctx context.Context, staffID int64, at time.Time) error
	UpdatePasswordHash(ctx context.Context, staffID int64, hash string) error
	SetRole(ctx context.Context, a Audit, staffID int64, role Role) (Staff, error)
	SetDisabled(ctx context.Context, a Audit, staffID int64, disabled bool) (Staff, error)
	EndSessions(ctx context.Context, a Audit, staffID int64) error
	SetTOTPSecret(ctx context.Context, staffID int64, secret string) error
	EnableTOTP(ctx context.Context, staffID, step int64, at time.Time) error
	DisableTOTP(ctx context.Context, staffID, step int64, at time.Time) error
	UseTOTPStep(ctx context.Context, staffID, step int64) (bool, error)
	InviteStaff(ctx context.Context, tokenHash []byte, now time.Time) (Staff, error)
	SetPasswordByInvite(ctx context.Context, tokenHash []byte, hash string, at time.Time) (Staff, error)

	// Memberships lists the operators an account is a member of, with its
	// role in each (every operator's, not only the repository's).
	Memberships(ctx context.Context, staffID int64) ([]Membership, error)
	// CreateHandoff keeps a handoff from the repository's operator, with
	// its event there.
	CreateHandoff(ctx context.Context, h Handoff) error
	// UseHandoff spends an unused, unexpired handoff to the repository's
	// operator and returns it; ErrNotFound for any other.
	UseHandoff(ctx context.Context, tokenHash []byte, now time.Time) (Handoff, error)
}
