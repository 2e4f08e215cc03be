package inbound

import (
	"bufio"
	"bytes"
	"net/textproto"
	"regexp"
	"strings"
)

// Bounce is what a delivery failure report says.
type Bounce struct {
	// OriginalMessageID is the Message-ID of the letter that could not be
	// delivered ("" when the report does not say): for one of rightsdesk's
	// own emails, the email to mark failed.
	OriginalMessageID string
	Recipients        []BounceRecipient
	// Permanent is true when delivery failed for good (a 5.x.x status, or
	// Action: failed): retrying will not help. A transient report (4.x.x,
	// Action: delayed) says the sending server is still trying.
	Permanent bool
	// Standard is true for an RFC 3464 delivery status notification, false
	// for a bounce recognised by its sender, subject or words.
	Standard bool
}

// BounceRecipient is one recipient a report is about.
type BounceRecipient struct {
	Address    string // lower case, without the address type ("rfc822;")
	Action     string // failed, delayed, delivered, relayed, expanded; "" if unknown
	Status     string // e.g. 5.1.1; "" if unknown
	Diagnostic string // the remote server's words, one line, at most 300 bytes
	Permanent  bool
}

// report is one recipient block of a message/delivery-status part.
type report = BounceRecipient

// parseReport reads a message/delivery-status body: a block of
// per-message fields, then one block per recipient (RFC 3464 §2.1).
func parseReport(body []byte) []report {
	var out []report
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(normalizeBlocks(body))))
	for i := 0; i < 100; i++ {
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 {
			if rcpt := h.Get("Final-Recipient"); rcpt != "" || h.Get("Action") != "" {
				if rcpt == "" {
					rcpt = h.Get("Original-Recipient")
				}
				rep := report{
					Address:    reportAddress(rcpt),
					Action:     strings.ToLower(strings.TrimSpace(h.Get("Action"))),
					Status:     statusCode(h.Get("Status")),
					Diagnostic: cleanLine(h.Get("Diagnostic-Code"), 300),
				}
				rep.Permanent = rep.Action == "failed" || strings.HasPrefix(rep.Status, "5")
				if rep.Action == "delayed" || strings.HasPrefix(rep.Status, "4") {
					rep.Permanent = false
				}
				out = append(out, rep)
			}
		}
		if err != nil {
			break
		}
	}
	return out
}

// normalizeBlocks makes line ends CRLF-free and drops a leading empty line,
// which some servers write before the first block.
func normalizeBlocks(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.TrimLeft(b, "\n")
	// A block that ends the body without an empty line still counts.
	return append(b, '\n', '\n')
}

// reportAddress turns "rfc822; user@example.kz" into "user@example.kz".
func reportAddress(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
}

var statusRe = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)

func statusCode(v string) string {
	return statusRe.FindString(v)
}

// Non-standard bounces: the words of the common mail servers and
// providers, in the languages the operators' correspondents use.
var (
	bounceSenders = []string{"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
	bounceSubject = regexp.MustCompile(`(?i)(` + strings.Join([]string{
		`undeliver(ed|able)`,
		`returned mail`,
		`mail delivery (failed|failure|system|subsystem)`,
		`delivery (status notification|failure|has failed|failed|problem)`,
		`failure notice`,
		`could not be delivered`,
		`non-?delivery`,
		`returned to sender`,
		`warning: message .* delayed`,
		`delayed mail`,
		`недоставленное сообщение`,
		`не (удалось|может быть) доставлено`,
		`не удалось доставить`,
		`сообщение не доставлено`,
		`ошибка доставки`,
		`письмо не доставлено`,
		`хабарлама жеткізілмеді`,
		`хат жеткізілмеді`,
		`жеткізілмеді`,
	}, "|") + `)`)
	delayedSubject = regexp.MustCompile(`(?i)(delayed|delay|задерж|кешіктір)`)
	bodyMessageID  = regexp.MustCompile(`(?im)^\s*message-id:\s*<([^<>\s]+)>`)
	bodyRecipient  = regexp.MustCompile(`(?m)^\s*<([^<>\s@]+@[^<>\s]+)>:?`)
	bodySMTPCode   = regexp.MustCompile(`\b([45])[0-9]{2}[ -]([245]\.\d{1,3}\.\d{1,3})?`)
)

// looksLikeBounce recognises a bounce that is not an RFC 3464 report: one
// from a mailer daemon or postmaster, or with a failure subject and a null
// sender, or naming failed recipients the way Exim does.
func looksLikeBounce(l *Letter) bool {
	from := ""
	if l.From != nil {
		from = l.From.Address
	}
	local, _, _ := strings.Cut(from, "@")
	for _, s := range bounceSenders {
		if local == s || strings.HasPrefix(l.EnvelopeSender, s+"@") {
			return true
		}
	}
	if l.header.Get("X-Failed-Recipients") != "" {
		return true
	}
	if bounceSubject.MatchString(l.Subject) && (l.NullSender || len(l.origIDs) > 0 || bodyMessageID.MatchString(l.Text)) {
		return true
	}
	return false
}

// nonStandardBounce reads what it can from a bounce without a report: the
// original Message-ID from a returned message or the text, the failed
// recipients from X-Failed-Recipients or the text, permanent unless the
// subject or the codes say it is only delayed.
func nonStandardBounce(l *Letter) *Bounce {
	b := &Bounce{}
	if len(l.origIDs) > 0 {
		b.OriginalMessageID = l.origIDs[0]
	} else if m := bodyMessageID.FindStringSubmatch(l.Text); m != nil {
		b.OriginalMessageID = m[1]
	}
	transient := delayedSubject.MatchString(l.Subject)
	if m := bodySMTPCode.FindStringSubmatch(l.Text); m != nil && !transient {
		transient = m[1] == "4"
	}
	var addrs []string
	for _, v := range l.header.Values("X-Failed-Recipients") {
		addrs = append(addrs, strings.Split(v, ",")...)
	}
	if len(addrs) == 0 {
		for _, m := range bodyRecipient.FindAllStringSubmatch(l.Text, 10) {
			addrs = append(addrs, m[1])
		}
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		a = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
		if a == "" || seen[a] || !strings.Contains(a, "@") {
			continue
		}
		seen[a] = true
		b.Recipients = append(b.Recipients, BounceRecipient{Address: a, Permanent: !transient})
	}
	b.Permanent = !transient
	return b
}

// standardBounce sums up the report parts of a DSN.
func standardBounce(l *Letter) *Bounce {
	b := &Bounce{Standard: true}
	if len(l.origIDs) > 0 {
		b.OriginalMessageID = l.origIDs[0]
	} else if m := bodyMessageID.FindStringSubmatch(l.Text); m != nil {
		b.OriginalMessageID = m[1]
	}
	failed := false
	for _, r := range l.reports {
		switch r.Action {
		case "delivered", "relayed", "expanded":
			continue // a success notice for this recipient
		}
		b.Recipients = append(b.Recipients, r)
		if r.Permanent {
			failed = true
		}
	}
	b.Permanent = failed
	return b
}
