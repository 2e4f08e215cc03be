package request

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"rightsdesk/internal/deadline"
)

// StaffMember is a member of staff as the desk needs them.
type StaffMember struct {
	ID     int64
	Name   string
	Email  string
	Locale Locale
	Active bool
	// CanWork says the member's role may work requests (an auditor's may
	// not): only they can be given one.
	CanWork bool
}

// StaffDirectory finds staff members.
type StaffDirectory interface {
	StaffMember(ctx context.Context, id int64) (StaffMember, error)
}

// Extender extends deadlines by the policy's rule and moves them by the
// days the clock was paused.
type Extender interface {
	Extend(in deadline.Input, current deadline.Result, now time.Time, reason string) (deadline.Result, error)
	Resume(current deadline.Result, pausedAt, resumedAt time.Time) (deadline.Result, error)
	Due(in deadline.Input) (deadline.Result, error)
}

// resumeClock moves the due date by the days a paused request waited for the
// requester, and marks the pause over; a request that is not paused is left
// as it is.
func resumeClock(dl Extender, r Request, ch Change) (Change, error) {
	if r.PausedAt.IsZero() || r.Status != AwaitingRequester || ch.To == AwaitingRequester {
		return ch, nil
	}
	res, err := dl.Resume(deadline.Result{DueAt: r.DueAt, Rule: r.Rule}, r.PausedAt, ch.At)
	if err != nil {
		return Change{}, err
	}
	ch.Resume, ch.DueAt = true, res.DueAt
	if ch.Data == nil {
		ch.Data = map[string]any{}
	}
	ch.Data["clock_resumed"], ch.Data["due_at"] = true, res.DueAt
	return ch, nil
}

// RejectionReasons are every ground any rule set offers (the API's list,
// and the codes older records may hold). A request is refused only on a
// ground of its own rule set: RejectionGrounds.
func RejectionReasons() []string {
	var out []string
	for _, preset := range deadline.PresetNames() {
		for _, g := range deadline.GroundsOf(preset) {
			if !slices.Contains(out, g.Code) {
				out = append(out, g.Code)
			}
		}
	}
	return out
}

// RuleSet is the preset whose rules dated r: as its stored terms say, else
// as its rule id says, else fallback (the deployment's preset) for the
// operator's own rules in records from before terms named it.
func (r Request) RuleSet(fallback string) string {
	if t, ok := deadline.DecodeTerms(r.RuleBasis); ok && t.RuleSet != "" {
		return t.RuleSet
	}
	if set := deadline.RuleSetOf(r.Rule); set != "" {
		return set
	}
	return fallback
}

// RejectionGrounds are the grounds staff may refuse r on: those of its
// rule set, with their legal references.
func RejectionGrounds(r Request, fallback string) []deadline.Ground {
	return deadline.GroundsOf(r.RuleSet(fallback))
}

// rejectionGround finds code among r's grounds.
func rejectionGround(r Request, fallback, code string) (deadline.Ground, bool) {
	for _, g := range RejectionGrounds(r, fallback) {
		if g.Code == code {
			return g, true
		}
	}
	return deadline.Ground{}, false
}

// Errors of staff actions, each shown to staff in their language.
var (
	ErrTextRequired     = errors.New("a text is required")
	ErrReasonRequired   = errors.New("a reason is required")
	ErrUnknownStaff     = errors.New("no such active staff member")
	ErrNotAssignable    = errors.New("this member of staff cannot work requests")
	ErrNoExtensionLeft  = errors.New("the deadline cannot be extended")
	ErrDeadlinePassed   = errors.New("the deadline has passed")
	ErrResponseFileType = errors.New("response file type not accepted")
)

// Email kinds of staff actions.
const (
	EmailAssigned             = "assigned"
	EmailInformationRequested = "information_requested"
	EmailExtended             = "extended"
	EmailCompleted            = "completed"
	EmailRejected             = "rejected"
)

// DeskConfig is how a deployment answers requests.
type DeskConfig struct {
	OrgName      string
	DownloadFor  time.Duration // how long a response download link works
	ComplaintURL string        // where to complain, shown with a rejection
	// ComplaintText replaces the built-in sentence on complaining, per language.
	ComplaintText map[Locale]string
	// PauseWhileAwaiting stops the deadline clock while staff wait for the
	// requester (PAUSE_WHILE_AWAITING).
	PauseWhileAwaiting bool
	// Preset is the deployment's deadline preset (DEADLINE_PRESET): the rule
	// set of records that do not name their own.
	Preset string
	// Identity says which answers need a staff-recorded identity check
	// (IDENTITY_CHECK).
	Identity IdentityRule
}

// Desk carries out what staff do to a request. Every action goes through
// the lifecycle table and is logged with the member of staff behind it.
type Desk struct {
	Repo      ChangeRepository
	Staff     StaffDirectory
	Deadlines Extender
	Composer  Composer
	Clock     Clock
	Links     Links
	Config    DeskConfig
	Random    ioReader
}

func (d *Desk) data(r Request) map[string]any {
	return map[string]any{
		"Org": d.Config.OrgName, "Reference": r.Reference, "Type": string(r.Type),
		"DueAt": r.DueAt, "StaffURL": d.Links.Staff(r.Reference),
		"StatusURL": d.Links.Status(SecretPlaceholder(SecretStatus)), "ComplaintURL": d.Config.ComplaintURL,
		"ComplaintText": d.Config.ComplaintText[r.Locale],
	}
}

// requesterEmail renders an email to the requester with a status link of
// its own; the caller adds the link's hash to the change (withStatusLink).
func (d *Desk) requesterEmail(kind string, r Request, extra map[string]any) (OutboxEmail, Token, error) {
	data := d.data(r)
	for k, v := range extra {
		data[k] = v
	}
	mail, err := composeEmail(d.Composer, d.Random, d.Links, kind, r.Email, r.Locale, data)
	if err != nil {
		return OutboxEmail{}, Token{}, err
	}
	link, err := NewToken(d.Random)
	if err != nil {
		return OutboxEmail{}, Token{}, err
	}
	mail.Secrets = map[string]string{SecretStatus: link.Plain}
	return mail, link, nil
}

// withStatusLink adds the requester's email and its status link to ch.
func withStatusLink(ch Change, mail OutboxEmail, link Token) Change {
	ch.Emails = append(ch.Emails, mail)
	ch.AddStatusLink = link.Hash
	return ch
}

// staffChange is a transition made by a member of staff; leaving a paused
// wait for the requester restarts the clock.
func (d *Desk) staffChange(r Request, to Status, event string, by int64, now time.Time) (Change, error) {
	if err := CheckTransition(r.Status, to, ActorStaff); err != nil {
		return Change{}, err
	}
	return resumeClock(d.Deadlines, r, Change{To: to, Event: event, Actor: ActorStaff, ActorID: by, At: now})
}

// Assign gives the request to a member of staff (or to nobody when to is
// 0) and emails them. Assignment never changes the state. Only an active
// member whose role works requests can be given one: an auditor holding a
// request would be asked to act on it and could not, and its deadline
// would be nobody's.
func (d *Desk) Assign(ctx context.Context, reference string, by, to int64) (Request, error) {
	var member StaffMember
	if to != 0 {
		var err error
		member, err = d.Staff.StaffMember(ctx, to)
		if errors.Is(err, ErrNotFound) || err == nil && !member.Active {
			return Request{}, ErrUnknownStaff
		}
		if err != nil {
			return Request{}, err
		}
		if !member.CanWork {
			return Request{}, ErrNotAssignable
		}
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		ch := Change{To: r.Status, Event: "assigned", Actor: ActorStaff, ActorID: by, At: now,
			Assign: &to, Data: map[string]any{"from": r.AssigneeID, "to": to}}
		if to != 0 && to != by {
			mail, err := composeEmail(d.Composer, d.Random, d.Links, EmailAssigned, member.Email, member.Locale, d.data(r))
			if err != nil {
				return Change{}, err
			}
			ch.Emails = append(ch.Emails, mail)
		}
		return ch, nil
	})
}

// Start moves a new request into work.
func (d *Desk) Start(ctx context.Context, reference string, by int64) (Request, error) {
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		return d.staffChange(r, InProgress, "started", by, now)
	})
}

// AskForInformation sends the requester a message and waits for their
// answer on the status page.
func (d *Desk) AskForInformation(ctx context.Context, reference string, by int64, message string) (Request, error) {
	message = strings.TrimSpace(message)
	if message == "" || utf8.RuneCountInString(message) > MaxReplyLength {
		return Request{}, ErrTextRequired
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		ch, err := d.staffChange(r, AwaitingRequester, "information_requested", by, now)
		if err != nil {
			return Change{}, err
		}
		if d.Config.PauseWhileAwaiting {
			ch.Pause = true
			ch.Data = map[string]any{"clock_paused": true}
		}
		ch.Messages = []NewMessage{{Author: ActorStaff, StaffID: by, Body: message}}
		mail, link, err := d.requesterEmail(EmailInformationRequested, r, map[string]any{"Message": message})
		if err != nil {
			return Change{}, err
		}
		return withStatusLink(ch, mail, link), nil
	})
}

// Extend moves the deadline once, with a reason, before it passes; the
// requester is told the new date and why.
func (d *Desk) Extend(ctx context.Context, reference string, by int64, reason string) (Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		if !r.Status.Open() || r.Status == Unverified {
			return Change{}, fmt.Errorf("%w: %s cannot be extended", ErrTransitionNotAllowed, r.Status)
		}
		ext, err := d.Deadlines.Extend(
			deadline.Input{Type: string(r.Type), ReceivedAt: r.ReceivedAt, ConfirmedAt: r.ConfirmedAt},
			deadline.Result{DueAt: r.DueAt, Rule: r.Rule, LegalRef: r.LegalRef, Extensions: r.Extensions},
			now, reason)
		switch {
		case errors.Is(err, deadline.ErrExtensionAfterDeadline):
			return Change{}, ErrDeadlinePassed
		case errors.Is(err, deadline.ErrNoExtension), errors.Is(err, deadline.ErrExtensionLimit):
			return Change{}, ErrNoExtensionLeft
		case err != nil:
			return Change{}, err
		}
		r.DueAt = ext.DueAt
		mail, link, err := d.requesterEmail(EmailExtended, r, map[string]any{"Reason": reason})
		if err != nil {
			return Change{}, err
		}
		return withStatusLink(Change{
			To: r.Status, Event: "extended", Actor: ActorStaff, ActorID: by, At: now,
			Data:  map[string]any{"due_at": ext.DueAt, "rule": ext.Rule},
			Text:  reason,
			DueAt: ext.DueAt, Extended: true,
		}, mail, link), nil
	})
}

// responseTypes are what staff may send back: documents, images and the
// machine-readable formats a portability answer needs.
var responseTypes = []string{"application/pdf", "image/jpeg", "image/png", "application/json", "text/csv", "application/zip"}

// Complete answers the request with a text and, optionally, a file the
// requester downloads through a link that expires.
func (d *Desk) Complete(ctx context.Context, reference string, by int64, response string, file *File) (Request, error) {
	response = strings.TrimSpace(response)
	if response == "" {
		return Request{}, ErrTextRequired
	}
	if file != nil && !slices.Contains(responseTypes, file.ContentType) {
		return Request{}, ErrResponseFileType
	}
	now := d.Clock.Now()
	var link Token
	if file != nil {
		var err error
		if link, err = NewToken(d.Random); err != nil {
			return Request{}, err
		}
	}
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		if err := d.CheckAnswer(r); err != nil {
			return Change{}, err
		}
		ch, err := d.staffChange(r, Completed, "completed", by, now)
		if err != nil {
			return Change{}, err
		}
		ch.Messages = []NewMessage{{Author: ActorStaff, StaffID: by, Body: response}}
		extra := map[string]any{"Response": response}
		if file != nil {
			f := *file
			sum := sha256.Sum256(f.Content)
			f.Purpose, f.Name, f.Size, f.SHA256 = FileResponse, SafeFileName(f.Name), int64(len(f.Content)), sum[:]
			ch.Files = []File{f}
			ch.Download = &NewDownload{TokenHash: link.Hash, ExpiresAt: now.Add(d.Config.DownloadFor)}
			extra["DownloadURL"] = d.Links.BaseURL + "/d/" + SecretPlaceholder(SecretDownload)
			extra["DownloadBy"] = now.Add(d.Config.DownloadFor)
		}
		mail, statusLink, err := d.requesterEmail(EmailCompleted, r, extra)
		if err != nil {
			return Change{}, err
		}
		if file != nil {
			mail.Secrets[SecretDownload] = link.Plain
		}
		return withStatusLink(ch, mail, statusLink), nil
	})
}

// RecordIdentityCheck records that a member of staff established who the
// requester is, how, with a note (which may name the person, so it is kept
// sealed beside the log). A request is checked once, while it is open and
// its address confirmed.
func (d *Desk) RecordIdentityCheck(ctx context.Context, reference string, by int64, method IdentityMethod, note string) (Request, error) {
	note, err := checkIdentityInput(method, note)
	if err != nil {
		return Request{}, err
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		return identityChange(r, method, note, by, now)
	})
}

// CheckAnswer returns nil when r may be completed now: the lifecycle
// allows it and, where the deployment wants one (IDENTITY_CHECK), a check
// of who the requester is has been recorded. Data leaves, or is destroyed,
// only for a requester proven as the deployment requires. Rejecting stays
// possible without a check: "identity not confirmed" is one of its grounds.
func (d *Desk) CheckAnswer(r Request) error {
	if err := CheckTransition(r.Status, Completed, ActorStaff); err != nil {
		return err
	}
	return d.Config.Identity.AllowsAnswer(r)
}

// IdentityState says whether r needs an identity check and has one.
func (d *Desk) IdentityState(r Request) IdentityState { return d.Config.Identity.State(r) }

// Reject refuses the request on one of its RejectionGrounds, with a text;
// the requester is told why, on what legal ground, and how to complain.
func (d *Desk) Reject(ctx context.Context, reference string, by int64, reason, text string) (Request, error) {
	text = strings.TrimSpace(text)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	if text == "" {
		return Request{}, ErrTextRequired
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		ch, err := d.staffChange(r, Rejected, "rejected", by, now)
		if err != nil {
			return Change{}, err
		}
		extra, err := d.RejectionEmailData(r, reason, text)
		if err != nil {
			return Change{}, err
		}
		ch.Data = map[string]any{"reason": reason}
		ch.OutcomeReason = reason
		ch.Messages = []NewMessage{{Author: ActorStaff, StaffID: by, Body: text}}
		mail, link, err := d.requesterEmail(EmailRejected, r, extra)
		if err != nil {
			return Change{}, err
		}
		return withStatusLink(ch, mail, link), nil
	})
}

// RejectionEmailData is what the rejection email of r says about its
// ground; ErrReasonRequired when reason is not one of r's grounds.
func (d *Desk) RejectionEmailData(r Request, reason, text string) (map[string]any, error) {
	g, ok := rejectionGround(r, d.Config.Preset, reason)
	if !ok {
		return nil, ErrReasonRequired
	}
	return map[string]any{"Reason": g.Code, "ReasonRef": g.LegalRef, "RuleSet": r.RuleSet(d.Config.Preset), "Text": text}, nil
}

// Recompute dates an open request again under the policy in force now. A
// policy change never moves a request by itself; an admin does it here,
// with a reason, and the old and new dates are logged. Extensions already
// granted are not replayed: the request gets the policy's plain date.
func (d *Desk) Recompute(ctx context.Context, reference string, by int64, reason string) (Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	now := d.Clock.Now()
	return d.Repo.ChangeRequest(ctx, RequestKey{Reference: reference}, func(r Request) (Change, error) {
		if !r.Status.Open() {
			return Change{}, fmt.Errorf("%w: %s is closed", ErrTransitionNotAllowed, r.Reference)
		}
		in := deadline.Input{Type: string(r.Type), ReceivedAt: r.ReceivedAt, ConfirmedAt: r.ConfirmedAt}
		due, err := d.Deadlines.Due(in)
		if errors.Is(err, deadline.ErrNotStarted) {
			in.ConfirmedAt = r.ReceivedAt
			due, err = d.Deadlines.Due(in)
		}
		if err != nil {
			return Change{}, err
		}
		return Change{
			To: r.Status, Event: "deadline_recomputed", Actor: ActorStaff, ActorID: by, At: now,
			DueAt: due.DueAt, Rule: &due,
			Data: map[string]any{"old_due_at": r.DueAt, "old_rule": r.Rule, "due_at": due.DueAt, "rule": due.Rule},
			Text: reason,
		}, nil
	})
}

// Preview renders the email a completion or rejection would send, exactly
// as the requester will receive it, without changing anything.
func (d *Desk) Preview(r Request, kind string, extra map[string]any) (subject, text string, err error) {
	mail, _, err := d.requesterEmail(kind, r, extra)
	if err != nil {
		return "", "", err
	}
	return mail.Subject, mail.Text, nil
}

// SecretDownload names the download-link secret in an email.
const SecretDownload = "download"

// NewDownload is a download link created with a change.
type NewDownload struct {
	TokenHash []byte
	ExpiresAt time.Time
	// FileID names an earlier response file of the request; 0 is the file
	// the change adds.
	FileID int64
}
