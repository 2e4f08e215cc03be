package request

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"rightsdesk/internal/deadline"
)

// Request is a stored request as the rest of the application sees it.
type Request struct {
	ID           int64
	Reference    string
	Type         Type
	Status       Status
	Locale       Locale
	ReceivedAt   time.Time
	ConfirmedAt  time.Time
	DueAt        time.Time
	Rule         string
	LegalRef     string
	RuleBasis    string // how the deadline was counted: deadline.Terms, encoded (English text in older records)
	FullName     string
	Email        string
	Phone        string
	AccountID    string
	Details      string
	OnBehalf     bool
	SubjectName  string
	Relationship Relationship
	AccessScope  string
	Correction   string
	Processing   string
	DuplicateOf  int64 // 0 when the request is not linked to an earlier one
	// The assignee, when there is one: who hears of the requester's actions.
	AssigneeID     int64
	AssigneeName   string
	AssigneeEmail  string
	AssigneeLocale Locale
	// Extensions counts deadline extensions; OriginalDueAt is the first date given.
	Extensions    int
	OriginalDueAt time.Time
	OutcomeReason string
	// PausedAt is when the clock stopped while staff wait for the requester.
	PausedAt time.Time
	// Identity is the check of who the requester is, when one was recorded.
	Identity IdentityCheck
}

// Email kinds the intake produces.
const (
	EmailAcknowledgement = "acknowledgement"
	EmailStaffNew        = "staff_new"
)

// OutboxEmail is a rendered email to record and deliver with a change.
// Secrets hold link tokens that are substituted into the bodies only when the
// message is sent (see the emails table).
type OutboxEmail struct {
	Kind      string
	MessageID string
	To        string
	Locale    Locale
	Subject   string
	Text      string
	HTML      string
	Secrets   map[string]string
}

// NewRequest is everything the store writes in the intake transaction.
type NewRequest struct {
	Request          Request
	StatusTokenHash  []byte
	ConfirmTokenHash []byte // nil when verification is off
	ConfirmExpiresAt time.Time
	Emails           []OutboxEmail
	Files            []File // proof of authority
	// Idempotency: a hash of the client's key (scoped to the client) and of
	// what it submitted.
	IdempotencyKeyHash []byte
	BodyHash           []byte
	// VouchedBy is the API key of the operator's system that filed the
	// request for a requester its own sign-in proved (0: the public intake).
	// The "received" event names it, and Request.Identity holds the check
	// it stands for.
	VouchedBy int64
	// The acknowledgement is counted against its address's limit of
	// AcknowledgementLimit a day (0: none) on AcknowledgementDay
	// ("2006-01-02" in the operator's zone); past it, CreateRequest stores
	// nothing and returns ErrAcknowledgementLimit.
	AcknowledgementDay   string
	AcknowledgementLimit int
}

// ErrRepeated is returned by CreateRequest, with the request stored the first
// time, when the idempotency key was used before.
var ErrRepeated = errors.New("submission repeated")

// ErrIdempotencyMismatch means a key was used again for different content.
var ErrIdempotencyMismatch = errors.New("idempotency key reused for a different submission")

// Repository persists requests. CreateRequest writes the request, its
// "received" event, its emails and their delivery jobs in one transaction; it
// links the request to an open one of the same person and type, if any, and
// returns ErrReferenceTaken when the reference already exists. With an
// idempotency key used before, it stores nothing and returns the request
// stored the first time with ErrRepeated (ErrIdempotencyMismatch when the
// content differs).
type Repository interface {
	CreateRequest(ctx context.Context, nr NewRequest) (Request, error)
	// ChangeRequest records a repeated submission on the first request.
	ChangeRepository
}

// ErrReferenceTaken means a freshly drawn reference collided with a stored one.
var ErrReferenceTaken = errors.New("reference already taken")

// Composer renders an email of a kind, in a locale, from template data.
type Composer interface {
	Compose(kind string, locale Locale, data map[string]any) (subject, text, html string, err error)
}

// Clock tells the time; tests pass a fixed one.
type Clock interface{ Now() time.Time }

// Deadlines gives the due date of a request.
type Deadlines interface {
	Due(in deadline.Input) (deadline.Result, error)
}

// ioReader is a source of randomness; nil means crypto/rand.
type ioReader = io.Reader

// Secret placeholders stand in email bodies for link tokens until delivery.
// They are made of characters that HTML and URL escaping leave untouched.
const (
	SecretStatus  = "status"
	SecretConfirm = "confirm"
)

// SecretPlaceholder is the text that stands for the named secret in a body.
func SecretPlaceholder(name string) string { return "__RDSECRET_" + name + "__" }

// Links builds the absolute URLs that emails and API answers carry.
type Links struct{ BaseURL string }

// Status is the requester's status page for a token.
func (l Links) Status(token string) string { return l.BaseURL + "/s/" + token }

// Confirm is the confirmation link for a token.
func (l Links) Confirm(token string) string { return l.BaseURL + "/confirm/" + token }

// Host is the host name of the base URL, used to qualify Message-IDs.
func (l Links) Host() string {
	if u, err := url.Parse(l.BaseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "rightsdesk.invalid"
}

// Staff is the staff page of a request.
func (l Links) Staff(reference string) string { return l.BaseURL + "/staff/requests/" + reference }

// IntakeConfig is how a deployment takes requests.
type IntakeConfig struct {
	VerifyEmail    bool
	ConfirmFor     time.Duration // how long a confirmation link stays valid
	PrivacyContact string
	StaffLocale    Locale
	OrgName        string
	// AcknowledgementsPerDay is how many acknowledgements one address
	// receives in a calendar day of Location (ACKNOWLEDGEMENTS_PER_DAY);
	// a submission beyond it is refused. 0: no limit.
	AcknowledgementsPerDay int
	Location               *time.Location
}

// Intake accepts new requests.
type Intake struct {
	Validator *Validator
	Repo      Repository
	Composer  Composer
	Deadlines Deadlines
	Clock     Clock
	Links     Links
	Config    IntakeConfig
	Random    ioReader // nil = crypto/rand
}

// Receipt is what the submitter is told once the request is stored. The
// submitter may not be the person whose address the request names, so the
// receipt carries no secret link: status, confirmation and download links
// travel only by email, to that address.
type Receipt struct {
	Reference  string
	Status     Status
	ReceivedAt time.Time
	DueAt      time.Time
	// StatusURL is the requester's status page, given only to an operator's
	// system that vouched for the requester (SubmitVouched); empty for the
	// public intake.
	StatusURL string
}

// Voucher is an operator's own system that files a request for a requester
// its own sign-in has already proved (the staff API with a key whose role
// allows it). Such a request needs no email confirmation, and the check of
// who the requester is counts as done by the key.
type Voucher struct {
	APIKeyID int64
}

// Submit validates a submission from the public intake (the form or the
// API without a key) and stores it with its deadline, event and emails.
// Invalid input returns a *ValidationError and stores nothing; a
// submission whose acknowledgement would go beyond the address's limit
// returns a *LimitReached and stores nothing: whoever files in someone
// else's name cannot fill that person's mailbox.
func (in *Intake) Submit(ctx context.Context, s Submission, fallback Locale) (Receipt, error) {
	return in.submit(ctx, s, fallback, nil)
}

// SubmitVouched files a request for a requester the operator's own system
// has proved, as Submit does, except that it starts confirmed, records the
// identity check as made by the key (the operator's own account sign-in),
// sends no confirmation link (the acknowledgement still goes, with the
// status link), and answers with the status link.
func (in *Intake) SubmitVouched(ctx context.Context, s Submission, fallback Locale, v Voucher) (Receipt, error) {
	if v.APIKeyID == 0 {
		return Receipt{}, errors.New("vouched submission without a key")
	}
	return in.submit(ctx, s, fallback, &v)
}

func (in *Intake) submit(ctx context.Context, s Submission, fallback Locale, v *Voucher) (Receipt, error) {
	s.Normalize()
	if err := in.Validator.Validate(&s); err != nil {
		return Receipt{}, err
	}
	if s.Locale == "" {
		s.Locale = fallback
	}
	now := in.Clock.Now()
	verify := in.Config.VerifyEmail && v == nil
	status, confirmed := New, now // without verification, receipt is confirmation
	if verify {
		status, confirmed = Unverified, time.Time{}
	}
	due, err := in.Deadlines.Due(deadline.Input{Type: string(s.Type), ReceivedAt: now, ConfirmedAt: confirmed})
	if errors.Is(err, deadline.ErrNotStarted) {
		// The rule's clock starts at confirmation: until then the request
		// shows the earliest date it can have, and confirming sets the real one.
		due, err = in.Deadlines.Due(deadline.Input{Type: string(s.Type), ReceivedAt: now, ConfirmedAt: now})
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("due date for %s: %w", s.Type, err)
	}
	req := Request{
		Type: s.Type, Status: status, Locale: s.Locale, ReceivedAt: now, ConfirmedAt: confirmed,
		DueAt: due.DueAt, Rule: due.Rule, LegalRef: due.LegalRef, RuleBasis: due.Terms.Encode(),
		FullName: s.FullName, Email: s.Email, Phone: s.Phone, AccountID: s.AccountID,
		Details: s.Details, OnBehalf: s.OnBehalf, SubjectName: s.SubjectName,
		Relationship: s.Relationship, AccessScope: s.AccessScope,
		Correction: s.Correction, Processing: s.Processing,
	}
	if v != nil {
		req.Identity = IdentityCheck{At: now, Method: IdentityOperatorAccount, APIKeyID: v.APIKeyID}
	}

	// A collision among 2^55 references is all but impossible; retrying a few
	// times keeps it from ever reaching the person.
	for attempt := 0; ; attempt++ {
		nr, statusToken, err := in.prepare(req, verify)
		if err != nil {
			return Receipt{}, err
		}
		nr.Files = s.proofFiles
		if v != nil {
			nr.VouchedBy = v.APIKeyID
		}
		if s.IdempotencyKey != "" {
			nr.IdempotencyKeyHash, nr.BodyHash = idempotencyHashes(s, v)
		}
		day, nextDay := acknowledgementDay(now, in.Config.Location)
		nr.AcknowledgementDay, nr.AcknowledgementLimit = day, in.Config.AcknowledgementsPerDay
		stored, err := in.Repo.CreateRequest(ctx, nr)
		if errors.Is(err, ErrReferenceTaken) && attempt < 3 {
			continue
		}
		if errors.Is(err, ErrAcknowledgementLimit) {
			return Receipt{}, &LimitReached{Field: "email", Key: "error.acknowledgements_per_day", RetryAt: nextDay,
				Params: map[string]any{"Max": in.Config.AcknowledgementsPerDay}}
		}
		if errors.Is(err, ErrRepeated) {
			return in.repeat(ctx, stored, v)
		}
		if err != nil {
			return Receipt{}, fmt.Errorf("store request: %w", err)
		}
		out := Receipt{Reference: stored.Reference, Status: stored.Status, ReceivedAt: stored.ReceivedAt, DueAt: stored.DueAt}
		if v != nil {
			out.StatusURL = in.Links.Status(statusToken)
		}
		return out, nil
	}
}

// idempotencyHashes hash the client's key and what was submitted with it;
// only hashes are stored. The key is scoped to its client: the public
// intake's keys to the address the request names, a vouching system's to
// its API key as well. So one client's key never lands on another's
// request, and a replay reveals nothing to someone who could not file the
// same request anyway.
func idempotencyHashes(s Submission, v *Voucher) (key, body []byte) {
	scope := "public"
	if v != nil {
		scope = fmt.Sprintf("api key %d", v.APIKeyID)
	}
	k := sha256.Sum256([]byte("idempotency v2\x00" + scope + "\x00" + strings.ToLower(s.Email) + "\x00" + s.IdempotencyKey))
	h := sha256.New()
	proof := s.Proof
	s.Proof, s.proofFiles, s.IdempotencyKey = nil, nil, ""
	b, _ := json.Marshal(s)
	h.Write(b)
	for _, p := range proof {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", p.Name, len(p.Content))
		h.Write(p.Content)
	}
	return k[:], h.Sum(nil)
}

// repeat answers a repeated submission with the first one's reference,
// status and dates, and emails nothing. The public caller gets no link (it
// got none the first time either); a vouching system gets a fresh status
// link, since only the hash of the first one was kept.
func (in *Intake) repeat(ctx context.Context, first Request, v *Voucher) (Receipt, error) {
	now := in.Clock.Now()
	var token Token
	if v != nil {
		var err error
		if token, err = NewToken(in.Random); err != nil {
			return Receipt{}, err
		}
	}
	r, err := in.Repo.ChangeRequest(ctx, RequestKey{ID: first.ID}, func(r Request) (Change, error) {
		ch := Change{To: r.Status, Event: "submission_repeated", Actor: ActorRequester, At: now}
		if v != nil {
			ch.Actor, ch.Data, ch.AddStatusLink = ActorStaff, map[string]any{"api_key_id": v.APIKeyID}, token.Hash
		}
		return ch, nil
	})
	if err != nil {
		return Receipt{}, err
	}
	out := Receipt{Reference: r.Reference, Status: r.Status, ReceivedAt: r.ReceivedAt, DueAt: r.DueAt}
	if v != nil {
		out.StatusURL = in.Links.Status(token.Plain)
	}
	return out, nil
}

// prepare draws the reference and tokens and renders the intake emails.
func (in *Intake) prepare(req Request, verify bool) (NewRequest, string, error) {
	ref, err := NewReference(in.Random)
	if err != nil {
		return NewRequest{}, "", err
	}
	req.Reference = ref
	statusToken, err := NewToken(in.Random)
	if err != nil {
		return NewRequest{}, "", err
	}
	nr := NewRequest{Request: req, StatusTokenHash: statusToken.Hash}
	secrets := map[string]string{SecretStatus: statusToken.Plain}
	data := map[string]any{
		"Org":       in.Config.OrgName,
		"Reference": req.Reference,
		"Type":      string(req.Type),
		"DueAt":     req.DueAt,
		"StatusURL": in.Links.Status(SecretPlaceholder(SecretStatus)),
		"Verify":    verify,
		"OnBehalf":  req.OnBehalf,
	}
	if verify {
		confirm, err := NewToken(in.Random)
		if err != nil {
			return NewRequest{}, "", err
		}
		nr.ConfirmTokenHash = confirm.Hash
		nr.ConfirmExpiresAt = req.ReceivedAt.Add(in.Config.ConfirmFor)
		secrets[SecretConfirm] = confirm.Plain
		data["ConfirmURL"] = in.Links.Confirm(SecretPlaceholder(SecretConfirm))
		data["ConfirmBy"] = nr.ConfirmExpiresAt
	}

	ack, err := in.compose(EmailAcknowledgement, req.Email, req.Locale, data)
	if err != nil {
		return NewRequest{}, "", err
	}
	ack.Secrets = secrets
	nr.Emails = append(nr.Emails, ack)

	if in.Config.PrivacyContact != "" {
		staffData := map[string]any{
			"Org":       in.Config.OrgName,
			"Reference": req.Reference,
			"Type":      string(req.Type),
			"DueAt":     req.DueAt,
			"StaffURL":  in.Links.Staff(req.Reference),
			"Verify":    verify,
			"OnBehalf":  req.OnBehalf,
		}
		notice, err := in.compose(EmailStaffNew, in.Config.PrivacyContact, in.Config.StaffLocale, staffData)
		if err != nil {
			return NewRequest{}, "", err
		}
		nr.Emails = append(nr.Emails, notice)
	}
	return nr, statusToken.Plain, nil
}

func (in *Intake) compose(kind, to string, locale Locale, data map[string]any) (OutboxEmail, error) {
	return composeEmail(in.Composer, in.Random, in.Links, kind, to, locale, data)
}
