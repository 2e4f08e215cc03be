package app_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/inbound"
	"rightsdesk/internal/inbound/poller"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// The two operators' mailboxes: each has its own on the test run's
// Dovecot, and its own address on the deployment's one listener.
const (
	webstaperoBox = "privacy@webstapero.kz"
	flextokBox    = "help@flextokxumare.kz"
)

// mailOperators is the two operators reading mail: each its own
// IMAP mailbox, each its own address on the one listener.
type mailOperators struct {
	d                *app.Deployment
	smtp             *testkit.SMTPServer
	web, flex        *app.App
	webAcc, flexAcc  testkit.IMAPAccount
	webPoll, flexPol *poller.Poller
}

func startMailOperators(t *testing.T) *mailOperators {
	t.Helper()
	webAcc, flexAcc := testkit.IMAP(t), testkit.IMAP(t)
	file := `operators:
  - slug: webstapero
    BASE_URL: http://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
    PRIVACY_CONTACT_EMAIL: dpo@webstapero.kz
    INBOUND_IMAP_URL: ` + webAcc.PlainURL("") + `
    INBOUND_SMTP_ACCEPT: ` + webstaperoBox + `
  - slug: flextok
    BASE_URL: http://privacy.flextokxumare.kz
    ORG_NAME: Flextok Xumare
    PRIVACY_CONTACT_EMAIL: dpo@flextokxumare.kz
    MAIL_FROM: Flextok Xumare <` + flextokBox + `>
    PROMISED_DAYS: 30
    INBOUND_IMAP_URL: ` + flexAcc.PlainURL("") + `
    INBOUND_SMTP_ACCEPT: ` + flextokBox + `
`
	// Letters need no confirmation, so a reply threads on its request at once.
	d, _, smtp := operatorsFrom(t, file, map[string]string{"INBOUND_SMTP_ADDR": freePort(t), "VERIFY_EMAIL": "false"})
	m := &mailOperators{d: d, smtp: smtp, webAcc: webAcc, flexAcc: flexAcc}
	m.web, _ = d.App("webstapero")
	m.flex, _ = d.App("flextok")
	var err error
	if m.webPoll, err = m.web.Inbound.Poller(m.web.Inbound.Sink); err != nil {
		t.Fatal(err)
	}
	if m.flexPol, err = m.flex.Inbound.Poller(m.flex.Inbound.Sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.webPoll.Close(); _ = m.flexPol.Close() })
	stop, err := d.Inbound.StartListener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return m
}

// send hands a letter to the deployment's listener over the wire, for rcpts.
func (m *mailOperators) send(from string, rcpts []string, raw []byte) error {
	c, err := smtp.Dial(m.d.Inbound.SMTPAddr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, rcpts, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// requests are an operator's requests, newest first.
func requestsOf(t *testing.T, a *app.App) []store.QueueRow {
	t.Helper()
	page, err := a.Store.Queue(context.Background(), store.QueueFilter{Tab: store.TabAll}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return page.Rows
}

// only returns an operator's one request, failing when it has more or none.
func only(t *testing.T, a *app.App, slug string) request.Request {
	t.Helper()
	rows := requestsOf(t, a)
	if len(rows) != 1 {
		t.Fatalf("%s has %d requests, want 1", slug, len(rows))
	}
	r, err := a.Store.RequestByReference(context.Background(), rows[0].Reference)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// letterTo is mailLetter addressed to to.
func letterTo(to, from, name, subject, body, messageID string, at time.Time, extra ...string) []byte {
	raw := mailLetter(from, name, subject, body, messageID, at, extra...)
	return bytes.Replace(raw, []byte("To: "+privacyBox+"\r\n"), []byte("To: "+to+"\r\n"), 1)
}

const askingStudent = "dana.s@mail.example.kz"

func TestEachOperatorsLetterBecomesItsOwnTriageRequestWithItsOwnAcknowledgement(t *testing.T) {
	m := startMailOperators(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	// The same student writes to both operators' mailboxes.
	m.webAcc.Append(t, "INBOX", letterTo(webstaperoBox, askingStudent, "Дана Серикова", "Удалите мои данные",
		"Здравствуйте! Прошу удалить мои персональные данные и аккаунт.\n", "web-1@mail.example.kz", at), at)
	m.flexAcc.Append(t, "INBOX", letterTo(flextokBox, askingStudent, "Дана Серикова", "Какие данные вы храните?",
		"Здравствуйте! Прошу предоставить копию моих персональных данных.\n", "flex-1@mail.example.kz", at), at)
	for slug, p := range map[string]*poller.Poller{"webstapero": m.webPoll, "flextok": m.flexPol} {
		res, err := p.Poll(context.Background())
		if err != nil || res.Stored != 1 {
			t.Fatalf("%s's poll: stored %d, %v; want its own one letter", slug, res.Stored, err)
		}
	}

	// Each operator's letters are counted under its own label, on the
	// registry METRICS_ADDR serves.
	for _, slug := range []string{"webstapero", "flextok"} {
		if got := inboundLetters(t, m.d, slug); got != 1 {
			t.Errorf("rightsdesk_inbound_letters_total{operator=%q,source=\"imap\",kind=\"new\"} = %v, want 1", slug, got)
		}
	}

	cases := []struct {
		slug, org, from, reply, contact, host, other string
		a                                            *app.App
		typ                                          request.Type
	}{
		{"webstapero", "Webstapero Dev Notes", "no-reply@privacy.webstapero.kz", webstaperoBox, "dpo@webstapero.kz", "privacy.webstapero.kz", "Flextok", m.web, request.Erasure},
		{"flextok", "Flextok Xumare", flextokBox, flextokBox, "dpo@flextokxumare.kz", "privacy.flextokxumare.kz", "Webstapero", m.flex, request.Access},
	}
	for _, c := range cases {
		r := only(t, c.a, c.slug)
		if r.Status != request.Triage || r.Email != askingStudent || r.Type != c.typ {
			t.Errorf("%s: request %s is %s, %s, from %s; want its own letter in triage", c.slug, r.Reference, r.Status, r.Type, r.Email)
		}
		ack := m.smtp.WaitForMail(t, askingStudent, r.Reference, 20*time.Second)
		if got := ack.Header.Get("From"); !strings.Contains(got, c.from) {
			t.Errorf("%s's acknowledgement is from %q, want %s", c.slug, got, c.from)
		}
		// The reply address is the operator's, plus-addressed with the
		// reference (its listener takes privacy+tag@).
		local, domain, _ := strings.Cut(c.reply, "@")
		if got := ack.Header.Get("Reply-To"); !strings.HasPrefix(got, local+"+") || !strings.HasSuffix(got, "@"+domain) {
			t.Errorf("%s's acknowledgement: Reply-To %q, want %s plus-addressed", c.slug, got, c.reply)
		}
		if !strings.Contains(ack.Text, c.org) || strings.Contains(ack.Text, c.other) {
			t.Errorf("%s's acknowledgement does not sign as %s alone:\n%s", c.slug, c.org, ack.Text)
		}
		if l := ack.Links(); !strings.HasPrefix(l.Status, "http://"+c.host+"/") {
			t.Errorf("%s's status link %q is not on its own address", c.slug, l.Status)
		}
		// The operator's privacy contact is told of its own letter only.
		if n := len(m.smtp.WaitForMail(t, c.contact, r.Reference, 20*time.Second).To); n == 0 || len(m.smtp.Mailbox(c.contact)) != 1 {
			t.Errorf("%s's contact got %d notices, want one", c.slug, len(m.smtp.Mailbox(c.contact)))
		}
	}
	for slug, acc := range map[string]testkit.IMAPAccount{"webstapero": m.webAcc, "flextok": m.flexAcc} {
		if n := len(acc.Letters(t, "Processed")); n != 1 {
			t.Errorf("%s's mailbox: %d letters in Processed, want its own one", slug, n)
		}
	}

	// By the listener: a letter to Flextok's address is Flextok's.
	if err := m.send(askingStudent, []string{flextokBox}, letterTo(flextokBox, askingStudent, "Дана Серикова", "Исправьте фамилию",
		"Прошу исправить мою фамилию в профиле.\n", "flex-2@mail.example.kz", at)); err != nil {
		t.Fatalf("the listener refused a letter to Flextok: %v", err)
	}
	if n, w := len(requestsOf(t, m.flex)), len(requestsOf(t, m.web)); n != 2 || w != 1 {
		t.Errorf("after a letter to %s: Flextok has %d requests (want 2), Webstapero %d (want 1)", flextokBox, n, w)
	}
}

func TestALetterToFlextokQuotingAWebstaperoReferenceNeverReachesWebstaperosRequest(t *testing.T) {
	m := startMailOperators(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	if err := m.send(askingStudent, []string{webstaperoBox}, letterTo(webstaperoBox, askingStudent, "Дана Серикова", "Удалите мои данные",
		"Прошу удалить мои персональные данные.\n", "web-1@mail.example.kz", at)); err != nil {
		t.Fatal(err)
	}
	web := only(t, m.web, "webstapero")
	ack := m.smtp.WaitForMail(t, askingStudent, web.Reference, 20*time.Second)
	ackID := ack.Header.Get("Message-ID")
	if ackID == "" {
		t.Fatal("the acknowledgement has no Message-ID")
	}
	webMessages := messagesOf(t, m.web, web.Reference)

	// To Flextok, threaded every way at once on Webstapero's request: the
	// In-Reply-To of its acknowledgement, its reference in the subject and
	// in Flextok's plus-address.
	local, domain, _ := strings.Cut(flextokBox, "@")
	tag, err := inbound.ReferenceTag(web.Reference)
	if err != nil {
		t.Fatal(err)
	}
	tagged := local + "+" + tag.String() + "@" + domain
	raw := letterTo(tagged, askingStudent, "Дана Серикова", "Re: "+ack.Subject,
		"И ещё: прошу удалить данные и в Flextok.\n\n> "+web.Reference+"\n", "cross-1@mail.example.kz", at.Add(time.Hour),
		"In-Reply-To: "+ackID, "References: "+ackID)
	if err := m.send(askingStudent, []string{tagged}, raw); err != nil {
		t.Fatalf("the listener refused the letter to Flextok's plus-address: %v", err)
	}
	flex := only(t, m.flex, "flextok")
	if flex.Status != request.Triage || flex.Reference == web.Reference {
		t.Errorf("Flextok's letter became %s %s, want a new Flextok request in triage", flex.Reference, flex.Status)
	}
	if got := messagesOf(t, m.web, web.Reference); got != webMessages {
		t.Errorf("Webstapero's request has %d messages after Flextok's letter, want %d", got, webMessages)
	}
	if n := len(requestsOf(t, m.web)); n != 1 {
		t.Errorf("Webstapero has %d requests, want its one", n)
	}
	// Flextok answers its new request from its own address.
	fack := m.smtp.WaitForMail(t, askingStudent, flex.Reference, 20*time.Second)
	if !strings.Contains(fack.Header.Get("From"), flextokBox) || strings.Contains(fack.Text, "Webstapero") {
		t.Errorf("Flextok's acknowledgement from %q:\n%s", fack.Header.Get("From"), fack.Text)
	}

	// Flextok's staff answer from Flextok's address, in the letter's
	// thread, and her reply to that comes back to Flextok's request.
	ctx := context.Background()
	agent, err := m.flex.Auth.CreateWithPassword(ctx, auth.AccountInput{Email: "agent@flextokxumare.kz", Name: "Асель", Role: string(auth.Agent), Locale: "ru", Password: apptest.StaffPassword})
	if err != nil {
		t.Fatal(err)
	}
	by := request.ByStaff(agent.ID)
	if _, err := m.flex.Desk.Triage(ctx, flex.Reference, by, request.Retype{Type: request.Erasure}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.flex.Desk.Assign(ctx, flex.Reference, by, agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.flex.Desk.Start(ctx, flex.Reference, by); err != nil {
		t.Fatal(err)
	}
	if _, err := m.flex.Desk.AskForInformation(ctx, flex.Reference, by, "Укажите, пожалуйста, логин в Flextok."); err != nil {
		t.Fatal(err)
	}
	asked := m.smtp.WaitForMail(t, askingStudent, "Нужна информация по вашему запросу "+flex.Reference, 20*time.Second)
	flexTag, _ := inbound.ReferenceTag(flex.Reference)
	flexPlus, _ := inbound.ReplyAddress(flextokBox, flexTag)
	if !strings.Contains(asked.Header.Get("From"), flextokBox) || asked.Header.Get("Reply-To") != flexPlus ||
		asked.Header.Get("In-Reply-To") != "<cross-1@mail.example.kz>" || !strings.Contains(asked.Text, "Flextok Xumare") || strings.Contains(asked.Text, "Webstapero") {
		t.Errorf("Flextok's question: From %q, Reply-To %q (want %s), In-Reply-To %q:\n%s",
			asked.Header.Get("From"), asked.Header.Get("Reply-To"), flexPlus, asked.Header.Get("In-Reply-To"), asked.Text)
	}
	answer := letterTo(flexPlus, askingStudent, "Дана Серикова", "Re: "+asked.Subject, "Логин: dana.s\n", "flex-answer@mail.example.kz",
		at.Add(90*time.Minute), "In-Reply-To: "+asked.Header.Get("Message-ID"))
	if err := m.send(askingStudent, []string{flexPlus}, answer); err != nil {
		t.Fatal(err)
	}
	if r, err := m.flex.Store.RequestByReference(ctx, flex.Reference); err != nil || r.Status != request.InProgress {
		t.Errorf("Flextok's request after her answer: %s, %v; want in_progress", r.Status, err)
	}
	if got := messagesOf(t, m.web, web.Reference); got != webMessages {
		t.Errorf("Webstapero's request has %d messages after her answer to Flextok, want %d", got, webMessages)
	}

	// The same reply to Webstapero's own address threads on its request.
	own := letterTo(webstaperoBox, askingStudent, "Дана Серикова", "Re: "+ack.Subject,
		"Уточняю: аккаунт dana.s.\n", "web-2@mail.example.kz", at.Add(2*time.Hour), "In-Reply-To: "+ackID)
	if err := m.send(askingStudent, []string{webstaperoBox}, own); err != nil {
		t.Fatal(err)
	}
	if got := messagesOf(t, m.web, web.Reference); got != webMessages+1 {
		t.Errorf("Webstapero's request has %d messages after its own reply, want %d", got, webMessages+1)
	}
}

// messagesOf counts the conversation of an operator's request.
func messagesOf(t *testing.T, a *app.App, reference string) int {
	t.Helper()
	r, err := a.Store.RequestByReference(context.Background(), reference)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := a.Store.Messages(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

func TestTheListenerRefusesALetterToNoOperatorsAddress(t *testing.T) {
	m := startMailOperators(t)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, rcpt := range []string{"privacy@elsewhere.kz", "help@webstapero.kz", "privacy@flextokxumare.kz"} {
		err := m.send(askingStudent, []string{rcpt}, letterTo(rcpt, askingStudent, "Дана", "Удалите данные", "Прошу удалить.\n", "x-"+rcpt, at))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("a letter to %s: %v, want 550 at RCPT", rcpt, err)
		}
	}
	if w, f := len(requestsOf(t, m.web)), len(requestsOf(t, m.flex)); w != 0 || f != 0 {
		t.Errorf("refused letters made requests: Webstapero %d, Flextok %d", w, f)
	}

	// A letter to both operators' addresses is a letter to each.
	both := letterTo(webstaperoBox+", "+flextokBox, askingStudent, "Дана Серикова", "Удалите мои данные",
		"Прошу удалить мои персональные данные везде.\n", "both-1@mail.example.kz", at)
	if err := m.send(askingStudent, []string{webstaperoBox, flextokBox}, both); err != nil {
		t.Fatal(err)
	}
	w, f := only(t, m.web, "webstapero"), only(t, m.flex, "flextok")
	if w.Reference == f.Reference || w.Status != request.Triage || f.Status != request.Triage {
		t.Errorf("the letter to both: %s %s and %s %s, want a triage request of each", w.Reference, w.Status, f.Reference, f.Status)
	}
	// Sent again (the sending server's retry): nothing doubles.
	if err := m.send(askingStudent, []string{webstaperoBox, flextokBox}, both); err != nil {
		t.Fatal(err)
	}
	if w, f := len(requestsOf(t, m.web)), len(requestsOf(t, m.flex)); w != 1 || f != 1 {
		t.Errorf("the letter to both sent twice: Webstapero %d, Flextok %d requests, want 1 each", w, f)
	}
}

// inboundLetters is the count of new letters by IMAP for the operator slug
// on the deployment's metrics registry.
func inboundLetters(t *testing.T, d *app.Deployment, slug string) float64 {
	t.Helper()
	families, err := d.Apps[0].Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "rightsdesk_inbound_letters_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operator"] == slug && labels["source"] == "imap" && labels["kind"] == "new" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
