package auth

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/request"
)

// Config is how a deployment runs staff accounts.
type Config struct {
	OrgName   string        // the issuer shown in authenticator apps and emails
	Links     request.Links // for invitation links
	InviteFor time.Duration // how long an invitation link works
	Throttle  Throttle
	Params    Params
	// Devices signs device cookies (the keyring); nil trusts no client,
	// so every sign-in is throttled as an untrusted one.
	Devices Signer
	// HashSlots is how many passwords are hashed at once; 0 sizes it for
	// the machine (gateSize). HashWait is how long a sign-in waits for a
	// slot before it is asked to try again (0: hashWait).
	HashSlots int
	HashWait  time.Duration
}

// Service runs staff accounts and sign-in.
type Service struct {
	repo     Repository
	composer request.Composer
	clock    Clock
	cfg      Config
	gate     *hashGate
	// dummy is verified against when the email matches no account, so that
	// an unknown email costs the same time as a wrong password.
	dummy string
}

// Client is who is signing in, as far as the server can tell.
type Client struct {
	Address string // the client's IP address (as TRUSTED_PROXIES let it be read)
	Device  string // the device cookie it sent (DeviceCookie), "" for none
}

// NewService builds the service; zero Config fields take the defaults.
func NewService(repo Repository, composer request.Composer, clock Clock, cfg Config) (*Service, error) {
	if cfg.InviteFor == 0 {
		cfg.InviteFor = 72 * time.Hour
	}
	if cfg.Throttle == (Throttle{}) {
		cfg.Throttle = DefaultThrottle
	}
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if cfg.HashSlots <= 0 {
		cfg.HashSlots = gateSize(cfg.Params)
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = hashWait
	}
	dummy, err := HashPassword("not a password: timing equaliser", cfg.Params)
	if err != nil {
		return nil, err
	}
	return &Service{repo: repo, composer: composer, clock: clock, cfg: cfg, dummy: dummy,
		gate: newHashGate(cfg.HashSlots, cfg.HashWait)}, nil
}

// HashSlots is how many passwords this instance hashes at once.
func (s *Service) HashSlots() int { return cap(s.gate.slots) }

// hashPassword hashes pw in a hashing slot.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	var hash string
	var err error
	if gerr := s.gate.do(ctx, func() { hash, err = HashPassword(pw, s.cfg.Params) }); gerr != nil {
		return "", gerr
	}
	return hash, err
}

// Errors of the account forms.
var (
	ErrForbidden     = errors.New("not allowed for this role")
	ErrTOTPActive    = errors.New("the second factor is already on")
	ErrTOTPNotActive = errors.New("the second factor is off")
)

// ValidationError names the field that is wrong and why, as a message key
// suffix ("email", "name", "role", "locale", "password.short", ...).
type ValidationError struct {
	Field string
	Key   string
	Err   error
}

func (e *ValidationError) Error() string {
	if e.Err != nil {
		return e.Field + ": " + e.Err.Error()
	}
	return e.Field + ": invalid"
}

func (e *ValidationError) Unwrap() error { return e.Err }

// AccountInput is what creating an account takes.
type AccountInput struct {
	Email    string
	Name     string
	Role     string
	Locale   string
	Password string // empty for an invitation
}

func (in *AccountInput) validate(needPassword bool) (Staff, error) {
	in.Email = strings.TrimSpace(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	st := Staff{Email: in.Email, Name: in.Name, Locale: request.Locale(in.Locale)}
	if a, err := netmail.ParseAddress(in.Email); err != nil || a.Address != in.Email || len(in.Email) > 254 {
		return st, &ValidationError{Field: "email", Key: "email", Err: errors.New("not a plain email address")}
	}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 || strings.ContainsAny(in.Name, "\r\n\x00") {
		return st, &ValidationError{Field: "name", Key: "name", Err: errors.New("give a name of one line, up to 200 characters")}
	}
	role, err := ParseRole(in.Role)
	if err != nil {
		return st, &ValidationError{Field: "role", Key: "role", Err: err}
	}
	st.Role = role
	if st.Locale == "" {
		st.Locale = request.Russian
	}
	if !st.Locale.Valid() {
		return st, &ValidationError{Field: "locale", Key: "locale", Err: errors.New("want ru, kk or en")}
	}
	if needPassword {
		if err := CheckPassword(in.Password); err != nil {
			return st, passwordError(err)
		}
	}
	return st, nil
}

func passwordError(err error) error {
	key := "password.short"
	switch {
	case errors.Is(err, ErrPasswordTooLong):
		key = "password.long"
	case errors.Is(err, ErrPasswordBlank):
		key = "password.blank"
	}
	return &ValidationError{Field: "password", Key: key, Err: err}
}

// CreateWithPassword creates an account with a password; the command line
// uses it, so the event names the system as the actor.
func (s *Service) CreateWithPassword(ctx context.Context, in AccountInput) (Staff, error) {
	st, err := in.validate(true)
	if err != nil {
		return Staff{}, err
	}
	st.PasswordHash, err = s.hashPassword(ctx, in.Password)
	if err != nil {
		return Staff{}, err
	}
	now := s.clock.Now()
	st.CreatedAt = now
	return s.repo.CreateStaff(ctx, NewStaff{Staff: st, Audit: Audit{At: now}})
}

// Invite creates an account without a password and emails its owner a
// one-time link to set one.
func (s *Service) Invite(ctx context.Context, actor Staff, in AccountInput) (Staff, error) {
	if !actor.Can(PermStaffManage) {
		return Staff{}, ErrForbidden
	}
	st, err := in.validate(false)
	if err != nil {
		return Staff{}, err
	}
	now := s.clock.Now()
	st.CreatedAt = now
	token, err := request.NewToken(nil)
	if err != nil {
		return Staff{}, err
	}
	expires := now.Add(s.cfg.InviteFor)
	const secret = "password"
	subject, text, html, err := s.composer.Compose("staff_invite", st.Locale, map[string]any{
		"Org":       s.cfg.OrgName,
		"Name":      st.Name,
		"Inviter":   actor.Name,
		"Role":      string(st.Role),
		"URL":       s.cfg.Links.BaseURL + "/staff/password/" + request.SecretPlaceholder(secret),
		"ConfirmBy": expires,
	})
	if err != nil {
		return Staff{}, fmt.Errorf("compose invitation: %w", err)
	}
	id, err := request.NewToken(nil)
	if err != nil {
		return Staff{}, err
	}
	email := request.OutboxEmail{
		Kind: "staff_invite", To: st.Email, Locale: st.Locale, Subject: subject, Text: text, HTML: html,
		MessageID: id.Plain[:26] + "@" + s.cfg.Links.Host(),
		Secrets:   map[string]string{secret: token.Plain},
	}
	return s.repo.CreateStaff(ctx, NewStaff{
		Staff: st, InviteHash: token.Hash, InviteExpires: expires,
		Emails: []request.OutboxEmail{email}, Audit: Audit{ActorID: actor.ID, At: now}, CreatedByAdmin: true,
	})
}

// Invitation returns the account an invitation link is for, if it still works.
func (s *Service) Invitation(ctx context.Context, token string) (Staff, error) {
	if !request.WellFormedToken(token) {
		return Staff{}, ErrLinkInvalid
	}
	st, err := s.repo.InviteStaff(ctx, request.HashToken(token), s.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return Staff{}, ErrLinkInvalid
	}
	return st, err
}

// AcceptInvitation sets the password through an invitation link, once.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (Staff, error) {
	if !request.WellFormedToken(token) {
		return Staff{}, ErrLinkInvalid
	}
	if err := CheckPassword(password); err != nil {
		return Staff{}, passwordError(err)
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return Staff{}, err
	}
	st, err := s.repo.SetPasswordByInvite(ctx, request.HashToken(token), hash, s.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return Staff{}, ErrLinkInvalid
	}
	return st, err
}

// Staff returns an account by id.
func (s *Service) Staff(ctx context.Context, id int64) (Staff, error) {
	return s.repo.StaffByID(ctx, id)
}

// List returns every account.
func (s *Service) List(ctx context.Context, actor Staff) ([]Staff, error) {
	if !actor.Can(PermStaffRead) {
		return nil, ErrForbidden
	}
	return s.repo.ListStaff(ctx)
}

// attemptBuckets are the throttle buckets an attempt at st's account is
// counted in, with each one's free failures: a trusted client's own bucket
// only, or the account's untrusted bucket and the address's.
func (s *Service) attemptBuckets(email string, st Staff, client Client, now time.Time) ([]string, []int, bool) {
	t := s.cfg.Throttle
	if d, ok := s.trustedDevice(client.Device, st, now); ok {
		return []string{deviceBucket(st.ID, d.nonce)}, []int{t.Device}, true
	}
	return []string{accountBucket(email), addressBucket(client.Address)}, []int{t.Account, t.Address}, false
}

// reserve counts one attempt in every bucket before it is checked, in one
// transaction that locks the buckets, so parallel attempts are counted one
// after the other and no more than a bucket allows are ever checked. When
// any bucket refuses, the attempt counts in none and a *ThrottledError
// says how long to wait.
func (s *Service) reserve(ctx context.Context, buckets []string, free []int, now time.Time) error {
	var wait time.Duration
	err := s.repo.UpdateThrottle(ctx, buckets, func(states []BucketState) ([]BucketState, error) {
		wait = 0
		var retry time.Duration
		next := make([]BucketState, len(states))
		admitted := make([]bool, len(states))
		refused := false
		for i, st := range states {
			next[i], retry, admitted[i] = s.cfg.Throttle.admit(st, free[i], now)
			if !admitted[i] {
				refused = true
				wait = max(wait, retry)
			}
		}
		if refused {
			// The attempt counts nowhere; only the refusing buckets
			// change (their lock).
			for i, st := range states {
				if admitted[i] {
					next[i] = st
				}
			}
		}
		return next, nil
	})
	if err != nil {
		return err
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// giveBack refunds an attempt reserve counted that was not checked after
// all, or whose password was right on an account that still needs its code.
func (s *Service) giveBack(ctx context.Context, buckets []string) error {
	return s.repo.UpdateThrottle(ctx, buckets, func(states []BucketState) ([]BucketState, error) {
		for i := range states {
			states[i] = refund(states[i])
		}
		return states, nil
	})
}

// SignIn checks an email and password. needCode says the account has a
// second factor and SignInCode must follow. Every outcome is logged.
//
// The attempt is counted before the password is checked (reserve), and the
// check waits for a hashing slot: neither a burst of parallel guesses nor a
// flood of sign-ins gets more checks, or more memory, than the limits give.
func (s *Service) SignIn(ctx context.Context, email, password string, client Client) (st Staff, needCode bool, err error) {
	now := s.clock.Now()
	st, err = s.repo.StaffByEmail(ctx, strings.TrimSpace(email))
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Staff{}, false, err
	}
	if !found {
		st = Staff{}
	}
	buckets, free, trusted := s.attemptBuckets(email, st, client, now)
	if err := s.reserve(ctx, buckets, free, now); errors.Is(err, ErrThrottled) {
		if rerr := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "throttled", Trusted: trusted, At: now}); rerr != nil {
			return Staff{}, false, rerr
		}
		return Staff{}, false, err
	} else if err != nil {
		return Staff{}, false, err
	}
	hash := s.dummy
	if found && st.PasswordHash != "" {
		hash = st.PasswordHash
	}
	var ok, rehash bool
	var verr error
	var newHash string
	if gerr := s.gate.do(ctx, func() {
		ok, rehash, verr = VerifyPassword(hash, password, s.cfg.Params)
		if ok && rehash && found && st.Active() {
			// In the same slot: the password is known only now.
			newHash, _ = HashPassword(password, s.cfg.Params)
		}
	}); gerr != nil {
		// Not checked: the attempt does not count.
		if err := s.giveBack(ctx, buckets); err != nil {
			return Staff{}, false, err
		}
		if errors.Is(gerr, ErrBusy) {
			if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "busy", Trusted: trusted, At: now}); err != nil {
				return Staff{}, false, err
			}
		}
		return Staff{}, false, gerr
	}
	reason := ""
	switch {
	case !found:
		reason = "unknown"
	case st.PasswordHash == "":
		reason = "no_password"
	case verr != nil:
		reason = "bad_hash"
	case !ok:
		reason = "bad_password"
	case !st.Active():
		reason = "disabled"
	}
	if reason != "" {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: reason, Trusted: trusted, At: now}); err != nil {
			return Staff{}, false, err
		}
		return Staff{}, false, ErrBadCredentials
	}
	if newHash != "" {
		if err := s.repo.UpdatePasswordHash(ctx, st.ID, newHash); err != nil {
			return Staff{}, false, err
		}
		st.PasswordHash = newHash
	}
	if st.HasTOTP() {
		// The password was right: only a wrong code will count.
		if err := s.giveBack(ctx, buckets); err != nil {
			return Staff{}, false, err
		}
		return st, true, nil
	}
	if err := s.succeeded(ctx, st, "password", buckets, trusted, now); err != nil {
		return Staff{}, false, err
	}
	return st, false, nil
}

// succeeded records a complete sign-in. It clears the account's bucket the
// attempt was counted in and gives the address's back its one attempt,
// never more: signing in to one's own account must not reset what a
// guesser at the same address has spent.
func (s *Service) succeeded(ctx context.Context, st Staff, method string, buckets []string, trusted bool, now time.Time) error {
	if len(buckets) > 1 {
		if err := s.giveBack(ctx, buckets[1:]); err != nil {
			return err
		}
	}
	return s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, OK: true, Method: method, Trusted: trusted, Clear: buckets[:1],
		At: now, ForgetBefore: now.Add(-s.cfg.Throttle.Forget)})
}

// SignInCode completes a sign-in with the second factor. Wrong codes count
// against the same limits as wrong passwords.
func (s *Service) SignInCode(ctx context.Context, staffID int64, code string, client Client) (Staff, error) {
	now := s.clock.Now()
	st, err := s.repo.StaffByID(ctx, staffID)
	if errors.Is(err, ErrNotFound) {
		return Staff{}, ErrBadCredentials
	}
	if err != nil {
		return Staff{}, err
	}
	if !st.Active() || !st.HasTOTP() {
		return Staff{}, ErrBadCredentials
	}
	buckets, free, trusted := s.attemptBuckets(st.Email, st, client, now)
	if err := s.reserve(ctx, buckets, free, now); errors.Is(err, ErrThrottled) {
		if rerr := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "throttled", Trusted: trusted, At: now}); rerr != nil {
			return Staff{}, rerr
		}
		return Staff{}, err
	} else if err != nil {
		return Staff{}, err
	}
	ok, err := s.useCode(ctx, st, code, now)
	if err != nil {
		return Staff{}, err
	}
	if !ok {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "bad_code", Trusted: trusted, At: now}); err != nil {
			return Staff{}, err
		}
		return Staff{}, ErrBadCode
	}
	if err := s.succeeded(ctx, st, "password+totp", buckets, trusted, now); err != nil {
		return Staff{}, err
	}
	return st, nil
}

// useCode accepts a code once: a code seen before (or older than the last
// one used) is refused even inside its 90 seconds.
func (s *Service) useCode(ctx context.Context, st Staff, code string, now time.Time) (bool, error) {
	step, ok := MatchTOTP(st.TOTPSecret, code, now)
	if !ok || step <= st.TOTPLastStep {
		return false, nil
	}
	return s.repo.UseTOTPStep(ctx, st.ID, step)
}

// SignedOut logs a sign-out.
func (s *Service) SignedOut(ctx context.Context, staffID int64) error {
	return s.repo.RecordSignOut(ctx, staffID, s.clock.Now())
}

// EndSessions signs an account out everywhere: its own owner may, and an
// admin may for anyone.
func (s *Service) EndSessions(ctx context.Context, actor Staff, staffID int64) error {
	if actor.ID != staffID && !actor.Can(PermStaffManage) {
		return ErrForbidden
	}
	return s.repo.EndSessions(ctx, Audit{ActorID: actor.ID, At: s.clock.Now()}, staffID)
}

// SetRole changes another account's role; it applies on their next request.
func (s *Service) SetRole(ctx context.Context, actor Staff, staffID int64, role string) (Staff, error) {
	if !actor.Can(PermStaffManage) {
		return Staff{}, ErrForbidden
	}
	r, err := ParseRole(role)
	if err != nil {
		return Staff{}, &ValidationError{Field: "role", Key: "role", Err: err}
	}
	// An admin cannot demote themselves, so some admin always remains.
	if actor.ID == staffID {
		return Staff{}, ErrSelfChange
	}
	return s.repo.SetRole(ctx, Audit{ActorID: actor.ID, At: s.clock.Now()}, staffID, r)
}

// SetDisabled disables or re-enables another account.
func (s *Service) SetDisabled(ctx context.Context, actor Staff, staffID int64, disabled bool) (Staff, error) {
	if !actor.Can(PermStaffManage) {
		return Staff{}, ErrForbidden
	}
	if actor.ID == staffID {
		return Staff{}, ErrSelfChange
	}
	return s.repo.SetDisabled(ctx, Audit{ActorID: actor.ID, At: s.clock.Now()}, staffID, disabled)
}

// StartTOTP draws a new secret for the account; it takes effect once a code
// from it is confirmed.
func (s *Service) StartTOTP(ctx context.Context, me Staff) (secret, uri string, err error) {
	if me.HasTOTP() {
		return "", "", ErrTOTPActive
	}
	secret, uri, err = NewTOTPKey(s.issuer(), me.Email)
	if err != nil {
		return "", "", err
	}
	if err := s.repo.SetTOTPSecret(ctx, me.ID, secret); err != nil {
		return "", "", err
	}
	return secret, uri, nil
}

// PendingTOTPURI is the otpauth URI of an enrolment not yet confirmed.
func (s *Service) PendingTOTPURI(me Staff) string {
	if me.TOTPSecret == "" || me.HasTOTP() {
		return ""
	}
	return TOTPURI(s.issuer(), me.Email, me.TOTPSecret)
}

func (s *Service) issuer() string {
	if strings.TrimSpace(s.cfg.OrgName) == "" {
		return "rightsdesk"
	}
	return strings.ReplaceAll(s.cfg.OrgName, ":", " ")
}

// ConfirmTOTP switches the second factor on with a code from the new secret.
func (s *Service) ConfirmTOTP(ctx context.Context, me Staff, code string) error {
	if me.HasTOTP() {
		return ErrTOTPActive
	}
	if me.TOTPSecret == "" {
		return ErrTOTPNotActive
	}
	now := s.clock.Now()
	step, ok := MatchTOTP(me.TOTPSecret, code, now)
	if !ok {
		return ErrBadCode
	}
	return s.repo.EnableTOTP(ctx, me.ID, step, now)
}

// DisableTOTP switches the second factor off; it takes a current code, so a
// borrowed session alone cannot do it. Wrong codes count as failed sign-ins.
func (s *Service) DisableTOTP(ctx context.Context, me Staff, code string) error {
	if !me.HasTOTP() {
		return ErrTOTPNotActive
	}
	now := s.clock.Now()
	// The session already proves a signed-in client; its own bucket keeps
	// a borrowed session from trying codes, without spending the
	// account's sign-in bucket.
	buckets := []string{totpBucket(me.ID)}
	if err := s.reserve(ctx, buckets, []int{s.cfg.Throttle.Device}, now); err != nil {
		return err
	}
	step, ok := MatchTOTP(me.TOTPSecret, code, now)
	if !ok || step <= me.TOTPLastStep {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: me.ID, Reason: "bad_code", At: now}); err != nil {
			return err
		}
		return ErrBadCode
	}
	if err := s.giveBack(ctx, buckets); err != nil {
		return err
	}
	return s.repo.DisableTOTP(ctx, me.ID, step, now)
}
