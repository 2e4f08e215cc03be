package request

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/identifier"
)

// Letters are what reaches the privacy mailbox by email (internal/inbound
// reads them; the ways in hand them over). What a letter becomes is decided
// here, once: a person's new letter becomes a request in triage, dated from
// its receipt; a reply from the request's own address a message on its
// conversation, as if sent from the status page; a letter that names a
// request but cannot join it (another address, a closed request, an
// address not yet confirmed) a request in triage that says which request
// it named and why it stayed apart; a bounce of one of rightsdesk's emails
// a mark on that email; what a machine wrote (auto-replies, list mail)
// nothing at all, and none of them is ever answered.

// LetterKind is what a letter is, as internal/inbound classified it.
type LetterKind string

// The kinds of letter.
const (
	LetterNew       LetterKind = "new"
	LetterReply     LetterKind = "reply"
	LetterAutoReply LetterKind = "auto_reply"
	LetterBounced   LetterKind = "bounce"
	LetterList      LetterKind = "list"
)

// Automatic reports whether a machine wrote the letter: it never becomes a
// request and is never answered.
func (k LetterKind) Automatic() bool {
	return k == LetterAutoReply || k == LetterBounced || k == LetterList
}

// Letter is a letter as the mailroom takes it.
type Letter struct {
	// Hash is the letter's content hash (the same for the copy polled from
	// a mailbox and the copy the listener received); MessageID its
	// Message-ID. Either identifies a letter stored before.
	Hash      string
	MessageID string
	Kind      LetterKind
	Reason    string // what classified it (a header's name): for logs and staff, never personal data
	Source    string // imap or smtp
	// ReceivedAt is when the letter reached the mailbox: the law counts
	// from there. StoredAt is when rightsdesk stored it (Mailroom sets it).
	ReceivedAt time.Time
	StoredAt   time.Time

	// The keys that may thread it onto a request, strongest first: the
	// Message-IDs it answers, the reference in the plus-address it was sent
	// to, the reference in its subject.
	ReplyTo          []string
	TagReference     string
	SubjectReference string
	// References is the letter's References field, oldest first: an answer
	// in its thread names them after it.
	References []string

	From      string // the sender's address (From), lower case
	FromName  string
	Subject   string
	Text      string // the whole text, sanitised (never HTML)
	ReplyText string // a reply's text without its quoted history
	Locale    Locale // guessed from the words; "" when there were none
	// Suggested is the type the letter's words suggest ("" for none), with
	// how sure the guess is and the cues that matched, for staff.
	Suggested  Type
	Confidence float64
	Cues       []string

	Attachments []File // accepted by the form's rules
	Bounce      *BounceReport

	// Raw is the letter exactly as received and View what staff are shown
	// of it; both are kept sealed.
	Raw  []byte
	View LetterView
}

// BounceReport is what a delivery failure report says.
type BounceReport struct {
	OriginalMessageID string // the Message-ID of the email that bounced
	Permanent         bool   // the address cannot be reached; a delay notice is not
	Status            string // e.g. 5.1.1
	Diagnostic        string // the remote server's words: may quote the address
}

// LetterView is a letter as staff see it on the request page: its headers
// and text exactly as it came, sanitised (the text part, or the HTML
// rendered to text; never HTML), and the parts that were not kept as files.
type LetterView struct {
	From      string        `json:"from"`
	To        string        `json:"to,omitempty"`
	Cc        string        `json:"cc,omitempty"`
	ReplyTo   string        `json:"reply_to,omitempty"`
	Date      string        `json:"date,omitempty"`
	Subject   string        `json:"subject,omitempty"`
	Text      string        `json:"text"`
	FromHTML  bool          `json:"html,omitempty"`
	Truncated bool          `json:"cut,omitempty"`
	Skipped   []SkippedFile `json:"skipped,omitempty"`
}

// SkippedFile is a part of a letter that was not kept as a file.
type SkippedFile struct {
	Name        string `json:"name"`
	ContentType string `json:"type"`
	Size        int64  `json:"size"`
	Reason      string `json:"why"` // file_type, inline, empty
}

// How a letter was threaded onto a request (Thread.By).
const (
	ThreadByMessageID = "message_id"
	ThreadByTag       = "plus_address"
	ThreadBySubject   = "subject"
)

// Thread is the request a letter's keys name, locked while the letter is
// stored, and what email replies on it have used (ReplyUsage: LinkReplies
// counts the replies by email within ReplyLinkWindow).
type Thread struct {
	Request *Request // nil: the keys name no request
	By      string
	Usage   ReplyUsage
}

// Why a letter that names a request did not join it (NamedRequest.Why).
const (
	// NamedOtherSender: it comes from another address than the request's
	// (anyone can write a reference in a subject).
	NamedOtherSender = "other_sender"
	// NamedClosed: the request is closed.
	NamedClosed = "closed"
	// NamedUnconfirmed: the request's address is not confirmed yet.
	NamedUnconfirmed = "unconfirmed"
)

// NamedRequest is the request a letter named but did not join.
type NamedRequest struct {
	ID        int64
	Reference string
	Why       string
}

// LetterDecision is what a person's letter becomes: a reply on the
// thread's request, or a request of its own (which may name the request it
// could not join).
type LetterDecision struct {
	Reply *Change
	New   *NewRequest
	Named *NamedRequest
}

// BouncedEmail is one of rightsdesk's emails a bounce is about.
type BouncedEmail struct {
	ID   int64
	Kind string
}

// LetterOutcome is what storing a letter did.
type LetterOutcome int

// Outcomes of the mailroom.
const (
	// LetterStored: the letter is stored, with what it became.
	LetterStored LetterOutcome = iota + 1
	// LetterDuplicate: the letter was stored before (its hash, or its
	// Message-ID from the same sender): nothing was stored again.
	LetterDuplicate
)

// LetterRepository keeps letters. Each method stores the letter and what it
// becomes in one transaction, and returns LetterDuplicate, storing nothing,
// for a letter stored before; an error stores nothing (the way in keeps the
// letter and brings it again).
type LetterRepository interface {
	// ReceiveLetter finds the request the letter's keys name, locks it,
	// counts its email replies since linkSince and requestSince, and asks
	// decide; a NewRequest is written as CreateRequest writes one (its
	// errors too: ErrReferenceTaken, ErrAcknowledgementLimit).
	ReceiveLetter(ctx context.Context, l Letter, linkSince, requestSince time.Time, decide func(Thread) (LetterDecision, error)) (LetterOutcome, error)
	// ReceiveBounce finds the email whose Message-ID the bounce names and,
	// when there is one, asks decide what it does to the email's request
	// (nil: nothing).
	ReceiveBounce(ctx context.Context, l Letter, decide func(Request, BouncedEmail) (*Change, error)) (LetterOutcome, error)
	// RecordLetter keeps a machine's letter (by its hash only, so that it
	// is known when it comes again).
	RecordLetter(ctx context.Context, l Letter) (LetterOutcome, error)
}

// ErrSetAside refuses a letter that goes beyond a limit: too many requests
// from one address in a day, too many replies to one request, too much
// stored on it. Nothing was stored or sent; the way in sets the letter
// aside (the mailbox's refused folder, or an SMTP "try again later").
var ErrSetAside = errors.New("letter set aside")

// SetAside is an ErrSetAside with the limit that was reached, a closed set
// of words for logs and metrics.
type SetAside struct{ Limit string }

func (e *SetAside) Error() string { return "letter set aside: " + e.Limit }

// Unwrap makes a SetAside match ErrSetAside.
func (e *SetAside) Unwrap() error { return ErrSetAside }

// The limits a letter may reach (SetAside.Limit).
const (
	LimitLettersPerDay  = "letters_per_day"
	LimitRepliesPerHour = "replies_per_hour"
	LimitRepliesPerDay  = "replies_per_day"
	LimitStorage        = "storage"
)

// ErrNoSender refuses a person's letter without a usable From address: it
// can be neither answered nor told apart from anyone else's.
var ErrNoSender = errors.New("letter without a sender address")

// Mailroom decides what letters become.
type Mailroom struct {
	Repo LetterRepository
	// Deadlines dates a letter's request and moves a paused clock when a
	// reply restarts it.
	Deadlines Extender
	Composer  Composer
	Clock     Clock
	Links     Links
	Config    IntakeConfig
	// Types are the request types the deployment offers: a letter's
	// request is dated by the earliest of their rules until staff confirm
	// its type, and is given the suggested type only when it is one of them.
	Types  []Type
	Random ioReader
}

// Receive stores a letter and what it becomes, once however often it comes.
// A letter beyond a limit is refused with a *SetAside, one without a sender
// address with ErrNoSender; neither stores anything.
func (m *Mailroom) Receive(ctx context.Context, l Letter) (LetterOutcome, error) {
	now := m.Clock.Now()
	if l.ReceivedAt.IsZero() || l.ReceivedAt.After(now) {
		l.ReceivedAt = now
	}
	l.StoredAt = now
	switch {
	case l.Kind == LetterBounced:
		return m.Repo.ReceiveBounce(ctx, l, func(r Request, e BouncedEmail) (*Change, error) {
			return bounceChange(l, r, e, now), nil
		})
	case l.Kind.Automatic():
		return m.Repo.RecordLetter(ctx, l)
	}
	from, ok := letterSender(l.From)
	if !ok {
		return 0, ErrNoSender
	}
	l.From = from
	linkSince, requestSince := ReplyWindows(now)
	// A collision among 2^55 references is all but impossible; drawing again
	// keeps it from ever losing a letter.
	for attempt := 0; ; attempt++ {
		out, err := m.Repo.ReceiveLetter(ctx, l, linkSince, requestSince, func(t Thread) (LetterDecision, error) {
			return m.decide(l, t, now)
		})
		switch {
		case errors.Is(err, ErrReferenceTaken) && attempt < 3:
			continue
		case errors.Is(err, ErrAcknowledgementLimit):
			return 0, &SetAside{Limit: LimitLettersPerDay}
		}
		return out, err
	}
}

// letterSender is the From address as a request's email, when it is one.
func letterSender(addr string) (string, bool) {
	addr = identifier.Email(addr)
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Address != addr || utf8.RuneCountInString(addr) > MaxLength("email") || !cleanText(addr, false) ||
		!strings.Contains(addr, "@") {
		return "", false
	}
	return addr, true
}

// decide is what a person's letter becomes on thread t.
func (m *Mailroom) decide(l Letter, t Thread, now time.Time) (LetterDecision, error) {
	var named *NamedRequest
	if r := t.Request; r != nil {
		why := ""
		switch {
		case identifier.Email(r.Email) != l.From:
			why = NamedOtherSender
		case !r.Status.Open():
			why = NamedClosed
		case CanReply(*r) != nil:
			why = NamedUnconfirmed
		}
		if why == "" {
			ch, err := m.reply(l, *r, t.Usage, now)
			if err != nil {
				return LetterDecision{}, err
			}
			return LetterDecision{Reply: &ch}, nil
		}
		named = &NamedRequest{ID: r.ID, Reference: r.Reference, Why: why}
	}
	nr, err := m.newRequest(l, now)
	if err != nil {
		return LetterDecision{}, err
	}
	return LetterDecision{New: &nr, Named: named}, nil
}

// MaskLinks replaces in a letter's text every secret link of this portal
// (a status, confirmation or download link quoted from one of its emails)
// with a mask: staff must never see a requester's link, and a reply's
// quoted history holds the one its email carried.
func (l Links) MaskLinks(text string) string {
	if l.BaseURL == "" {
		return text
	}
	for _, path := range []string{"/s/", "/confirm/", "/d/"} {
		prefix := l.BaseURL + path
		var b strings.Builder
		rest := text
		for {
			i := strings.Index(rest, prefix)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i+len(prefix)])
			rest = rest[i+len(prefix):]
			n := 0
			for n < len(rest) && isTokenByte(rest[n]) {
				n++
			}
			if n > 0 {
				b.WriteString(maskedLink)
			}
			rest = rest[n:]
		}
		text = b.String()
	}
	return text
}

// maskedLink stands for a secret link's token in a letter shown to staff.
const maskedLink = "••••••"

func isTokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// reply is a reply by email from the request's own address: a message on
// its conversation with the letter's files, under the status page's
// limits; work resumes when staff were waiting, and the assignee (or the
// privacy contact) is told.
func (m *Mailroom) reply(l Letter, r Request, used ReplyUsage, now time.Time) (Change, error) {
	switch {
	case used.LinkReplies >= MaxRepliesPerLink:
		return Change{}, &SetAside{Limit: LimitRepliesPerHour}
	case used.RequestReplies >= MaxRepliesPerRequest:
		return Change{}, &SetAside{Limit: LimitRepliesPerDay}
	}
	verr := &ValidationError{}
	if checkStorage("files", used.Stored, l.Attachments, verr); len(verr.Fields) > 0 {
		return Change{}, &SetAside{Limit: LimitStorage}
	}
	text := m.Links.MaskLinks(l.ReplyText)
	if strings.TrimSpace(text) == "" && len(l.Attachments) == 0 {
		text = l.Subject
	}
	text = cutText(text, MaxReplyLength)
	return replied(m.Deadlines, m.Composer, m.Random, m.Links, m.Config, r, text, l.Attachments,
		map[string]any{"files": len(l.Attachments), "via": "email"}, now)
}

// cutText keeps at most max characters of text, marking the cut.
func cutText(text string, max int) string {
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	runes := []rune(text)
	return strings.TrimSpace(string(runes[:max-1])) + "…"
}

// newRequest is a request in triage for a person's letter: received when
// the mailbox received it, the sender's address as the requester's email,
// the text as its details, the attachments as its files; acknowledged in
// the letter's language with its reference and, as for the form, the
// status link (and the confirmation link when addresses are verified)
// only by email, to that address. Its type is the suggestion (or the first
// the deployment offers) until staff confirm one, and its due date the
// earliest any offered type's rule gives from the receipt: the date it
// cannot be later than, whatever staff decide.
func (m *Mailroom) newRequest(l Letter, now time.Time) (NewRequest, error) {
	if len(m.Types) == 0 {
		return NewRequest{}, errors.New("mailroom: no request types offered")
	}
	verify := m.Config.VerifyEmail
	received := l.ReceivedAt
	confirmed := received // without verification, receipt is confirmation
	if verify {
		confirmed = time.Time{}
	}
	typ := m.Types[0]
	for _, t := range m.Types {
		if t == l.Suggested {
			typ = t
		}
	}
	due, err := m.earliestDue(received, confirmed)
	if err != nil {
		return NewRequest{}, err
	}
	locale := l.Locale
	if !locale.Valid() {
		locale = Russian
	}
	req := Request{
		Type: typ, Status: Triage, Locale: locale, ReceivedAt: received, ConfirmedAt: confirmed,
		DueAt: due.DueAt, Rule: due.Rule, LegalRef: due.LegalRef, RuleBasis: due.Terms.Encode(),
		FullName: cutText(strings.TrimSpace(l.FromName), MaxLength("full_name")), Email: l.From,
		Details: m.Links.MaskLinks(l.Text),
	}
	if strings.TrimSpace(req.Details) == "" {
		req.Details = l.Subject
	}
	// The form's limit: the whole letter stays on the request page.
	req.Details = cutText(req.Details, MaxLength("details"))
	ref, err := NewReference(m.Random)
	if err != nil {
		return NewRequest{}, err
	}
	req.Reference = ref
	status, err := NewToken(m.Random)
	if err != nil {
		return NewRequest{}, err
	}
	nr := NewRequest{Request: req, StatusTokenHash: status.Hash, Files: l.Attachments, Source: SourceEmail}
	day, _ := acknowledgementDay(now, m.Config.Location)
	nr.AcknowledgementDay, nr.AcknowledgementLimit = day, m.Config.AcknowledgementsPerDay
	secrets := map[string]string{SecretStatus: status.Plain}
	data := map[string]any{
		"Org": m.Config.OrgName, "Reference": ref, "DueAt": req.DueAt, "ReceivedAt": received,
		"StatusURL": m.Links.Status(SecretPlaceholder(SecretStatus)), "Verify": verify,
	}
	if verify {
		confirm, err := NewToken(m.Random)
		if err != nil {
			return NewRequest{}, err
		}
		// The link's time counts from now: a letter read late (the mailbox
		// was unreachable) still leaves the whole time to confirm.
		nr.ConfirmTokenHash, nr.ConfirmExpiresAt = confirm.Hash, now.Add(m.Config.ConfirmFor)
		secrets[SecretConfirm] = confirm.Plain
		data["ConfirmURL"] = m.Links.Confirm(SecretPlaceholder(SecretConfirm))
		data["ConfirmBy"] = nr.ConfirmExpiresAt
	}
	ack, err := composeEmail(m.Composer, m.Random, m.Links, EmailLetterAcknowledgement, req.Email, req.Locale, data)
	if err != nil {
		return NewRequest{}, err
	}
	ack.Secrets = secrets
	nr.Emails = append(nr.Emails, ack)
	if m.Config.PrivacyContact != "" {
		notice, err := composeEmail(m.Composer, m.Random, m.Links, EmailStaffLetter, m.Config.PrivacyContact, m.Config.StaffLocale, map[string]any{
			"Org": m.Config.OrgName, "Reference": ref, "DueAt": req.DueAt, "StaffURL": m.Links.Staff(ref), "Verify": verify,
		})
		if err != nil {
			return NewRequest{}, err
		}
		nr.Emails = append(nr.Emails, notice)
	}
	return nr, nil
}

// earliestDue is the earliest due date any offered type's rule gives a
// letter received at received (and confirmed at confirmed, zero when it is
// not yet): a rule whose clock starts at confirmation counts from the
// receipt, the earliest it can start.
func (m *Mailroom) earliestDue(received, confirmed time.Time) (deadline.Result, error) {
	var best deadline.Result
	for _, t := range m.Types {
		in := deadline.Input{Type: string(t), ReceivedAt: received, ConfirmedAt: confirmed}
		due, err := m.Deadlines.Due(in)
		if errors.Is(err, deadline.ErrNotStarted) {
			in.ConfirmedAt = received
			due, err = m.Deadlines.Due(in)
		}
		if err != nil {
			return deadline.Result{}, fmt.Errorf("due date for %s: %w", t, err)
		}
		if best.DueAt.IsZero() || due.DueAt.Before(best.DueAt) {
			best = due
		}
	}
	return best, nil
}

// EventEmailBounced is the event of a bounce that marks one of a request's
// emails.
const EventEmailBounced = "email_bounced"

// bounceChange marks the email a permanent bounce is about; a delay notice
// changes nothing (the sending server is still trying).
func bounceChange(l Letter, r Request, e BouncedEmail, now time.Time) *Change {
	if l.Bounce == nil || !l.Bounce.Permanent {
		return nil
	}
	return &Change{
		To: r.Status, Event: EventEmailBounced, Actor: ActorSystem, At: now,
		Data:    map[string]any{"email_id": e.ID, "kind": e.Kind, "status": l.Bounce.Status},
		Text:    l.Bounce.Diagnostic,
		Bounced: &EmailBounce{EmailID: e.ID, Status: l.Bounce.Status},
	}
}
