package request

import (
	"errors"
	"net/url"
)

// Links builds the absolute URLs that emails and API answers carry.
type Links struct{ BaseURL string }

// Status is the requester's status page for a token.
func (l Links) Status(token string) string { return l.BaseURL + "/s/" + token }

// Confirm is the confirmation link for a token.
func (l Links) Confirm(token string) string { return l.BaseURL + "/confirm/" + token }

// Download is the link to a response file for a token.
func (l Links) Download(token string) string { return l.BaseURL + "/d/" + token }

// Staff is the staff page of a request.
func (l Links) Staff(reference string) string { return l.BaseURL + "/staff/requests/" + reference }

// Host is the host name of the base URL, used to qualify Message-IDs.
func (l Links) Host() string {
	if u, err := url.Parse(l.BaseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "rightsdesk.invalid"
}

// ErrLinkExpired is returned for a link that was good and has run out: a
// confirmation link, a download link, the address of a thank-you page.
var ErrLinkExpired = errors.New("link expired")

// Secret placeholders stand in email bodies for link tokens until delivery.
// They are made of characters that HTML and URL escaping leave untouched.
const (
	SecretStatus   = "status"
	SecretConfirm  = "confirm"
	SecretDownload = "download"
)

// Secrets lists every secret an email body may hold, for the pages that
// show bodies to staff with the secrets masked.
func Secrets() []string { return []string{SecretStatus, SecretConfirm, SecretDownload} }

// SecretPlaceholder is the text that stands for the named secret in a body.
func SecretPlaceholder(name string) string { return "__RDSECRET_" + name + "__" }
