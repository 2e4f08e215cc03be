package mail

import (
	"bytes"
	"errors"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzMessageHeaders builds emails whose header values come from outside
// (a requester's address and name, a subject with their reference, an extra
// header): a value with CR, LF or NUL is refused before anything is written,
// and whatever is written parses back to exactly the headers that were set,
// with no header added.
func FuzzMessageHeaders(f *testing.F) {
	f.Add("Школа", "erlan@example.kz", "Запрос RD-7K4M-9QXT-2HV5 получен", "RD-7K4M-9QXT-2HV5", "id1")
	f.Add("Evil\r\nBcc: victim@example.com", "erlan@example.kz", "s", "x", "id2")
	f.Add("School", "erlan@example.kz\r\nBcc: victim@example.com", "s", "x", "id3")
	f.Add("School", "erlan@example.kz", "Subject\nBcc: victim@example.com", "x", "id4")
	f.Add("School", "erlan@example.kz", "s", "x\r\n\r\n<html>", "id5")
	f.Add("School", "erlan@example.kz", "s", "x", "a@b>\r\nBcc: c@d")
	f.Add("\"Quoted\" <Name>", "\"a b\"@example.kz", "=?utf-8?q?hello?=", "\x00", "id6")
	f.Add("Ш", "x@[127.0.0.1]", strings.Repeat("длинная тема ", 20), "v", "id7")
	f.Fuzz(func(t *testing.T, fromName, to, subject, headerValue, idLeft string) {
		from := (&netmail.Address{Name: fromName, Address: "privacy@school.example.kz"}).String()
		if strings.ContainsAny(fromName, "\r\n\x00") {
			// net/mail would encode the name; put it raw, as a careless caller might.
			from = fromName + " <privacy@school.example.kz>"
		}
		m := Message{
			MessageID: idLeft + "@rightsdesk.test",
			From:      from,
			To:        to,
			Subject:   subject,
			Text:      "Текст письма.\n",
			HTML:      "<p>Текст письма.</p>",
			Date:      time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
			Headers:   map[string]string{"X-Rightsdesk-Reference": headerValue},
		}
		injected := false
		for _, v := range []string{from, to, subject, headerValue, m.MessageID} {
			injected = injected || strings.ContainsAny(v, "\r\n\x00")
		}
		err := m.Validate()
		if injected {
			if !errors.Is(err, ErrHeaderInjection) {
				t.Fatalf("a header value with CR, LF or NUL was not refused: %v", err)
			}
			return
		}
		if err != nil {
			return // incomplete or malformed in another way
		}
		var raw bytes.Buffer
		if _, err := m.WriteTo(&raw); err != nil {
			t.Fatalf("WriteTo after Validate: %v", err)
		}
		p, err := Parse(raw.Bytes())
		if err != nil {
			t.Fatalf("the written message does not parse: %v\n%s", err, raw.String())
		}
		for name := range p.Header {
			switch name {
			case "From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "X-Rightsdesk-Reference":
			default:
				t.Fatalf("the message carries a header nobody set: %s\n%s", name, raw.String())
			}
			if n := len(p.Header[name]); n != 1 {
				t.Fatalf("header %s appears %d times", name, n)
			}
		}
		if got := p.Subject; got != subject && !(strings.TrimSpace(got) == strings.TrimSpace(subject) || encodedWordLike(subject)) {
			t.Fatalf("Subject %q came back as %q", subject, got)
		}
		gotTo, err := netmail.ParseAddress(p.Header.Get("To"))
		wantTo, _ := netmail.ParseAddress(to)
		if err != nil || !strings.EqualFold(gotTo.Address, wantTo.Address) {
			t.Fatalf("To %q came back as %q (%v)", wantTo.Address, p.Header.Get("To"), err)
		}
		if p.MessageID != m.MessageID {
			t.Fatalf("Message-ID %q came back as %q", m.MessageID, p.MessageID)
		}
		if p.Text == "" {
			t.Fatal("the text part is lost")
		}
	})
}

// encodedWordLike reports text that looks like an RFC 2047 encoded word: a
// reader decodes it, so it cannot come back verbatim. Subjects are built
// from catalog text and references, never typed by a requester.
func encodedWordLike(s string) bool {
	return strings.Contains(s, "=?") && strings.Contains(s, "?=")
}

// FuzzParse feeds raw messages (as the development mailbox reads them from
// disk) to Parse: it must never panic, only report an error.
func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: =?utf-8?b?0J/RgNC40LLQtdGC?=\r\nContent-Type: text/plain\r\n\r\nhi\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=D0=9F\r\n--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+PC9iPg==\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = Parse(raw)
	})
}
