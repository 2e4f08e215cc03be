package request

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"rightsdesk/internal/deadline"
)

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
	// Source says how the request came when not by the form or the API
	// (SourceEmail: a letter); the "received" event names it.
	Source string
}

// SourceEmail is the Source of a request that came as a letter.
const SourceEmail = "email"

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

// Errors of the intake's repository.
var (
	// ErrRepeated is returned by CreateRequest, with the request stored the
	// first time, when the idempotency key was used before.
	ErrRepeated = errors.New("submission repeated")
	// ErrIdempotencyMismatch means a key was used again for different
	// content. The intake answers it with an error only for an API client's
	// key (Submission.IdempotencyKey); a form sent again with other answers
	// is filed as new.
	ErrIdempotencyMismatch = errors.New("idempotency key reused for a different submission")
	// ErrReferenceTaken means a freshly drawn reference collided with a
	// stored one.
	ErrReferenceTaken = errors.New("reference already taken")
)

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
	idempotency, isForm := s.idempotencyKey()

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
		if idempotency != "" {
			nr.IdempotencyKeyHash, nr.BodyHash = idempotencyHashes(s, idempotency, v)
		}
		day, nextDay := acknowledgementDay(now, in.Config.Location)
		nr.AcknowledgementDay, nr.AcknowledgementLimit = day, in.Config.AcknowledgementsPerDay
		stored, err := in.Repo.CreateRequest(ctx, nr)
		switch {
		case errors.Is(err, ErrReferenceTaken) && attempt < 3:
			continue
		case errors.Is(err, ErrIdempotencyMismatch) && isForm:
			// The same form sent again with other answers (back, edit,
			// send): what the person sent now is a request of its own.
			idempotency = ""
			continue
		case errors.Is(err, ErrAcknowledgementLimit):
			return Receipt{}, &LimitReached{Field: "email", Key: "error.acknowledgements_per_day", RetryAt: nextDay,
				Params: map[string]any{"Max": in.Config.AcknowledgementsPerDay}}
		case errors.Is(err, ErrRepeated):
			return in.repeat(ctx, stored, v)
		case errors.Is(err, ErrIdempotencyMismatch):
			return Receipt{}, err
		case err != nil:
			return Receipt{}, fmt.Errorf("store request: %w", err)
		}
		out := Receipt{Reference: stored.Reference, Status: stored.Status, ReceivedAt: stored.ReceivedAt, DueAt: stored.DueAt}
		if v != nil {
			out.StatusURL = in.Links.Status(statusToken)
		}
		return out, nil
	}
}

// idempotencyKey is the key a submission is known by, if any, and whether
// it is a form's own id: a client's Idempotency-Key names one submission,
// and reusing it for another is a mistake to refuse; a form's id names one
// rendering of the form, which a person may well send again with other
// answers. A form id that is not a well-formed token is no key at all.
func (s Submission) idempotencyKey() (key string, isForm bool) {
	switch {
	case s.IdempotencyKey != "":
		return "api\x00" + s.IdempotencyKey, false
	case WellFormedToken(s.FormID):
		return "form\x00" + s.FormID, true
	}
	return "", false
}

// idempotencyHashes hash the client's key and what was submitted with it;
// only hashes are stored. The key is scoped to its client: the public
// intake's keys to the address the request names, a vouching system's to
// its API key as well. So one client's key never lands on another's
// request, and a replay reveals nothing to someone who could not file the
// same request anyway.
func idempotencyHashes(s Submission, key string, v *Voucher) (keyHash, body []byte) {
	scope := "public"
	if v != nil {
		scope = fmt.Sprintf("api key %d", v.APIKeyID)
	}
	k := sha256.Sum256([]byte("idempotency v2\x00" + scope + "\x00" + strings.ToLower(s.Email) + "\x00" + key))
	h := sha256.New()
	proof := s.Proof
	s.Proof, s.proofFiles, s.IdempotencyKey, s.FormID = nil, nil, "", ""
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
