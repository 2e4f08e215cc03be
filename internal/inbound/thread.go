package inbound

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"regexp"
	"strings"

	"rightsdesk/internal/request"
)

// Keys are what may thread a letter onto a request, strongest first: the
// Message-IDs it answers (rightsdesk gives every email it sends one), the
// tag of the plus-address it was sent to, the reference in its subject.
type Keys struct {
	// MessageIDs are In-Reply-To's, then References' newest first, without
	// duplicates or angle brackets.
	MessageIDs []string
	// Tag is read from a recipient address such as
	// privacy+rd-7k4m-9qxt-2hv5@operator.kz.
	Tag Tag
	// Reference is a rightsdesk reference found in the subject, checked
	// and in its canonical form (RD-7K4M-9QXT-2HV9).
	Reference string
}

// Empty reports whether there is nothing to thread by.
func (k Keys) Empty() bool {
	return len(k.MessageIDs) == 0 && k.Tag.Empty() && k.Reference == ""
}

// Reason names the keys found, for Class.Reason.
func (k Keys) Reason() string {
	var parts []string
	if len(k.MessageIDs) > 0 {
		parts = append(parts, "In-Reply-To/References")
	}
	if !k.Tag.Empty() {
		parts = append(parts, "plus-address")
	}
	if k.Reference != "" {
		parts = append(parts, "reference in subject")
	}
	return strings.Join(parts, ", ")
}

// Tag is what follows the + of a reply address: a request's reference, or
// an opaque token of the caller's (e.g. one that names a conversation
// without revealing the reference).
type Tag struct {
	Reference string // canonical, when the tag is a reference
	Token     string // lower case, otherwise
}

// Empty reports whether the tag holds nothing.
func (t Tag) Empty() bool { return t.Reference == "" && t.Token == "" }

// String is the tag as written in an address: lower case, because some
// mail servers lower-case the local part of an address they deliver.
func (t Tag) String() string {
	if t.Reference != "" {
		return strings.ToLower(t.Reference)
	}
	return t.Token
}

// ReferenceTag is the tag for a request's reference.
func ReferenceTag(reference string) (Tag, error) {
	ref, err := request.ParseReference(reference)
	if err != nil {
		return Tag{}, err
	}
	return Tag{Reference: ref}, nil
}

// TokenTag is the tag for an opaque token: 1 to 40 lower-case letters,
// digits and dashes, not starting with "rd" (which marks a reference).
func TokenTag(token string) (Tag, error) {
	if !tokenRe.MatchString(token) || strings.HasPrefix(token, "rd") {
		return Tag{}, fmt.Errorf("tag token %q: want 1 to 40 of a-z, 0-9 and -, not starting with rd", token)
	}
	return Tag{Token: token}, nil
}

var tokenRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ErrNotPlusAddress is returned by ReadTag for an address that is not a
// tagged form of one of the mailbox addresses.
var ErrNotPlusAddress = errors.New("not a tagged reply address")

// ReplyAddress builds the reply address of outgoing mail: base
// (privacy@operator.kz) with the tag after a +
// (privacy+rd-7k4m-9qxt-2hv5@operator.kz). Any mailbox that delivers
// "sub-addresses" to the base mailbox (Gmail, Outlook, Yandex, Mail.ru,
// Dovecot, Postfix and Exim by default) routes replies back to it.
func ReplyAddress(base string, tag Tag) (string, error) {
	a, err := netmail.ParseAddress(base)
	if err != nil {
		return "", fmt.Errorf("reply address: base %q: %w", base, err)
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || domain == "" || strings.Contains(local, "+") {
		return "", fmt.Errorf("reply address: base %q must be a plain local@domain address", base)
	}
	if tag.Empty() {
		return a.Address, nil
	}
	addr := local + "+" + tag.String() + "@" + domain
	if len(local)+1+len(tag.String()) > 64 {
		return "", fmt.Errorf("reply address: %q has a local part over 64 characters", addr)
	}
	return addr, nil
}

// ReadTag reads the tag back from an address a letter was sent to, when
// the address is a tagged form of one of bases (compared without regard to
// case); with no bases, any address with a + counts.
func ReadTag(addr string, bases []string) (Tag, error) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return Tag{}, ErrNotPlusAddress
	}
	user, raw, ok := strings.Cut(local, "+")
	if !ok || raw == "" {
		return Tag{}, ErrNotPlusAddress
	}
	if len(bases) > 0 {
		match := false
		for _, b := range bases {
			if a, err := netmail.ParseAddress(b); err == nil && strings.EqualFold(a.Address, user+"@"+domain) {
				match = true
				break
			}
		}
		if !match {
			return Tag{}, ErrNotPlusAddress
		}
	}
	if strings.HasPrefix(raw, "rd") {
		if ref, err := request.ParseReference(raw); err == nil {
			return Tag{Reference: ref}, nil
		}
		return Tag{}, ErrNotPlusAddress
	}
	t, err := TokenTag(raw)
	if err != nil {
		return Tag{}, ErrNotPlusAddress
	}
	return t, nil
}

// referenceRe finds what looks like a reference; ParseReference checks it.
// It is tolerant of case, of spaces or en dashes for dashes and of a
// missing dash, as a person retyping a subject might write it.
var referenceRe = regexp.MustCompile(`(?i)(?:^|[^0-9a-z])(rd[-\s\x{2013}\x{2014}]?[0-9a-z]{4}[-\s\x{2013}\x{2014}]?[0-9a-z]{4}[-\s\x{2013}\x{2014}]?[0-9a-z]{4})(?:$|[^0-9a-z])`)

// SubjectReference finds a valid rightsdesk reference in a subject line,
// whatever reply and forward prefixes stand before it ("Re:", "Fwd:",
// "Ответ:", "Жауап:", ...) and whatever its case.
func SubjectReference(subject string) (string, bool) {
	for _, m := range referenceRe.FindAllStringSubmatch(subject, 5) {
		if ref, err := request.ParseReference(m[1]); err == nil {
			return ref, true
		}
	}
	return "", false
}

// replyPrefix matches one reply or forward prefix of the mail clients our
// correspondents use: Re, Fwd, Fw, AW, WG, Ответ, Отв, Пересл, Жауап,
// Жіберу, with counters such as "Re[2]:" or "Re(3):".
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|tr|rv|ответ|отв|пересл|переслать|fw|жауап|жіберу|қайта жіберу)\s*(\[\d+\]|\(\d+\))?\s*:\s*`)

// BareSubject strips every leading reply and forward prefix.
func BareSubject(subject string) string {
	s := subject
	for i := 0; i < 20; i++ {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil {
			break
		}
		s = s[loc[1]:]
	}
	return strings.TrimSpace(s)
}

// ThreadKeys finds a letter's threading keys. mailboxes are the addresses
// rightsdesk's mail is sent from and replied to; a tag counts only on a
// tagged form of one of them (any + address when there are none).
func ThreadKeys(l *Letter, mailboxes []string) Keys {
	var k Keys
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			k.MessageIDs = append(k.MessageIDs, id)
		}
	}
	for _, id := range l.InReplyTo {
		add(id)
	}
	for i := len(l.References) - 1; i >= 0; i-- {
		add(l.References[i])
	}
	var rcpts []string
	rcpts = append(rcpts, l.DeliveredTo...)
	for _, a := range append(append([]*netmail.Address{}, l.To...), l.Cc...) {
		rcpts = append(rcpts, a.Address)
	}
	for _, r := range rcpts {
		if t, err := ReadTag(r, mailboxes); err == nil {
			k.Tag = t
			break
		}
	}
	k.Reference, _ = SubjectReference(l.Subject)
	return k
}
