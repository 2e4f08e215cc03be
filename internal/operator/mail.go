package operator

import (
	"fmt"
	"strings"

	"rightsdesk/internal/config"
	"rightsdesk/internal/inbound/listener"
	"rightsdesk/internal/inbound/poller"
)

// A letter belongs to the operator whose mailbox or address it reached
// (issue 15: a request filed on one operator's address can never be seen
// through another's). Two operators may therefore never share a way in: a
// mailbox polled for both, or an address (or domain) letters to one could
// be letters to the other.

// mailClaim is an address or a domain an operator's letters arrive at,
// with the setting that makes it so.
type mailClaim struct{ key, domain, address string }

func (c mailClaim) String() string {
	if c.address != "" {
		return c.address
	}
	return "the domain " + c.domain
}

// overlaps reports whether a letter to one could be a letter to the other.
func (c mailClaim) overlaps(o mailClaim) bool {
	switch {
	case c.address != "" && o.address != "":
		return c.address == o.address
	case c.domain != "" && o.domain != "":
		return c.domain == o.domain
	case c.address != "":
		return domainOf(c.address) == o.domain
	default:
		return domainOf(o.address) == c.domain
	}
}

func domainOf(address string) string {
	_, d, _ := strings.Cut(address, "@")
	return d
}

// mailClaims are the addresses and domains in's letters arrive at: the
// listener's for it, its reply address, its polled mailbox's user name
// when that is an address.
func mailClaims(in config.Inbound) []mailClaim {
	var out []mailClaim
	if in.SMTPAddr != "" {
		for _, a := range in.SMTPAccept {
			if d, addr, err := listener.ParseAccept(a); err == nil {
				out = append(out, mailClaim{key: "INBOUND_SMTP_ACCEPT", domain: d, address: addr})
			}
		}
	}
	if in.ReplyTo != "" {
		out = append(out, mailClaim{key: "INBOUND_REPLY_TO", address: in.ReplyTo})
	}
	if in.IMAP != nil {
		if _, addr, err := listener.ParseAccept(in.IMAP.Username); err == nil && addr != "" {
			out = append(out, mailClaim{key: "INBOUND_IMAP_URL", address: addr})
		}
	}
	return out
}

// sharedMail says what of in's way in is other's too, in words the name
// of the other operator ends ("KEY: … is already an inbound address of"),
// "" when they share nothing.
func sharedMail(in, other config.Inbound) string {
	if in.IMAP != nil && other.IMAP != nil && sameMailbox(*in.IMAP, *other.IMAP) {
		return fmt.Sprintf("INBOUND_IMAP_URL: the mailbox %s of %s on %s is already polled for", in.IMAP.Mailbox, in.IMAP.Username, in.IMAP.Host)
	}
	theirs := mailClaims(other)
	for _, c := range mailClaims(in) {
		for _, o := range theirs {
			if c.overlaps(o) {
				return fmt.Sprintf("%s: %s is already an inbound address of", c.key, c)
			}
		}
	}
	return ""
}

func sameMailbox(a, b poller.Mailbox) bool {
	return strings.EqualFold(a.Host, b.Host) && strings.EqualFold(a.Username, b.Username) && strings.EqualFold(a.Mailbox, b.Mailbox)
}
