package request

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of the requester's actions.
var (
	ErrNotOpen       = errors.New("request is closed")
	ErrEmptyReply    = errors.New("reply has neither text nor files")
	ErrAlreadyClosed = errors.New("request already closed")
)

// ReplyRepository adds replies. AddReply locks the request behind a live
// status link, counts what its replies used (ReplyUsage: since linkSince
// through this link, since requestSince through any), asks decide, and
// applies the change with the link recorded on its event, in one
// transaction; an error from decide changes nothing.
type ReplyRepository interface {
	AddReply(ctx context.Context, statusTokenHash []byte, linkSince, requestSince time.Time, decide func(Request, ReplyUsage) (Change, error)) (Request, error)
}

// RequesterRepository is what the requester's actions need.
type RequesterRepository interface {
	ChangeRepository
	ReplyRepository
}

// Requester carries out what a person does from their status page.
type Requester struct {
	Repo RequesterRepository
	// Deadlines moves the due date when a paused clock restarts.
	Deadlines Extender
	Composer  Composer
	Clock     Clock
	Links     Links
	Config    IntakeConfig
	// DownloadFor is how long a download link sent on request works
	// (DOWNLOAD_LINK_TTL).
	DownloadFor time.Duration
	// Hits bounds the link emails a requester can ask for
	// (MaxLinkEmailsPerHour); nil means no bound.
	Hits   HitCounter
	Random ioReader
}

// staffRecipient is who hears of a requester's action: the assignee, or the
// privacy contact while nobody is assigned.
func (rq *Requester) staffRecipient(r Request) (string, Locale) { return staffRecipient(rq.Config, r) }

// staffRecipient is who hears of what a requester does: the assignee, or
// the privacy contact while nobody is.
func staffRecipient(cfg IntakeConfig, r Request) (string, Locale) {
	if r.AssigneeEmail != "" {
		return r.AssigneeEmail, r.AssigneeLocale
	}
	return cfg.PrivacyContact, cfg.StaffLocale
}

func (rq *Requester) data(r Request) map[string]any { return staffData(rq.Config, rq.Links, r) }

// staffData is what an email to staff about r says of it.
func staffData(cfg IntakeConfig, links Links, r Request) map[string]any {
	return map[string]any{
		"Org": cfg.OrgName, "Reference": r.Reference, "Type": string(r.Type),
		"DueAt": r.DueAt, "StaffURL": links.Staff(r.Reference),
	}
}

// replied is the change a requester's reply makes, from the status page or
// by email: the message and files on the conversation, work resumed (and
// the clock with it) when staff were waiting for the requester, and the
// assignee, or the privacy contact, told. data is the event's.
func replied(d Extender, c Composer, random ioReader, links Links, cfg IntakeConfig, r Request,
	text string, files []File, data map[string]any, now time.Time) (Change, error) {
	to := r.Status
	if r.Status == AwaitingRequester {
		to = InProgress
		if err := CheckTransition(r.Status, to, ActorRequester); err != nil {
			return Change{}, err
		}
	}
	ch, err := resumeClock(d, r, Change{
		To: to, Event: EventRequesterReplied, Actor: ActorRequester, At: now,
		Data:     data,
		Messages: []NewMessage{{Author: ActorRequester, Body: text}},
		Files:    files,
	})
	if err != nil {
		return Change{}, err
	}
	if addr, locale := staffRecipient(cfg, r); addr != "" {
		notice, err := composeEmail(c, random, links, EmailStaffReply, addr, locale, staffData(cfg, links, r))
		if err != nil {
			return Change{}, err
		}
		ch.Emails = append(ch.Emails, notice)
	}
	return ch, nil
}

// Withdraw closes an open request at the requester's wish; both sides are
// told. Withdrawing a closed request changes nothing (ErrAlreadyClosed).
func (rq *Requester) Withdraw(ctx context.Context, token string) (Request, error) {
	if !WellFormedToken(token) {
		return Request{}, ErrNotFound
	}
	now := rq.Clock.Now()
	return rq.Repo.ChangeRequest(ctx, RequestKey{StatusTokenHash: HashToken(token)}, func(r Request) (Change, error) {
		if !r.Status.Open() {
			return Change{}, ErrAlreadyClosed
		}
		if err := CheckTransition(r.Status, Withdrawn, ActorRequester); err != nil {
			return Change{}, err
		}
		ch := Change{To: Withdrawn, Event: "withdrawn", Actor: ActorRequester, At: now, DeleteFiles: unconfirmed(r)}
		mine, err := composeEmail(rq.Composer, rq.Random, rq.Links, EmailWithdrawn, r.Email, r.Locale, rq.data(r))
		if err != nil {
			return Change{}, err
		}
		ch.Emails = append(ch.Emails, mine)
		if to, locale := rq.staffRecipient(r); to != "" {
			notice, err := composeEmail(rq.Composer, rq.Random, rq.Links, EmailStaffWithdrawn, to, locale, rq.data(r))
			if err != nil {
				return Change{}, err
			}
			ch.Emails = append(ch.Emails, notice)
		}
		return ch, nil
	})
}

// MaxReplyLength bounds a requester's message.
const MaxReplyLength = 5000

// Reply adds the requester's message and files to an open, confirmed
// request. When staff were waiting for the requester, work resumes. A reply
// beyond MaxRepliesPerLink or MaxRepliesPerRequest is refused with a
// *LimitReached, files beyond MaxStoredPerRequest with a *ValidationError.
func (rq *Requester) Reply(ctx context.Context, token, text string, uploads []Upload) (Request, error) {
	if !WellFormedToken(token) {
		return Request{}, ErrNotFound
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	verr := &ValidationError{}
	switch {
	case utf8.RuneCountInString(text) > MaxReplyLength:
		verr.Add("message", "error.too_long", map[string]any{"Max": MaxReplyLength})
	case !cleanText(text, true):
		verr.Add("message", "error.characters", nil)
	}
	files := CheckUploads("files", FileRequester, uploads, 0, verr)
	if len(verr.Fields) > 0 {
		return Request{}, verr
	}
	if text == "" && len(files) == 0 {
		verr.Add("message", "error.reply_empty", nil)
		return Request{}, verr
	}
	now := rq.Clock.Now()
	linkSince, requestSince := ReplyWindows(now)
	return rq.Repo.AddReply(ctx, HashToken(token), linkSince, requestSince, func(r Request, used ReplyUsage) (Change, error) {
		if err := CanReply(r); err != nil {
			return Change{}, err
		}
		if err := checkReplyRate(used); err != nil {
			return Change{}, err
		}
		if checkStorage("files", used.Stored, files, verr); len(verr.Fields) > 0 {
			return Change{}, verr
		}
		return replied(rq.Deadlines, rq.Composer, rq.Random, rq.Links, rq.Config, r, text, files,
			map[string]any{"files": len(files)}, now)
	})
}

// CanReply returns nil when the requester may reply to r: while it is open
// and its address confirmed (ErrNotOpen otherwise; a letter's request in
// triage has its address confirmed once the sender opens the link).
func CanReply(r Request) error {
	if !r.Status.Open() || unconfirmed(r) {
		return ErrNotOpen
	}
	return nil
}

// unconfirmed reports whether r's address is still to be confirmed:
// unverified, or a letter's request in triage whose sender has not opened
// the confirmation link yet.
func unconfirmed(r Request) bool {
	return r.Status == Unverified || r.Status == Triage && r.ConfirmedAt.IsZero()
}

// EventRequesterReplied is the event of a reply; the store counts replies
// by it (ReplyUsage).
const EventRequesterReplied = "requester_replied"

// ResendLink emails a fresh status link when reference and email match a
// request. It answers the same way whether they match or not, so it tells
// nobody which references exist; the old link stops working.
func (rq *Requester) ResendLink(ctx context.Context, reference, email string) error {
	ref, err := ParseReference(reference)
	if err != nil {
		return nil
	}
	token, err := NewToken(rq.Random)
	if err != nil {
		return err
	}
	now := rq.Clock.Now()
	_, err = rq.Repo.ChangeRequest(ctx, RequestKey{Reference: ref}, func(r Request) (Change, error) {
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(email))), []byte(strings.ToLower(r.Email))) != 1 {
			return Change{}, ErrNotFound
		}
		// Past the hour's allowance nothing is sent, and the answer is the
		// same as ever: the form tells nobody what it did.
		if ok, _, err := linkEmailAllowed(ctx, rq.Hits, EmailStatusLink, r.Reference, now); err != nil || !ok {
			if err != nil {
				return Change{}, err
			}
			return Change{}, ErrNotFound
		}
		data := rq.data(r)
		data["StatusURL"] = rq.Links.Status(SecretPlaceholder(SecretStatus))
		mail, err := composeEmail(rq.Composer, rq.Random, rq.Links, EmailStatusLink, r.Email, r.Locale, data)
		if err != nil {
			return Change{}, err
		}
		mail.Secrets = map[string]string{SecretStatus: token.Plain}
		return Change{
			To: r.Status, Event: "status_link_resent", Actor: ActorRequester, At: now,
			AddStatusLink: token.Hash, RevokeStatusLinks: true, Emails: []OutboxEmail{mail},
		}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// SendDownloadLink emails a fresh expiring link to a response file of the
// request behind a status link, to the request's own address. The status
// page never serves the file itself: whoever holds a status link (which may
// have been forwarded, or shown on a shared screen) can have the link sent,
// and only the mailbox receives it. Every download through it is logged.
// A file of another request, or one whose content is gone, is ErrNotFound.
func (rq *Requester) SendDownloadLink(ctx context.Context, token string, fileID int64) (Request, error) {
	if !WellFormedToken(token) || fileID <= 0 {
		return Request{}, ErrNotFound
	}
	link, err := NewToken(rq.Random)
	if err != nil {
		return Request{}, err
	}
	now := rq.Clock.Now()
	until := now.Add(rq.DownloadFor)
	return rq.Repo.ChangeRequest(ctx, RequestKey{StatusTokenHash: HashToken(token)}, func(r Request) (Change, error) {
		ok, retry, err := linkEmailAllowed(ctx, rq.Hits, EmailDownloadLink, r.Reference, now)
		if err != nil {
			return Change{}, err
		}
		if !ok {
			return Change{}, &LimitReached{Field: "download", Key: "error.link_emails_per_hour", RetryAt: retry,
				Params: map[string]any{"Max": MaxLinkEmailsPerHour}}
		}
		data := rq.data(r)
		data["DownloadURL"] = rq.Links.Download(SecretPlaceholder(SecretDownload))
		data["DownloadBy"] = until
		data["ResendURL"] = rq.Links.BaseURL + "/status"
		mail, err := composeEmail(rq.Composer, rq.Random, rq.Links, EmailDownloadLink, r.Email, r.Locale, data)
		if err != nil {
			return Change{}, err
		}
		mail.Secrets = map[string]string{SecretDownload: link.Plain}
		return Change{
			To: r.Status, Event: "download_link_sent", Actor: ActorRequester, At: now,
			Data:     map[string]any{"file_id": fileID},
			Download: &NewDownload{TokenHash: link.Hash, ExpiresAt: until, FileID: fileID},
			Emails:   []OutboxEmail{mail},
		}, nil
	})
}
