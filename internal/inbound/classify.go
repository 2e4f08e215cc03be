package inbound

import (
	"regexp"
	"strings"
)

// Kind is what a letter is.
type Kind string

// The kinds of letter. Only KindNew may become a request and only a person's
// letters (KindNew, KindReply) are ever answered: auto-replies, bounces and
// list mail never create a request nor get an acknowledgement, which is
// what keeps two robots from writing to each other for ever.
const (
	// KindNew is a person's letter that threads onto nothing.
	KindNew Kind = "new"
	// KindReply is a person's letter with threading keys (Letter.Keys): a
	// reply candidate. When no request matches its keys, it is a new letter.
	KindReply Kind = "reply"
	// KindAutoReply is an automatic answer: out of office, vacation, a
	// robot's acknowledgement, a delivery notice that is not a failure.
	KindAutoReply Kind = "auto_reply"
	// KindBounce is a report that a letter could not be delivered
	// (Class.Bounce says which and to whom).
	KindBounce Kind = "bounce"
	// KindList is list, bulk or junk mail.
	KindList Kind = "list"
)

// Class is the classification of a letter.
type Class struct {
	Kind Kind
	// Reason names the signal that decided, e.g. "Auto-Submitted:
	// auto-replied" or "List-Id": for logs and for staff, never personal data.
	Reason string
	// Bounce is set for KindBounce.
	Bounce *Bounce
}

// Automatic reports whether the letter was written by a machine: it must
// never create a request nor be answered.
func (c Class) Automatic() bool {
	return c.Kind == KindAutoReply || c.Kind == KindBounce || c.Kind == KindList
}

// Subjects that out-of-office and vacation replies of the big providers
// put first: Gmail, Outlook and Exchange, Yandex and Mail.ru in the
// languages they write them in.
var autoReplySubject = regexp.MustCompile(`(?i)^\s*(` + strings.Join([]string{
	`automatic reply`,
	`auto(-| )?reply`,
	`autoreply`,
	`auto(matic)? response`,
	`auto:`,
	`out of (the )?office`,
	`away from (the )?office`,
	`on vacation`,
	`vacation reply`,
	`автоматический ответ`,
	`автоответ`,
	`автоответчик`,
	`вне офиса`,
	`нет на месте`,
	`в отпуске`,
	`отсутствую`,
	`автоматты жауап`,
	`автожауап`,
	`кеңседен тыс`,
	`демалыстамын`,
}, "|") + `)`)

// Classify says what a letter is. Bounces are recognised first (an RFC 3464
// report, then the common non-standard forms), then automatic replies,
// then list mail; what is left is a person's letter: a reply candidate
// when it carries threading keys (set Keys first, as Read does), a new
// letter otherwise.
func Classify(l *Letter) Class {
	h := l.header
	ct := strings.ToLower(h.Get("Content-Type"))
	if strings.HasPrefix(strings.TrimSpace(ct), "multipart/report") &&
		(strings.Contains(ct, "delivery-status") || len(l.reports) > 0) {
		b := standardBounce(l)
		if len(b.Recipients) == 0 && len(l.reports) > 0 {
			return Class{Kind: KindAutoReply, Reason: "delivery report: delivered"}
		}
		return Class{Kind: KindBounce, Reason: "delivery status notification", Bounce: b}
	}
	if strings.HasPrefix(strings.TrimSpace(ct), "multipart/report") && strings.Contains(ct, "disposition-notification") {
		// A read receipt (RFC 8098), sent by the reader's mail client.
		return Class{Kind: KindAutoReply, Reason: "read receipt"}
	}
	if looksLikeBounce(l) {
		return Class{Kind: KindBounce, Reason: "non-standard bounce", Bounce: nonStandardBounce(l)}
	}
	if reason := autoReplyReason(l); reason != "" {
		return Class{Kind: KindAutoReply, Reason: reason}
	}
	switch p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p {
	case "bulk", "junk", "list":
		return Class{Kind: KindList, Reason: "Precedence: " + p}
	}
	for _, key := range []string{"List-Id", "List-Unsubscribe", "List-Post"} {
		if strings.TrimSpace(h.Get(key)) != "" {
			return Class{Kind: KindList, Reason: key}
		}
	}
	if !l.Keys.Empty() {
		return Class{Kind: KindReply, Reason: l.Keys.Reason()}
	}
	return Class{Kind: KindNew}
}

// autoReplyReason names the signal that makes a letter an automatic
// reply, or "".
func autoReplyReason(l *Letter) string {
	h := l.header
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		// RFC 3834: anything but "no" (auto-generated, auto-replied,
		// auto-notified) is a machine's.
		return "Auto-Submitted: " + firstWord(v)
	}
	if strings.EqualFold(strings.TrimSpace(h.Get("Precedence")), "auto_reply") {
		return "Precedence: auto_reply"
	}
	for _, key := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply", "X-Mail-Autoreply", "X-Yandex-Autoreply", "X-Mailru-Autoreply"} {
		if v := strings.ToLower(strings.TrimSpace(h.Get(key))); v != "" && v != "no" && v != "false" && v != "0" {
			return key
		}
	}
	// Outlook and Exchange mark what they generate (out of office, read
	// receipts, rule replies) with X-Auto-Response-Suppress: All, or OOF
	// with an automatic-reply subject. X-MS-Exchange-Inbox-Rules-Loop alone
	// is not enough: Outlook writes it on letters an inbox rule forwards
	// too, and a forwarded mailbox is one way letters arrive.
	if v := strings.ToLower(h.Get("X-Auto-Response-Suppress")); v != "" {
		if strings.Contains(v, "all") {
			return "X-Auto-Response-Suppress: All"
		}
		if strings.Contains(v, "oof") && autoReplySubject.MatchString(l.Subject) {
			return "X-Auto-Response-Suppress: OOF"
		}
	}
	if v := strings.ToLower(h.Get("X-MS-Exchange-Generated-Message-Source")); v != "" && autoReplySubject.MatchString(l.Subject) {
		return "X-MS-Exchange-Generated-Message-Source"
	}
	if h.Get("X-MS-Exchange-Inbox-Rules-Loop") != "" && autoReplySubject.MatchString(l.Subject) {
		return "X-MS-Exchange-Inbox-Rules-Loop"
	}
	if v := strings.ToLower(h.Get("X-Loop")); v != "" {
		return "X-Loop"
	}
	if l.NullSender {
		return "null envelope sender"
	}
	if autoReplySubject.MatchString(l.Subject) {
		return "auto-reply subject"
	}
	return ""
}

func firstWord(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.TrimSpace(s)
}
