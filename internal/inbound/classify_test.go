package inbound

import (
	"strings"
	"testing"
)

// Bounces as the servers our emails go through write them.

// Postfix's RFC 3464 report for an unknown mailbox.
var postfixDSN = letter(`
Return-Path: <>
Received: from mx.hoster.kz (mx.hoster.kz [10.0.0.1]) by mail.operator.kz
Date: Sat,  7 Mar 2026 10:00:00 +0500 (+05)
From: MAILER-DAEMON@mx.hoster.kz (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: no-reply@operator.kz
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4Q2B1C0D9E.1741323600/mx.hoster.kz"
Message-Id: <20260307050000.4Q2B1C0D9E@mx.hoster.kz>`, `
This is a MIME-encapsulated message.

--4Q2B1C0D9E.1741323600/mx.hoster.kz
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.hoster.kz.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<aigerim.typo@gmail.com>: host gmail-smtp-in.l.google.com[142.250.1.27] said:
    550-5.1.1 The email account that you tried to reach does not exist.

--4Q2B1C0D9E.1741323600/mx.hoster.kz
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.hoster.kz
X-Postfix-Queue-ID: 4Q2B1C0D9E
X-Postfix-Sender: rfc822; no-reply@operator.kz
Arrival-Date: Sat,  7 Mar 2026 09:59:58 +0500 (+05)

Final-Recipient: rfc822; aigerim.typo@gmail.com
Original-Recipient: rfc822;aigerim.typo@gmail.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
    not exist. Please try double-checking the recipient's email address for
    typos or unnecessary spaces.

--4Q2B1C0D9E.1741323600/mx.hoster.kz
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <no-reply@operator.kz>
From: Operator <no-reply@operator.kz>
To: aigerim.typo@gmail.com
Subject: =?utf-8?B?0JLQsNGIINC30LDQv9GA0L7RgSDQv9GA0LjQvdGP0YI=?=
Message-ID: <rd.42.ack.7f3a@operator.kz>
Date: Sat, 07 Mar 2026 09:59:57 +0500

--4Q2B1C0D9E.1741323600/mx.hoster.kz--
`)

// Exim's delay warning: the server is still trying.
var eximDelayDSN = letter(`
Return-Path: <>
From: Mail Delivery System <Mailer-Daemon@mail.hoster.kz>
To: no-reply@operator.kz
Subject: Warning: message 1pXyZ-000123-AB delayed 24 hours
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary=1741300000-eximdsn-123
MIME-Version: 1.0`, `
--1741300000-eximdsn-123
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mail.hoster.kz.

--1741300000-eximdsn-123
Content-type: message/delivery-status

Reporting-MTA: dns; mail.hoster.kz

Action: delayed
Final-Recipient: rfc822;student@school.kz
Status: 4.0.0
Will-Retry-Until: Mon, 09 Mar 2026 10:00:00 +0500

--1741300000-eximdsn-123
Content-type: message/rfc822

Message-ID: <rd.43.info.9b1c@operator.kz>
From: no-reply@operator.kz
Subject: Information requested

Body
--1741300000-eximdsn-123--
`)

// Mail.ru's bounce, Exim-based, with no report part.
var mailruBounce = letter(`
Return-Path: <>
From: Mail Delivery System <mailer-daemon@corp.mail.ru>
To: no-reply@operator.kz
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1pXyZa-0001AB-Cd@f123.i.mail.ru>
X-Failed-Recipients: Old.Address@mail.ru
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8`, `
This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  old.address@mail.ru
    SMTP error from remote mail server after RCPT TO:<old.address@mail.ru>:
    550 Message was not accepted -- invalid mailbox.  Local mailbox old.address@mail.ru is unavailable: user not found

------ This is a copy of the message, including all the headers. ------

Message-ID: <rd.44.done.0c2d@operator.kz>
From: no-reply@operator.kz
To: old.address@mail.ru
Subject: Your request is completed
`)

// A Russian-language bounce from a hoster's own software, no report, no
// daemon address: recognised by its subject and the null sender.
var russianBounce = letter(`
Return-Path: <>
From: "Почтовый сервер" <noreply-robot@hoster.kz>
To: no-reply@operator.kz
Subject: Недоставленное сообщение
Content-Type: text/plain; charset=utf-8`, `
Ваше сообщение не может быть доставлено адресату nurlan@school.edu.kz:
554 5.7.1 Сообщение отклонено.

Message-ID: <rd.45.ack.1d3e@operator.kz>
`)

// Out-of-office replies of the big providers.
var (
	gmailVacation = letter(`
From: Нурлан Абенов <nurlan.abenov@gmail.com>
To: no-reply@operator.kz
Subject: Отпуск до 20 марта
Auto-Submitted: auto-replied
Precedence: bulk
Message-ID: <CAvacation123@mail.gmail.com>
In-Reply-To: <rd.46.ack.2e4f@operator.kz>
References: <rd.46.ack.2e4f@operator.kz>
Content-Type: text/plain; charset=UTF-8`, "Я в отпуске до 20 марта, отвечу после возвращения.")

	outlookOOF = letter(`
From: Бекова Алия <a.bekova@school.kz>
To: no-reply@operator.kz
Subject: =?koi8-r?B?4dfUz83B1MnexdPLycogz9TXxdQ6IPfB2yDawdDSz9M=?=
Thread-Topic: Ваш запрос
X-MS-Exchange-Inbox-Rules-Loop: a.bekova@school.kz
X-Auto-Response-Suppress: All
X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent
Content-Type: text/plain; charset=utf-8`, "Меня нет в офисе до понедельника.")

	exchangeOOFNoSuppress = letter(`
From: Alia Bekova <a.bekova@school.kz>
To: no-reply@operator.kz
Subject: Automatic reply: Your request RD-7K4M-9QXT-2HV5
X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent
Content-Type: text/plain; charset=utf-8`, "I am out of the office.")

	yandexAutoreply = letter(`
From: Дана <dana@yandex.kz>
To: no-reply@operator.kz
Subject: =?utf-8?B?0JDQstGC0L7QvtGC0LLQtdGCOiDQktCw0Ygg0LfQsNC/0YDQvtGB?=
X-Yandex-Autoreply: yes
Content-Type: text/plain; charset=utf-8`, "Спасибо за письмо! Сейчас я не могу ответить.")

	mailruAutoreply = letter(`
From: Ержан <erzhan@mail.ru>
To: no-reply@operator.kz
Subject: Автоответ: Ваш запрос
X-Mailru-Msgtype: autoreply
Content-Type: text/plain; charset=utf-8`, "Кеңседен тыспын. Я вне офиса.")

	autoreplyHeader = letter(`
From: help@school.kz
To: no-reply@operator.kz
Subject: Thanks for your message
X-Autoreply: yes
Content-Type: text/plain`, "We received your message.")

	autorespondHeader = letter(`
From: help@school.kz
To: no-reply@operator.kz
Subject: Ticket #1234 opened
X-Autorespond: Ticket opened
Content-Type: text/plain`, "Your ticket is open.")

	precedenceAutoReply = letter(`
From: robot@school.kz
To: privacy@operator.kz
Subject: Received
Precedence: auto_reply`, "ok")

	nullSenderOnly = letter(`
Return-Path: <>
From: robot@school.kz
To: privacy@operator.kz
Subject: Notification`, "ok")

	newsletter = letter(`
From: Digest <news@edu-news.kz>
To: privacy@operator.kz
Subject: Новости образования
List-Id: Edu News <news.edu-news.kz>
List-Unsubscribe: <mailto:unsubscribe@edu-news.kz>`, "Новости недели")

	bulk = letter(`
From: promo@shop.kz
To: privacy@operator.kz
Subject: Скидки
Precedence: bulk`, "Скидки")

	// A person whose client says explicitly that this is not automatic.
	personAutoSubmittedNo = letter(`
From: Асель <asel@mail.kz>
To: privacy@operator.kz
Subject: Удаление данных
Auto-Submitted: no
Content-Type: text/plain; charset=utf-8`, "Прошу удалить мои данные.")

	// A letter an Outlook inbox rule forwarded from contact@: a person's,
	// though it carries X-MS-Exchange-Inbox-Rules-Loop.
	forwardedByRule = letter(`
From: Асель <asel@mail.kz>
To: privacy@operator.kz
Subject: FW: Удаление данных
X-MS-Exchange-Inbox-Rules-Loop: contact@operator.kz
Content-Type: text/plain; charset=utf-8`, "Прошу удалить мои данные.")
)

func TestClassifyRecognisesBouncesAutoRepliesAndListMail(t *testing.T) {
	tests := []struct {
		name   string
		raw    []byte
		env    Envelope
		kind   Kind
		reason string
	}{
		{"Postfix DSN", postfixDSN, Envelope{Sender: "<>"}, KindBounce, "delivery status notification"},
		{"Exim delay DSN", eximDelayDSN, Envelope{}, KindBounce, "delivery status notification"},
		{"Mail.ru bounce", mailruBounce, Envelope{}, KindBounce, "non-standard bounce"},
		{"Russian bounce", russianBounce, Envelope{}, KindBounce, "non-standard bounce"},
		{"Gmail vacation", gmailVacation, Envelope{}, KindAutoReply, "Auto-Submitted: auto-replied"},
		{"Outlook OOF", outlookOOF, Envelope{}, KindAutoReply, "X-Auto-Response-Suppress: All"},
		{"Exchange OOF", exchangeOOFNoSuppress, Envelope{}, KindAutoReply, "X-MS-Exchange-Generated-Message-Source"},
		{"Yandex autoreply", yandexAutoreply, Envelope{}, KindAutoReply, "X-Yandex-Autoreply"},
		{"Mail.ru autoreply", mailruAutoreply, Envelope{}, KindAutoReply, "auto-reply subject"},
		{"X-Autoreply", autoreplyHeader, Envelope{}, KindAutoReply, "X-Autoreply"},
		{"X-Autorespond", autorespondHeader, Envelope{}, KindAutoReply, "X-Autorespond"},
		{"Precedence auto_reply", precedenceAutoReply, Envelope{}, KindAutoReply, "Precedence: auto_reply"},
		{"null sender", nullSenderOnly, Envelope{}, KindAutoReply, "null envelope sender"},
		{"null SMTP sender", letter("From: robot@school.kz\nSubject: hi", "ok"), Envelope{Sender: "<>"}, KindAutoReply, "null envelope sender"},
		{"list mail", newsletter, Envelope{}, KindList, "List-Id"},
		{"bulk", bulk, Envelope{}, KindList, "Precedence: bulk"},
		{"Auto-Submitted: no", personAutoSubmittedNo, Envelope{}, KindNew, ""},
		{"forwarded by an inbox rule", forwardedByRule, Envelope{}, KindNew, ""},
		{"a person's letter", kazakhErasureLetter(), Envelope{}, KindNew, ""},
		{"Outlook read receipt", letter(`
From: Алия <a.bekova@school.kz>
To: no-reply@operator.kz
Subject: Прочитано: Ваш запрос
In-Reply-To: <rd.9.ack.a@operator.kz>
Content-Type: multipart/report; report-type=disposition-notification; boundary=R`, "--R\nContent-Type: text/plain\n\nВаше сообщение прочитано.\n--R\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822;a.bekova@school.kz\nDisposition: manual-action/MDN-sent-manually; displayed\n--R--\n"), Envelope{}, KindAutoReply, "read receipt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Read(tt.raw, tt.env, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if l.Class.Kind != tt.kind || l.Class.Reason != tt.reason {
				t.Errorf("class = %s (%q), want %s (%q)", l.Class.Kind, l.Class.Reason, tt.kind, tt.reason)
			}
			if l.Class.Automatic() != (tt.kind != KindNew && tt.kind != KindReply) {
				t.Errorf("Automatic() = %v", l.Class.Automatic())
			}
			if l.Class.Automatic() && l.Suggestion.Type != "" {
				t.Errorf("an automatic letter got a suggested type %q", l.Suggestion.Type)
			}
		})
	}
}

func TestClassifyReadsWhichEmailBouncedAndWhetherForGood(t *testing.T) {
	tests := []struct {
		name      string
		raw       []byte
		original  string
		recipient string
		status    string
		permanent bool
		standard  bool
	}{
		{"Postfix: unknown mailbox", postfixDSN, "rd.42.ack.7f3a@operator.kz", "aigerim.typo@gmail.com", "5.1.1", true, true},
		{"Exim: delayed", eximDelayDSN, "rd.43.info.9b1c@operator.kz", "student@school.kz", "4.0.0", false, true},
		{"Mail.ru: user not found", mailruBounce, "rd.44.done.0c2d@operator.kz", "old.address@mail.ru", "", true, false},
		{"Russian text", russianBounce, "rd.45.ack.1d3e@operator.kz", "", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Read(tt.raw, Envelope{}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := l.Class.Bounce
			if b == nil {
				t.Fatalf("no bounce: class %+v", l.Class)
			}
			if b.OriginalMessageID != tt.original || b.Permanent != tt.permanent || b.Standard != tt.standard {
				t.Errorf("bounce = %+v", b)
			}
			if tt.recipient == "" {
				return
			}
			if len(b.Recipients) != 1 || b.Recipients[0].Address != tt.recipient || b.Recipients[0].Status != tt.status || b.Recipients[0].Permanent != tt.permanent {
				t.Errorf("recipients = %+v", b.Recipients)
			}
		})
	}
	l, _ := Read(postfixDSN, Envelope{}, Options{})
	if d := l.Class.Bounce.Recipients[0].Diagnostic; !strings.HasPrefix(d, "smtp; 550-5.1.1 The email account") || strings.Contains(d, "\n") {
		t.Errorf("diagnostic = %q", d)
	}
}

func TestClassifyTakesASuccessReportForANoticeNotABounce(t *testing.T) {
	raw := letter(`
From: postmaster@school.kz
Subject: Delivery Status Notification (Relay)
Content-Type: multipart/report; report-type=delivery-status; boundary=B`, `
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.school.kz

Final-Recipient: rfc822; teacher@school.kz
Action: relayed
Status: 2.0.0

--B--
`)
	l, err := Read(raw, Envelope{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Class.Kind != KindAutoReply {
		t.Errorf("class = %+v", l.Class)
	}
}
