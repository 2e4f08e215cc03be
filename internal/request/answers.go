package request

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Prepared is a desk action worked out against a request before anything
// changes: the change it makes and the email it sends. The preview staff
// see of an answer is a Prepared's Email, and sending the answer carries
// out a Prepared made the same way against the request as it is then,
// refused if its Digest is not the one previewed: what was shown is what
// is sent, by construction.
type Prepared struct {
	// Email is the email the action sends, exactly as its recipient will
	// read it but for its secret links, which stand as placeholders
	// (SecretPlaceholder) until delivery; nil when it sends none.
	Email  *OutboxEmail
	change Change
	// statusLink: the email carries a fresh status link; downloadUntil: and
	// a download link to the change's file, working until then.
	statusLink    bool
	downloadUntil time.Time
}

// Digest identifies what the action sends: its email (kind, recipient,
// subject, both bodies) and the file it attaches. Two Prepared with the
// same Digest send the same thing.
func (p Prepared) Digest() string {
	h := sha256.New()
	if m := p.Email; m != nil {
		for _, part := range []string{m.Kind, m.To, string(m.Locale), m.Subject, m.Text, m.HTML} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
	}
	for _, f := range p.change.Files {
		h.Write(f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// File is the file the action sends, if any.
func (p Prepared) File() *File {
	if len(p.change.Files) == 0 {
		return nil
	}
	f := p.change.Files[0]
	return &f
}

// withLinks is p's change with its email added, the email's links drawn.
func (d *Desk) withLinks(p Prepared) (Change, error) {
	ch := p.change
	if p.Email == nil {
		return ch, nil
	}
	mail := *p.Email
	if p.statusLink || !p.downloadUntil.IsZero() {
		mail.Secrets = map[string]string{}
	}
	if p.statusLink {
		link, err := NewToken(d.Random)
		if err != nil {
			return Change{}, err
		}
		mail.Secrets[SecretStatus], ch.AddStatusLink = link.Plain, link.Hash
	}
	if !p.downloadUntil.IsZero() {
		link, err := NewToken(d.Random)
		if err != nil {
			return Change{}, err
		}
		mail.Secrets[SecretDownload] = link.Plain
		ch.Download = &NewDownload{TokenHash: link.Hash, ExpiresAt: p.downloadUntil}
	}
	ch.Emails = append(ch.Emails, mail)
	return ch, nil
}

// Completion is an answer that completes a request: a response text and,
// optionally, a file the requester downloads through a link that expires.
type Completion struct {
	Response string
	// File is the file as staff chose it, nil for none; the desk accepts
	// it as a response file (ResponseFile) or refuses the answer.
	File *Upload
	// AccessPackage sends the access package the data map's gathering
	// built as the response file (not together with File).
	AccessPackage bool
	// Previewed is the Digest of the preview staff confirmed: the answer
	// is sent only if it is still exactly that (ErrPreviewChanged). The
	// workspace always sets it; the API, which shows no preview, does not.
	Previewed string
}

// completion is a Completion checked: its text cleaned, its file accepted.
type completion struct {
	response    string
	file        *File
	withPackage bool
}

// checkCompletion cleans c and checks what staff gave: a response text
// and, if any, an acceptable file.
func checkCompletion(c Completion) (completion, error) {
	out := completion{response: StaffText(c.Response), withPackage: c.AccessPackage}
	if out.response == "" {
		return completion{}, ErrTextRequired
	}
	if c.File != nil && c.AccessPackage {
		return completion{}, ErrPackageAndFile
	}
	if c.File != nil {
		f, err := ResponseFile(*c.File)
		if err != nil {
			return completion{}, err
		}
		out.file = &f
	}
	return out, nil
}

// PrepareCompletion works out completing r with c now, without changing
// anything: the refusal Complete would give, or the email it would send
// (the preview).
func (d *Desk) PrepareCompletion(ctx context.Context, r Request, c Completion) (Prepared, error) {
	checked, err := checkCompletion(c)
	if err != nil {
		return Prepared{}, err
	}
	return d.prepareCompletion(ctx, r, checked, d.Clock.Now())
}

func (d *Desk) prepareCompletion(ctx context.Context, r Request, c completion, now time.Time) (Prepared, error) {
	if err := d.CheckAnswer(r); err != nil {
		return Prepared{}, err
	}
	ch, err := d.staffChange(r, Completed, "completed", now)
	if err != nil {
		return Prepared{}, err
	}
	ch.Messages = []NewMessage{{Author: ActorStaff, Body: c.response}}
	extra := map[string]any{"Response": c.response}
	if d.Fulfilment != nil {
		// Answered from the data map: only once its steps are done, with
		// the package it built when asked, and saying what it changed.
		f, err := d.Fulfilment.AnswerFulfilment(ctx, r)
		if err != nil {
			return Prepared{}, err
		}
		pkg, err := fulfilmentForCompletion(f, c.withPackage)
		if err != nil {
			return Prepared{}, err
		}
		if pkg != nil {
			c.file = pkg
		}
		if len(f.Outcome) > 0 {
			extra["Outcome"] = f.Outcome
		}
	} else if c.withPackage {
		return Prepared{}, ErrNoAccessPackage
	}
	var until time.Time
	if c.file != nil {
		until = now.Add(d.Config.DownloadFor)
		ch.Files = []File{*c.file}
		extra["DownloadURL"] = d.Links.Download(SecretPlaceholder(SecretDownload))
		extra["DownloadBy"] = until
	}
	p, err := d.toRequester(ch, EmailCompleted, r, extra)
	p.downloadUntil = until
	return p, err
}

// Complete answers the request named by reference with c: a response text
// and, optionally, a file the requester downloads through a link that
// expires (DownloadFor). The request must allow it (CheckAnswer).
func (d *Desk) Complete(ctx context.Context, reference string, by StaffActor, c Completion) (Request, error) {
	checked, err := checkCompletion(c)
	if err != nil {
		return Request{}, err
	}
	return d.act(ctx, reference, by, c.Previewed, func(r Request, now time.Time) (Prepared, error) {
		return d.prepareCompletion(ctx, r, checked, now)
	})
}

// Rejection is an answer that refuses a request: a ground of its rule set
// (Desk.RejectionGrounds) and a text for the requester.
type Rejection struct {
	Reason string
	Text   string
	// Previewed is as in Completion.
	Previewed string
}

// checkRejection cleans rj and checks that staff gave a ground and a text.
func checkRejection(rj Rejection) (Rejection, error) {
	rj.Text = StaffText(rj.Text)
	switch {
	case rj.Reason == "":
		return Rejection{}, ErrReasonRequired
	case rj.Text == "":
		return Rejection{}, ErrTextRequired
	}
	return rj, nil
}

// PrepareRejection works out refusing r with rj now, without changing
// anything: the refusal Reject would give, or the email it would send
// (the preview).
func (d *Desk) PrepareRejection(r Request, rj Rejection) (Prepared, error) {
	rj, err := checkRejection(rj)
	if err != nil {
		return Prepared{}, err
	}
	return d.prepareRejection(r, rj, d.Clock.Now())
}

func (d *Desk) prepareRejection(r Request, rj Rejection, now time.Time) (Prepared, error) {
	ch, err := d.staffChange(r, Rejected, "rejected", now)
	if err != nil {
		return Prepared{}, err
	}
	g, ok := d.rejectionGround(r, rj.Reason)
	if !ok {
		return Prepared{}, ErrReasonRequired
	}
	ch.Data = map[string]any{"reason": rj.Reason}
	ch.OutcomeReason = rj.Reason
	ch.Messages = []NewMessage{{Author: ActorStaff, Body: rj.Text}}
	return d.toRequester(ch, EmailRejected, r, map[string]any{
		"Reason": g.Code, "ReasonRef": g.LegalRef, "RuleSet": d.RuleSet(r), "Text": rj.Text,
	})
}

// Reject refuses the request named by reference with rj; the requester is
// told why, on what legal ground, and how to complain.
func (d *Desk) Reject(ctx context.Context, reference string, by StaffActor, rj Rejection) (Request, error) {
	rj, err := checkRejection(rj)
	if err != nil {
		return Request{}, err
	}
	return d.act(ctx, reference, by, rj.Previewed, func(r Request, now time.Time) (Prepared, error) {
		return d.prepareRejection(r, rj, now)
	})
}
