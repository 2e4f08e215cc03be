package request

import (
	"fmt"
	"slices"
)

// The emails rightsdesk sends about a request, by kind: each kind is a
// template (web/templates/email/<kind>.{txt,html}) and a label on the
// staff timeline.
const (
	// The intake's (Intake).
	EmailAcknowledgement = "acknowledgement"
	EmailStaffNew        = "staff_new"
	// The mailroom's (Mailroom): a letter's acknowledgement, and the
	// privacy contact's notice of a letter to triage.
	EmailLetterAcknowledgement = "letter_acknowledgement"
	EmailStaffLetter           = "staff_letter"
	// The confirmation's (Confirmer).
	EmailConfirmed = "confirmed"
	// Staff actions' (Desk).
	EmailAssigned             = "assigned"
	EmailInformationRequested = "information_requested"
	EmailExtended             = "extended"
	EmailCompleted            = "completed"
	EmailRejected             = "rejected"
	// The requester's own actions' (Requester).
	EmailDownloadLink   = "download_link"
	EmailWithdrawn      = "withdrawn"
	EmailStaffWithdrawn = "staff_withdrawn"
	EmailStaffReply     = "staff_reply"
	EmailStatusLink     = "status_link"
	// The expiry's (Expirer).
	EmailExpired = "expired"
)

// RequesterKinds lists the kinds of email that go to the requester (and so
// carry the request's reply address and thread); the others go to staff.
func RequesterKinds() []string {
	return []string{EmailAcknowledgement, EmailLetterAcknowledgement, EmailConfirmed, EmailInformationRequested,
		EmailExtended, EmailCompleted, EmailRejected, EmailDownloadLink, EmailWithdrawn, EmailStatusLink, EmailExpired}
}

// ToRequester reports whether emails of kind go to the requester.
func ToRequester(kind string) bool { return slices.Contains(RequesterKinds(), kind) }

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

// Composer renders an email of a kind, in a locale, from template data.
type Composer interface {
	Compose(kind string, locale Locale, data map[string]any) (subject, text, html string, err error)
}

// composeEmail renders an email of kind to an address, with a fresh
// Message-ID under the portal's host.
func composeEmail(c Composer, random ioReader, links Links, kind, to string, locale Locale, data map[string]any) (OutboxEmail, error) {
	subject, text, html, err := c.Compose(kind, locale, data)
	if err != nil {
		return OutboxEmail{}, fmt.Errorf("compose %s email: %w", kind, err)
	}
	id, err := NewToken(random)
	if err != nil {
		return OutboxEmail{}, err
	}
	return OutboxEmail{
		Kind: kind, To: to, Locale: locale, Subject: subject, Text: text, HTML: html,
		MessageID: id.Plain[:26] + "@" + links.Host(),
	}, nil
}
