package inbound

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// letter joins header lines and a body into a raw letter with CRLF line
// ends, as it travels.
func letter(header, body string) []byte {
	h := strings.TrimLeft(header, "\n")
	h = strings.ReplaceAll(strings.TrimRight(h, "\n"), "\n", "\r\n")
	return []byte(h + "\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n"))
}

// b64 wraps base64 at 76 columns, as mail clients do.
func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

func cp1251(s string) []byte {
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func koi8r(s string) []byte {
	b, err := charmap.KOI8R.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func bword(charset string, b []byte) string {
	return "=?" + charset + "?B?" + base64.StdEncoding.EncodeToString(b) + "?="
}

// pdf is a small file the form's rules accept as a PDF.
func pdf(n int) []byte {
	b := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("0"), n)...)
	return b
}

var pngLogo = append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, bytes.Repeat([]byte{7}, 2000)...)

// A Kazakh student writes from Gmail asking for her data to be deleted.
func kazakhErasureLetter() []byte {
	body := "Сәлеметсіз бе!\n\nМен сіздің платформаңызда тіркелгенмін. Менің дербес деректерімді жоюыңызды сұраймын: " +
		"аккаунтымды және барлық жеке ақпаратымды толық жойыңыз.\n\nҚұрметпен,\nАйгерім Нұрланқызы\n"
	return letter(`
Return-Path: <aigerim.n@gmail.com>
Delivered-To: privacy@operator.kz
Received: from mail-ej1-f41.google.com (mail-ej1-f41.google.com [209.85.218.41])
	by mx.hoster.kz (Postfix) with ESMTPS id 4Q1x2Y3z4Kz9
	for <privacy@operator.kz>; Fri,  6 Mar 2026 14:21:07 +0500 (+05)
MIME-Version: 1.0
From: =?UTF-8?B?0JDQudCz0LXRgNGW0Lwg0J3SsdGA0LvQsNC90pvRi9C30Ys=?= <aigerim.n@gmail.com>
Date: Fri, 6 Mar 2026 14:20:55 +0500
Message-ID: <CAF3kz+9xQ2@mail.gmail.com>
Subject: =?UTF-8?B?0JTQtdGA0LHQtdGBINC00LXRgNC10LrRgtC10YDQtNGWINC20L7Rjg==?=
To: privacy@operator.kz
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"`, `
--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: base64

`+b64([]byte(body))+`
--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: base64

`+b64([]byte("<div dir=\"ltr\">"+strings.ReplaceAll(body, "\n", "<br>")+"</div>"))+`
--000000000000a1b2c3--
`)
}

func TestParseReadsAKazakhGmailLetter(t *testing.T) {
	l, err := Read(kazakhErasureLetter(), Envelope{Source: SourceIMAP}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.From == nil || l.From.Address != "aigerim.n@gmail.com" || l.From.Name != "Айгерім Нұрланқызы" {
		t.Errorf("From = %q", l.From)
	}
	if l.EnvelopeSender != "aigerim.n@gmail.com" || l.NullSender {
		t.Errorf("envelope sender = %q (null %v)", l.EnvelopeSender, l.NullSender)
	}
	if l.MessageID != "CAF3kz+9xQ2@mail.gmail.com" {
		t.Errorf("Message-ID = %q", l.MessageID)
	}
	if l.Subject != "Дербес деректерді жою" {
		t.Errorf("Subject = %q", l.Subject)
	}
	if l.Date.IsZero() || l.Date.UTC().Hour() != 9 {
		t.Errorf("Date = %v", l.Date)
	}
	if !strings.HasPrefix(l.Text, "Сәлеметсіз бе!\n\nМен") || l.FromHTML {
		t.Errorf("Text (from HTML %v) = %q", l.FromHTML, l.Text)
	}
	if len(l.DeliveredTo) != 1 || l.DeliveredTo[0] != "privacy@operator.kz" {
		t.Errorf("DeliveredTo = %v", l.DeliveredTo)
	}
	if l.Class.Kind != KindNew {
		t.Errorf("class = %+v", l.Class)
	}
	if l.Locale != "kk" {
		t.Errorf("locale = %q, want kk", l.Locale)
	}
	if l.Suggestion.Type != "erasure" || l.Suggestion.Confidence < 0.7 {
		t.Errorf("suggestion = %+v, want erasure with confidence", l.Suggestion)
	}
	if len(l.Hash) != 64 {
		t.Errorf("hash = %q", l.Hash)
	}
}

// Outlook on a Russian Windows still writes Windows-1251 and KOI8-R.
func TestParseDecodesRussianCharsets(t *testing.T) {
	body := "Добрый день.\nПрошу предоставить копию моих персональных данных.\nИванов И. И."
	raw := letter(`
From: `+bword("koi8-r", koi8r("Иванов Иван"))+` <ivanov@mail.ru>
To: privacy@operator.kz
Subject: `+bword("windows-1251", cp1251("Запрос на доступ"))+`
Message-ID: <1741253000.123456@mail.ru>
Date: Thu, 5 Mar 2026 10:00:00 +0300
MIME-Version: 1.0
Content-Type: text/plain; charset="windows-1251"
Content-Transfer-Encoding: quoted-printable`, qp(string(cp1251(body))))
	l, err := Read(raw, Envelope{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.From.Name != "Иванов Иван" || l.Subject != "Запрос на доступ" {
		t.Errorf("From name %q, subject %q", l.From.Name, l.Subject)
	}
	if l.Text != body {
		t.Errorf("Text = %q", l.Text)
	}
	if l.Locale != "ru" || l.Suggestion.Type != "access" {
		t.Errorf("locale %q, suggestion %+v", l.Locale, l.Suggestion)
	}
}

func TestParseReadsUndeclaredWindows1251(t *testing.T) {
	raw := append(letter("From: a@b.kz\nSubject: x\nContent-Type: text/plain", ""), cp1251("Прошу удалить мои данные")...)
	l, err := Parse(raw, Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Text != "Прошу удалить мои данные" {
		t.Errorf("Text = %q", l.Text)
	}
}

func TestParseRendersHTMLToTextAndNeverKeepsMarkup(t *testing.T) {
	html := `<html><head><title>secret title</title><style>p{color:red}</style></head><body>
<p>Здравствуйте,</p><p>прошу <b>исправить</b> мою фамилию:&nbsp;Иванова&nbsp;&rarr; Петрова.</p>
<script>alert("x")</script>
<ul><li>первый пункт</li><li>второй пункт</li></ul>
<table><tr><td>Логин</td><td>ivanova</td></tr></table>
<p>См. <a href="https://operator.kz/profile">профиль</a></p>
<img src="cid:logo" alt="Логотип"><div>С уважением,<br>Мария</div></body></html>`
	raw := letter(`
From: Мария <maria@yandex.kz>
To: privacy@operator.kz
Subject: =?utf-8?Q?=D0=98=D1=81=D0=BF=D1=80=D0=B0=D0=B2=D0=BB=D0=B5=D0=BD=D0=B8=D0=B5?=
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64`, b64([]byte(html)))
	l, err := Parse(raw, Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	want := "Здравствуйте,\n\nпрошу исправить мою фамилию: Иванова → Петрова.\n\n- первый пункт\n- второй пункт\n\nЛогин\tivanova\n\nСм. профиль <https://operator.kz/profile>\n\n[Логотип]\nС уважением,\nМария"
	if l.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", l.Text, want)
	}
	if !l.FromHTML {
		t.Error("FromHTML not set")
	}
	for _, bad := range []string{"<p", "<b>", "<script", "&nbsp;", "alert", "color:red", "secret title"} {
		if strings.Contains(l.Text, bad) {
			t.Errorf("text keeps %q", bad)
		}
	}
}

func TestParseRemovesControlAndBidiCharacters(t *testing.T) {
	raw := letter("From: x@y.kz\nSubject: =?utf-8?B?"+base64.StdEncoding.EncodeToString([]byte("Счёт\u202Egpj.exe\u0007"))+"?=\nContent-Type: text/plain; charset=utf-8",
		"Текст\u202Eобратный\u202C, \u200Bnull\x00 и \x1b[31mцвет\nконец")
	l, err := Parse(raw, Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Subject != "Счётgpj.exe" {
		t.Errorf("Subject = %q", l.Subject)
	}
	if l.Text != "Текстобратный, null и [31mцвет\nконец" {
		t.Errorf("Text = %q", l.Text)
	}
}

// multipartLetter builds a letter with a text and the given files.
func multipartLetter(files ...[2]string) []byte {
	var b strings.Builder
	b.WriteString("--BOUNDARY\nContent-Type: text/plain; charset=utf-8\n\nПрошу предоставить копию моих данных. Документы во вложении.\n")
	for _, f := range files {
		fmt.Fprintf(&b, "--BOUNDARY\nContent-Type: application/octet-stream; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n%s\n", f[0], f[0], b64([]byte(f[1])))
	}
	b.WriteString("--BOUNDARY--\n")
	return letter("From: a@b.kz\nTo: privacy@operator.kz\nSubject: docs\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=BOUNDARY", b.String())
}

func TestParseKeepsAttachmentsByTheFormsRules(t *testing.T) {
	docx := "PK\x03\x04word/document.xml"
	raw := multipartLetter(
		[2]string{"=?utf-8?B?" + base64.StdEncoding.EncodeToString([]byte("удостоверение.pdf")) + "?=", string(pdf(100))},
		[2]string{"заявление.docx", docx},
		[2]string{"photo.png", string(pngLogo)},
		[2]string{"empty.pdf", ""},
	)
	l, err := Parse(raw, Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Attachments) != 2 {
		t.Fatalf("attachments = %d, want 2 (pdf, png): %+v", len(l.Attachments), l.Skipped)
	}
	a := l.Attachments[0]
	if a.Name != "удостоверение.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf(100))) || !bytes.Equal(a.Content, pdf(100)) || a.Purpose != "requester" {
		t.Errorf("first attachment = %s %s %d %s", a.Name, a.ContentType, a.Size, a.Purpose)
	}
	if l.Attachments[1].ContentType != "image/png" {
		t.Errorf("second attachment type = %s", l.Attachments[1].ContentType)
	}
	if len(l.Skipped) != 2 || l.Skipped[0].Name != "заявление.docx" || l.Skipped[0].Reason != "file_type" || l.Skipped[1].Reason != "empty" {
		t.Errorf("skipped = %+v", l.Skipped)
	}
}

func TestParseSkipsSignatureLogosEmbeddedInHTML(t *testing.T) {
	body := `--REL
Content-Type: text/html; charset=utf-8

<p>Прошу удалить мой аккаунт.</p><img src="cid:image001.png@01DA">
--REL
Content-Type: image/png; name="image001.png"
Content-Disposition: inline; filename="image001.png"
Content-ID: <image001.png@01DA>
Content-Transfer-Encoding: base64

` + b64(pngLogo) + `
--REL--
`
	l, err := Parse(letter("From: a@b.kz\nSubject: x\nContent-Type: multipart/related; boundary=REL", body), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Attachments) != 0 || len(l.Skipped) != 1 || l.Skipped[0].Reason != "inline" {
		t.Errorf("attachments %d, skipped %+v", len(l.Attachments), l.Skipped)
	}
	if l.Text != "Прошу удалить мой аккаунт." {
		t.Errorf("Text = %q", l.Text)
	}
}

func TestParseRefusesTooManyAttachments(t *testing.T) {
	var files [][2]string
	for i := 0; i < 6; i++ {
		files = append(files, [2]string{fmt.Sprintf("doc%d.pdf", i), string(pdf(10))})
	}
	_, err := Read(multipartLetter(files...), Envelope{}, Options{})
	if !IsRefused(err) || RefusalReason(err) != "too_many_attachments" {
		t.Fatalf("err = %v, want a refusal for too many attachments", err)
	}
	var r *Refusal
	if !asRefusal(err, &r) || r.Key != "error.too_many_files" || r.Params["Max"] != 5 {
		t.Errorf("refusal = %+v", r)
	}
	// Five is the form's limit, and five pass.
	if _, err := Read(multipartLetter(files[:5]...), Envelope{}, Options{}); err != nil {
		t.Errorf("five attachments: %v", err)
	}
}

func TestParseRefusesAnAttachmentOverTheFormsSize(t *testing.T) {
	_, err := Parse(multipartLetter([2]string{"scan.pdf", string(pdf(10 << 20))}), Envelope{})
	if RefusalReason(err) != "attachment_too_large" {
		t.Fatalf("err = %v, want attachment_too_large", err)
	}
	var r *Refusal
	if !asRefusal(err, &r) || r.Key != "error.file_too_large" || r.Params["Name"] != "scan.pdf" {
		t.Errorf("refusal = %+v", r)
	}
}

func TestParseRefusesAnOversizeLetter(t *testing.T) {
	raw := letter("From: a@b.kz\nSubject: big", strings.Repeat("x", MaxLetterSize))
	_, err := Read(raw, Envelope{}, Options{})
	if RefusalReason(err) != "too_large" {
		t.Fatalf("err = %v, want too_large", err)
	}
}

func TestParseRefusesWhatIsNotAMessage(t *testing.T) {
	for _, raw := range []string{"", "\r\n\r\njust a body", "no colon in this header line\r\n\r\nbody"} {
		if _, err := Parse([]byte(raw), Envelope{}); RefusalReason(err) != "malformed" {
			t.Errorf("%q: err = %v, want malformed", raw, err)
		}
	}
}

func TestParseRefusesMIMENestedTooDeep(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "--B%d\nContent-Type: multipart/mixed; boundary=B%d\n\n", i, i+1)
	}
	_, err := Parse(letter("From: a@b.kz\nContent-Type: multipart/mixed; boundary=B0", b.String()), Envelope{})
	if RefusalReason(err) != "malformed" {
		t.Fatalf("err = %v", err)
	}
}

func TestContentHashIgnoresWhatServersAddOnTheWay(t *testing.T) {
	raw := kazakhErasureLetter()
	relayed := append([]byte("Received: from relay.example.kz by mx2\r\nX-Spam-Score: 0.1\r\nDelivered-To: contact@operator.kz\r\n"), raw...)
	lf := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	if ContentHash(raw) != ContentHash(relayed) || ContentHash(raw) != ContentHash(lf) {
		t.Error("the same letter hashes differently after relaying or with LF line ends")
	}
	other := bytes.Replace(raw, []byte("CAF3kz+9xQ2@mail.gmail.com"), []byte("CAF3kz+9xQ3@mail.gmail.com"), 1)
	if ContentHash(raw) == ContentHash(other) {
		t.Error("another Message-ID hashes the same")
	}
	body := bytes.Replace(raw, []byte("--000000000000a1b2c3--"), []byte("--000000000000a1b2c3--\r\nP.S."), 1)
	if ContentHash(raw) == ContentHash(body) {
		t.Error("another body hashes the same")
	}
}

func TestParseReadsTheNullSender(t *testing.T) {
	for _, env := range []Envelope{{Sender: "<>"}, {}} {
		raw := letter("Return-Path: <>\nFrom: MAILER-DAEMON@mx.hoster.kz\nSubject: x", "x")
		l, err := Parse(raw, env)
		if err != nil {
			t.Fatal(err)
		}
		if !l.NullSender || l.EnvelopeSender != "" {
			t.Errorf("env %+v: null %v, sender %q", env, l.NullSender, l.EnvelopeSender)
		}
	}
	l, _ := Parse(letter("Return-Path: <>\nFrom: a@b.kz", "x"), Envelope{Sender: "Bounce@Relay.kz", Recipients: []string{"<Privacy+RD-x@operator.kz>"}})
	if l.NullSender || l.EnvelopeSender != "bounce@relay.kz" || l.DeliveredTo[0] != "privacy+rd-x@operator.kz" {
		t.Errorf("the envelope wins over Return-Path: %q %v %v", l.EnvelopeSender, l.NullSender, l.DeliveredTo)
	}
}

func TestParseReadsReferencesLeniently(t *testing.T) {
	l, err := Parse(letter(`
From: a@b.kz
Message-ID: no-brackets@host.kz
In-Reply-To: <rd.1.abc@operator.kz> (Вы писали)
References: <first@operator.kz>
 <second@operator.kz> <rd.1.abc@operator.kz>
Reply-To: "Жанна" <zhanna@mail.kz>, broken <, other@mail.kz`, "x"), Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if l.MessageID != "no-brackets@host.kz" {
		t.Errorf("Message-ID = %q", l.MessageID)
	}
	if strings.Join(l.InReplyTo, " ") != "rd.1.abc@operator.kz" || strings.Join(l.References, " ") != "first@operator.kz second@operator.kz rd.1.abc@operator.kz" {
		t.Errorf("In-Reply-To %v, References %v", l.InReplyTo, l.References)
	}
	if len(l.ReplyTo) != 2 || l.ReplyTo[0].Address != "zhanna@mail.kz" || l.ReplyTo[1].Address != "other@mail.kz" {
		t.Errorf("Reply-To = %v", l.ReplyTo)
	}
}

func asRefusal(err error, r **Refusal) bool { return errors.As(err, r) }
