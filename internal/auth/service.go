package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/request"
)

// Throttle limits failed sign-ins in a sliding window, counted in the
// database so that every instance sees the same numbers.
type Throttle struct {
	Window     time.Duration
	PerAccount int // failures per email address (known or not)
	PerAddress int // failures per client address
}

// DefaultThrottle allows a person a few typos and a shared office address
// several people's worth, while a guesser gets 5 tries per quarter hour.
var DefaultThrottle = Throttle{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 20}

// Config is how a deployment runs staff accounts.
type Config struct {
	OrgName   string        // the issuer shown in authenticator apps and emails
	Links     request.Links // for invitation links
	InviteFor time.Duration // how long an invitation link works
	Throttle  Throttle
	Params    Params
}

// Service runs staff accounts and sign-in.
type Service struct {
	repo     Repository
	composer request.Composer
	clock    Clock
	cfg      Config
	// dummy is verified against when the email matches no account, so that
	// an unknown email costs the same time as a wrong password.
	dummy string
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
	dummy, err := HashPassword("not a password: timing equaliser", cfg.Params)
	if err != nil {
		return nil, err
	}
	return &Service{repo: repo, composer: composer, clock: clock, cfg: cfg, dummy: dummy}, nil
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
	st.PasswordHash, err = HashPassword(in.Password, s.cfg.Params)
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
	hash, err := HashPassword(password, s.cfg.Params)
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

// bucket names a throttle counter without keeping what it counts: an email
// typed at the sign-in form, or a client address.
func bucket(kind, value string) string {
	sum := sha256.Sum256([]byte("signin\x00" + kind + "\x00" + value))
	return "signin:" + kind + ":" + hex.EncodeToString(sum[:16])
}

func accountBucket(email string) string {
	return bucket("account", strings.ToLower(strings.TrimSpace(email)))
}
func addressBucket(addr string) string { return bucket("address", addr) }

// throttled reports whether the account or the address has used up its
// failures in the window.
func (s *Service) throttled(ctx context.Context, now time.Time, acct, addr string) (bool, error) {
	n, err := s.repo.SignInFailures(ctx, []string{acct, addr}, now.Add(-s.cfg.Throttle.Window))
	if err != nil {
		return false, err
	}
	return n[0] >= s.cfg.Throttle.PerAccount || n[1] >= s.cfg.Throttle.PerAddress, nil
}

// RetryAfter is how long a throttled client should wait, at most.
func (s *Service) RetryAfter() time.Duration { return s.cfg.Throttle.Window }

// SignIn checks an email and password. needCode says the account has a
// second factor and SignInCode must follow. Every outcome is logged.
func (s *Service) SignIn(ctx context.Context, email, password, client string) (st Staff, needCode bool, err error) {
	now := s.clock.Now()
	acct, addr := accountBucket(email), addressBucket(client)
	st, err = s.repo.StaffByEmail(ctx, strings.TrimSpace(email))
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Staff{}, false, err
	}
	if !found {
		st = Staff{}
	}
	if limited, err := s.throttled(ctx, now, acct, addr); err != nil {
		return Staff{}, false, err
	} else if limited {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "throttled", At: now}); err != nil {
			return Staff{}, false, err
		}
		return Staff{}, false, ErrThrottled
	}
	hash := s.dummy
	if found && st.PasswordHash != "" {
		hash = st.PasswordHash
	}
	ok, rehash, verr := VerifyPassword(hash, password, s.cfg.Params)
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
		err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Buckets: []string{acct, addr}, Reason: reason, At: now})
		if err != nil {
			return Staff{}, false, err
		}
		return Staff{}, false, ErrBadCredentials
	}
	if rehash {
		if h, err := HashPassword(password, s.cfg.Params); err == nil {
			if err := s.repo.UpdatePasswordHash(ctx, st.ID, h); err != nil {
				return Staff{}, false, err
			}
			st.PasswordHash = h
		}
	}
	if st.HasTOTP() {
		return st, true, nil
	}
	err = s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, OK: true, Method: "password", Clear: []string{acct}, At: now})
	if err != nil {
		return Staff{}, false, err
	}
	return st, false, nil
}

// SignInCode completes a sign-in with the second factor. Wrong codes count
// against the same limits as wrong passwords.
func (s *Service) SignInCode(ctx context.Context, staffID int64, code, client string) (Staff, error) {
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
	acct, addr := accountBucket(st.Email), addressBucket(client)
	if limited, err := s.throttled(ctx, now, acct, addr); err != nil {
		return Staff{}, err
	} else if limited {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Reason: "throttled", At: now}); err != nil {
			return Staff{}, err
		}
		return Staff{}, ErrThrottled
	}
	ok, err := s.useCode(ctx, st, code, now)
	if err != nil {
		return Staff{}, err
	}
	if !ok {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, Buckets: []string{acct, addr}, Reason: "bad_code", At: now}); err != nil {
			return Staff{}, err
		}
		return Staff{}, ErrBadCode
	}
	err = s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: st.ID, OK: true, Method: "password+totp", Clear: []string{acct}, At: now})
	if err != nil {
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
func (s *Service) DisableTOTP(ctx context.Context, me Staff, code, client string) error {
	if !me.HasTOTP() {
		return ErrTOTPNotActive
	}
	now := s.clock.Now()
	acct, addr := accountBucket(me.Email), addressBucket(client)
	if limited, err := s.throttled(ctx, now, acct, addr); err != nil {
		return err
	} else if limited {
		return ErrThrottled
	}
	step, ok := MatchTOTP(me.TOTPSecret, code, now)
	if !ok || step <= me.TOTPLastStep {
		if err := s.repo.RecordSignIn(ctx, SignInAttempt{StaffID: me.ID, Buckets: []string{acct, addr}, Reason: "bad_code", At: now}); err != nil {
			return err
		}
		return ErrBadCode
	}
	return s.repo.DisableTOTP(ctx, me.ID, step, now)
}
