package app_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	netsmtp "net/smtp"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/deadline"
	"rightsdesk/internal/inbound"
	"rightsdesk/internal/inbound/listener"
	"rightsdesk/internal/inbound/poller"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// The privacy mailbox of the test school: the polled mailbox's letters
// and the listener's are addressed to it, and replies go back to it.
const privacyBox = "privacy@school.example.kz"

// mailDesk is an instance reading a real mailbox on the test run's Dovecot
// (and, with listen, the inbound SMTP listener on a free port).
type mailDesk struct {
	*apptest.Instance
	acc    testkit.IMAPAccount
	poller *poller.Poller
}

func startMailDesk(t *testing.T, listen bool, env map[string]string) *mailDesk {
	t.Helper()
	acc := testkit.IMAP(t)
	vars := map[string]string{"INBOUND_IMAP_URL": acc.PlainURL(""), "INBOUND_REPLY_TO": privacyBox}
	if listen {
		vars["INBOUND_SMTP_ADDR"] = freePort(t)
		vars["INBOUND_SMTP_ACCEPT"] = privacyBox
	}
	for k, v := range env {
		vars[k] = v
	}
	inst := apptest.Start(t, vars)
	p, err := inst.App.Inbound.Poller(inst.App.Inbound.Sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	d := &mailDesk{Instance: inst, acc: acc, poller: p}
	if listen {
		d.startListener(t)
	}
	return d
}

// startListener starts the listener alone (the test polls the mailbox
// itself, so that each poll is one the test chose).
func (d *mailDesk) startListener(t *testing.T) {
	t.Helper()
	stop, err := d.App.Inbound.StartListener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

// poll polls the mailbox once and lets the workers send what it caused.
func (d *mailDesk) poll(t *testing.T) poller.Result {
	t.Helper()
	res, err := d.poller.Poll(context.Background())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	d.Settle(t)
	return res
}

// send hands a letter to the listener over the wire, as a mail server
// forwarding it would.
func (d *mailDesk) send(from string, raw []byte) error {
	return netsmtp.SendMail(d.App.Inbound.SMTPAddr().String(), nil, from, []string{privacyBox}, raw)
}

// mailLetter is a letter as a mail client writes it: UTF-8 text, the
// subject encoded, CRLF line ends; extra are more header lines.
func mailLetter(from, name, subject, body, messageID string, at time.Time, extra ...string) []byte {
	h := []string{
		"From: " + mime.BEncoding.Encode("UTF-8", name) + " <" + from + ">",
		"To: " + privacyBox,
		"Subject: " + mime.BEncoding.Encode("UTF-8", subject),
		"Date: " + at.Format(time.RFC1123Z),
		"Message-ID: <" + messageID + ">",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=UTF-8",
		"Content-Transfer-Encoding: base64",
	}
	h = append(h, extra...)
	b64 := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	var wrapped []string
	for len(b64) > 76 {
		wrapped, b64 = append(wrapped, b64[:76]), b64[76:]
	}
	wrapped = append(wrapped, b64)
	return []byte(strings.Join(h, "\r\n") + "\r\n\r\n" + strings.Join(wrapped, "\r\n") + "\r\n")
}

const kazakhSender = "aigerim.n@gmail.example.kz"

// A student writes in Kazakh asking for her data to be deleted.
func kazakhLetter(at time.Time) []byte {
	return mailLetter(kazakhSender, "Айгерім Нұрланқызы", "Дербес деректерді жою",
		"Сәлеметсіз бе!\n\nМен сіздің платформаңызда тіркелгенмін. Менің дербес деректерімді жоюыңызды сұраймын: "+
			"аккаунтымды және барлық жеке ақпаратымды толық жойыңыз.\n\nҚұрметпен,\nАйгерім Нұрланқызы\n",
		"CAF3kz9xQ2@mail.gmail.example.kz", at)
}

// onlyRequest returns the one request there is, failing when there are
// more or none.
func onlyRequest(t *testing.T, inst *apptest.Instance) request.Request {
	t.Helper()
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	var ref string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT reference FROM requests`).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	return inst.Request(t, ref)
}

func TestKazakhLetterBecomesAKazakhRequestInTriage(t *testing.T) {
	d := startMailDesk(t, false, nil) // VERIFY_EMAIL is on by default
	arrived := d.Clock.Now().Add(-3 * time.Hour).Truncate(time.Second)
	d.acc.Append(t, "INBOX", kazakhLetter(arrived), arrived)

	if res := d.poll(t); res.Stored != 1 {
		t.Fatalf("poll stored %d letters, want 1 (%+v)", res.Stored, res)
	}
	if n := len(d.acc.Letters(t, "INBOX")); n != 0 {
		t.Errorf("%d letters left in INBOX after they were stored", n)
	}
	if n := len(d.acc.Letters(t, "Processed")); n != 1 {
		t.Errorf("%d letters in Processed, want 1", n)
	}
	r := onlyRequest(t, d.Instance)
	if r.Status != request.Triage || r.Locale != request.Kazakh || r.Type != request.Erasure || r.Email != kazakhSender {
		t.Errorf("request %s: status %s, locale %s, type %s, email %s; want triage, kk, erasure, %s",
			r.Reference, r.Status, r.Locale, r.Type, r.Email, kazakhSender)
	}
	if !r.ReceivedAt.Equal(arrived) {
		t.Errorf("received at %v, want the mailbox's arrival %v (the law counts from receipt)", r.ReceivedAt, arrived)
	}
	if !strings.Contains(r.Details, "дербес деректерімді жоюыңызды сұраймын") || r.FullName != "Айгерім Нұрланқызы" {
		t.Errorf("details %q, name %q: want the letter's text and the sender's name", r.Details, r.FullName)
	}
	if !r.ConfirmedAt.IsZero() {
		t.Errorf("confirmed at %v before the sender opened any link", r.ConfirmedAt)
	}
	// The letter is kept sealed: its text appears nowhere in the clear.
	if n := d.Count(t, `SELECT count(*) FROM letters WHERE position(convert_to('жоюыңызды', 'UTF8') IN raw) > 0
		OR position(convert_to('жоюыңызды', 'UTF8') IN view) > 0`); n != 0 {
		t.Error("the letter is stored in the clear")
	}
	if n := d.Count(t, `SELECT count(*) FROM letters WHERE raw IS NOT NULL AND view IS NOT NULL AND request_id IS NOT NULL`); n != 1 {
		t.Errorf("%d letters kept with their request, want 1", n)
	}

	ack := d.SMTP.WaitForMail(t, kazakhSender, r.Reference, 20*time.Second)
	if ack.Subject != "Хатыңызды алдық: "+r.Reference+" сұрауы" {
		t.Errorf("acknowledgement subject %q, want it in Kazakh with the reference", ack.Subject)
	}
	links := ack.Links()
	if links.Status == "" || links.Confirm == "" {
		t.Fatalf("the acknowledgement lacks the status link or the confirmation link:\n%s", ack.Text)
	}
	// The acknowledgement answers the letter in its thread, as a person's
	// reply would, so the sender's mail client shows them together.
	if got := ack.Header.Get("In-Reply-To"); got != "<CAF3kz9xQ2@mail.gmail.example.kz>" {
		t.Errorf("the acknowledgement's In-Reply-To %q, want the letter's Message-ID", got)
	}
	if !strings.Contains(ack.Text, "Оған жауап беруге болады: жауабыңыз сұрауыңызға түседі.") {
		t.Errorf("the footer does not say replies are read:\n%s", ack.Text)
	}
	// A hosted mailbox may refuse plus-addresses: the plain address, and
	// the reference in the subject to thread by.
	if got := ack.Header.Get("Reply-To"); got != privacyBox || ack.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Reply-To %q (want %q), Auto-Submitted %q", got, privacyBox, ack.Header.Get("Auto-Submitted"))
	}
	// The secret links reach the sender's mailbox only.
	for _, m := range d.SMTP.Messages() {
		if m.To[0] == kazakhSender {
			continue
		}
		if strings.Contains(m.Text, links.Status) || strings.Contains(m.Text, links.Confirm) || strings.Contains(m.Text, "/s/") {
			t.Errorf("email %q to %v carries a secret link", m.Subject, m.To)
		}
	}
	notice := d.SMTP.WaitForMail(t, "privacy@school.example.kz", r.Reference, 20*time.Second)
	if !strings.Contains(notice.Text, r.Reference) {
		t.Errorf("the privacy contact's notice does not name the request:\n%s", notice.Text)
	}

	// Staff find it in the Triage tab, with its count, and see the letter.
	d.AddStaff(t, "officer@school.example.kz", "Гүлнар Офицер", auth.Admin)
	staff := d.SignIn(t, "officer@school.example.kz")
	_, page := d.Get(t, staff, "/staff?tab=triage")
	if !strings.Contains(page, `/staff/requests/`+r.Reference+`"`) || tabCounts(page)[store.TabTriage] != "1" {
		t.Errorf("the Triage tab does not list %s with the count 1 (count %q)", r.Reference, tabCounts(page)[store.TabTriage])
	}
	_, page = d.Get(t, staff, "/staff/requests/"+r.Reference)
	for _, want := range []string{"Айгерім Нұрланқызы &lt;" + kazakhSender + "&gt;", "Дербес деректерді жою", "дербес деректерімді жоюыңызды сұраймын", `action="/staff/requests/` + r.Reference + `/triage"`,
		"Судя по словам письма, это: Удаление данных (найденные слова: "} {
		if !strings.Contains(page, want) {
			t.Errorf("the request page lacks %q", want)
		}
	}
	if strings.Contains(page, strings.TrimPrefix(links.Status, d.URL)) || strings.Contains(page, strings.TrimPrefix(links.Confirm, d.URL)) {
		t.Error("the staff page shows a secret link")
	}

	// The sender confirms the address: the letter stays in triage.
	c := browser(t)
	_, confirmPage := get(t, c, links.Confirm)
	if resp, _ := post(t, c, links.Confirm, url.Values{"_csrf": {formToken(t, confirmPage)}}); resp.StatusCode != 200 {
		t.Fatalf("confirmation: %d", resp.StatusCode)
	}
	if r = d.Request(t, r.Reference); r.Status != request.Triage || r.ConfirmedAt.IsZero() {
		t.Fatalf("after confirming: %s, confirmed %v; want still triage, confirmed", r.Status, r.ConfirmedAt)
	}
	if confirmed := d.SMTP.WaitForMail(t, kazakhSender, "расталды", 20*time.Second); !strings.Contains(confirmed.Text, "Хатыңызды ("+r.Reference+") оқып жатырмыз") {
		t.Errorf("the confirmation says work started on a letter still in triage:\n%s", confirmed.Text)
	}
	// The status page says, in Kazakh, that the letter is being read.
	if _, status := get(t, browser(t), d.URL+mailedStatusPath(t, d.Instance, kazakhSender, r.Reference)); !strings.Contains(status, "Қабылданды: хатыңызды оқып жатырмыз") {
		t.Error("the status page does not say the letter is being read")
	}

	// A type the deployment does not offer, or access without what the
	// person wants, is refused and changes nothing.
	for _, bad := range []url.Values{{"type": {"bogus"}}, {"type": {"access"}}} {
		bad.Set("_csrf", apptest.CSRFToken(page))
		if resp, body := d.Post(t, staff, "/staff/requests/"+r.Reference+"/triage", bad); resp.StatusCode != 422 ||
			!strings.Contains(body, "Выберите один из предложенных типов") {
			t.Errorf("triage as %v: %d", bad, resp.StatusCode)
		}
	}
	if got := d.Request(t, r.Reference); got.Status != request.Triage || got.Type != request.Erasure {
		t.Fatalf("a refused triage changed the request: %s %s", got.Status, got.Type)
	}
	// Staff change the type: the due date follows the chosen type's rule,
	// counted from the receipt.
	resp, _ := d.Post(t, staff, "/staff/requests/"+r.Reference+"/triage", url.Values{"_csrf": {apptest.CSRFToken(page)}, "type": {"access"}, "access_scope": {"copy"}})
	if resp.StatusCode != 303 {
		t.Fatalf("triage: %d", resp.StatusCode)
	}
	r = d.Request(t, r.Reference)
	want, err := d.App.Desk.Deadlines.Due(deadline.Input{Type: "access", ReceivedAt: arrived, ConfirmedAt: r.ConfirmedAt})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != request.New || r.Type != request.Access || r.AccessScope != "copy" || !r.DueAt.Equal(want.DueAt) {
		t.Errorf("after triage: %s %s %s due %v; want new, access, copy, due %v", r.Status, r.Type, r.AccessScope, r.DueAt, want.DueAt)
	}
	if n := d.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.kind = 'triaged' AND e.data->>'from_type' = 'erasure' AND e.data->>'type' = 'access'`, r.Reference); n != 1 {
		t.Error("the triage is not logged with the suggested and the confirmed type")
	}
}

func TestTheSameLetterTwiceMakesOneRequest(t *testing.T) {
	d := startMailDesk(t, true, map[string]string{"VERIFY_EMAIL": "false"})
	arrived := d.Clock.Now().Add(-time.Hour).Truncate(time.Second)
	raw := kazakhLetter(arrived)
	// The mailbox holds two copies (a client sent it twice), and the
	// forwarding rule brings it to the listener as well.
	d.acc.Append(t, "INBOX", raw, arrived)
	d.acc.Append(t, "INBOX", raw, arrived.Add(time.Minute))
	if res := d.poll(t); res.Stored != 1 || res.Duplicates != 1 {
		t.Errorf("poll: %+v, want one stored and one duplicate", res)
	}
	if err := d.send(kazakhSender, raw); err != nil {
		t.Errorf("the listener refused a letter it had already: %v", err)
	}
	d.acc.Append(t, "INBOX", raw, arrived.Add(2*time.Minute))
	if res := d.poll(t); res.Stored != 0 || res.Duplicates != 1 {
		t.Errorf("second poll: %+v, want one duplicate", res)
	}
	r := onlyRequest(t, d.Instance)
	if n := d.Count(t, `SELECT count(*) FROM letters`); n != 1 {
		t.Errorf("%d letters stored, want 1", n)
	}
	if n := len(d.SMTP.Mailbox(kazakhSender)); n != 1 {
		t.Errorf("the sender got %d emails, want one acknowledgement", n)
	}
	if !r.ReceivedAt.Equal(arrived) {
		t.Errorf("received at %v, want the first copy's %v", r.ReceivedAt, arrived)
	}
	if n := len(d.acc.Letters(t, "INBOX")); n != 0 {
		t.Errorf("%d copies left in INBOX", n)
	}
}

func TestLetterByTheListenerBecomesARequest(t *testing.T) {
	d := startMailDesk(t, true, map[string]string{"VERIFY_EMAIL": "false"})
	raw := mailLetter("ivan.petrov@mail.example.ru", "Иван Петров", "Удаление данных",
		"Здравствуйте! Прошу удалить мои персональные данные из вашей системы.\n\nИван Петров\n",
		"r1@mail.example.ru", d.Clock.Now())
	if err := d.send("ivan.petrov@mail.example.ru", raw); err != nil {
		t.Fatal(err)
	}
	d.Settle(t)
	r := onlyRequest(t, d.Instance)
	if r.Status != request.Triage || r.Locale != request.Russian || r.Type != request.Erasure || r.ConfirmedAt.IsZero() {
		t.Errorf("%s %s %s confirmed %v; want triage, ru, erasure, confirmed at receipt (VERIFY_EMAIL off)", r.Status, r.Locale, r.Type, r.ConfirmedAt)
	}
	ack := d.SMTP.WaitForMail(t, "ivan.petrov@mail.example.ru", r.Reference, 20*time.Second)
	if ack.Subject != "Мы получили ваше письмо: запрос "+r.Reference || ack.Links().Status == "" || ack.Links().Confirm != "" {
		t.Errorf("acknowledgement %q: want it in Russian with the status link and no confirmation link:\n%s", ack.Subject, ack.Text)
	}
	if got := ack.Header.Get("In-Reply-To"); got != "<r1@mail.example.ru>" || ack.Header.Get("References") != "<r1@mail.example.ru>" {
		t.Errorf("the acknowledgement's In-Reply-To %q, References %q: want the letter's Message-ID", got, ack.Header.Get("References"))
	}
}

// brokenSink is the instance's sink on a pool that is closed: every letter
// fails to be stored, as when the database is down.
func brokenSink(t *testing.T, inst *apptest.Instance) inbound.Sink {
	t.Helper()
	closed, err := pgxpool.New(context.Background(), inst.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	m := *inst.App.Mailroom
	m.Repo = store.New(closed, nil, inst.Config.Keys)
	return app.NewLetterSink(&m)
}

func TestDatabaseDownWhilePollingLosesNothingAndDoublesNothing(t *testing.T) {
	d := startMailDesk(t, false, nil)
	arrived := d.Clock.Now().Add(-time.Hour).Truncate(time.Second)
	d.acc.Append(t, "INBOX", kazakhLetter(arrived), arrived)

	down, err := d.App.Inbound.Poller(brokenSink(t, d.Instance))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, err := down.Poll(context.Background()); !errors.Is(err, poller.ErrStore) {
		t.Fatalf("poll with the database down: %v, want a store error", err)
	}
	if n := len(d.acc.Letters(t, "INBOX")); n != 1 {
		t.Fatalf("%d letters in INBOX after a failed store, want the letter still there", n)
	}
	if n := d.Count(t, `SELECT count(*) FROM requests`) + d.Count(t, `SELECT count(*) FROM letters`); n != 0 {
		t.Fatalf("a failed store left %d rows", n)
	}
	// The database is back: the next polls store it once.
	if res := d.poll(t); res.Stored != 1 {
		t.Fatalf("poll after the outage: %+v", res)
	}
	if res := d.poll(t); res.Stored+res.Duplicates != 0 {
		t.Errorf("a third poll found %+v", res)
	}
	onlyRequest(t, d.Instance)
	if n := len(d.SMTP.Mailbox(kazakhSender)); n != 1 {
		t.Errorf("the sender got %d emails, want one acknowledgement", n)
	}
}

func TestDatabaseDownAnswers451AndTheRetryIsStoredOnce(t *testing.T) {
	d := startMailDesk(t, true, map[string]string{"VERIFY_EMAIL": "false"})
	// A second listener on the same instance whose sink cannot reach the
	// database.
	l, err := listener.New(listener.Options{Accept: []string{privacyBox}, Sink: brokenSink(t, d.Instance), Read: d.App.Inbound.Read})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.Serve(ln) }()
	t.Cleanup(func() { _ = l.Shutdown(context.Background()) })
	raw := kazakhLetter(d.Clock.Now())
	err = netsmtp.SendMail(ln.Addr().String(), nil, kazakhSender, []string{privacyBox}, raw)
	if err == nil || !strings.HasPrefix(err.Error(), "451") {
		t.Fatalf("with the database down the listener answered %v, want 451 (try again)", err)
	}
	if n := d.Count(t, `SELECT count(*) FROM letters`); n != 0 {
		t.Fatalf("%d letters stored by a failed delivery", n)
	}
	// The sending server retries, twice: one request.
	for i := range 2 {
		if err := d.send(kazakhSender, raw); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
	}
	d.Settle(t)
	onlyRequest(t, d.Instance)
	if n := len(d.SMTP.Mailbox(kazakhSender)); n != 1 {
		t.Errorf("the sender got %d emails, want one acknowledgement", n)
	}
}

func TestServeReadsTheMailboxAndListensWhenConfigured(t *testing.T) {
	acc := testkit.IMAP(t)
	smtpIn, metricsAddr := freePort(t), freePort(t)
	dbURL := testkit.DBURL(t)
	cfg := serveConfig(t, testkit.StartSMTP(t), map[string]string{
		"DATABASE_URL": dbURL, "METRICS_ADDR": metricsAddr, "VERIFY_EMAIL": "false",
		"INBOUND_IMAP_URL": acc.PlainURL(""), "INBOUND_SMTP_ADDR": smtpIn, "INBOUND_SMTP_ACCEPT": privacyBox,
	})
	now := time.Now().Truncate(time.Second)
	acc.Append(t, "INBOX", kazakhLetter(now), now)
	stop := startServe(t, cfg)

	raw := mailLetter("ivan.petrov@mail.example.ru", "Иван Петров", "Удаление данных",
		"Прошу удалить мои персональные данные.\n", "r2@mail.example.ru", now)
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = netsmtp.SendMail(smtpIn, nil, "ivan.petrov@mail.example.ru", []string{privacyBox}, raw); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the listener of serve never took the letter: %v", err)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && n < 2; time.Sleep(50 * time.Millisecond) {
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM requests WHERE status = 'triage'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Fatalf("%d letters became requests, want the polled one and the received one", n)
	}
	if code, text := scrape(t, "http://"+metricsAddr+"/metrics"); code != 200 || !strings.Contains(text, `rightsdesk_inbound_letters_total`) {
		t.Errorf("the inbound metrics are not on the app's registry (%d)", code)
	}
	stop()
	if conn, err := net.DialTimeout("tcp", smtpIn, time.Second); err == nil {
		_ = conn.Close()
		t.Error("the inbound listener still accepts connections after Serve returned")
	}
}

// lettered files the Kazakh letter, triages it as erasure, assigns it to
// an agent and asks the sender for information: the request then waits
// for her. It returns the request and the email that asked.
func (d *mailDesk) lettered(t *testing.T) (request.Request, auth.Staff, testkit.ReceivedMessage) {
	t.Helper()
	ctx := context.Background()
	arrived := d.Clock.Now().Add(-time.Hour).Truncate(time.Second)
	d.acc.Append(t, "INBOX", kazakhLetter(arrived), arrived)
	d.poll(t)
	r := onlyRequest(t, d.Instance)
	officer := d.AddStaff(t, "officer@school.example.kz", "Гүлнар Офицер", auth.Admin)
	agent := d.AddStaff(t, "daniyar@school.example.kz", "Daniyar", auth.Agent)
	if _, err := d.App.Desk.Triage(ctx, r.Reference, request.ByStaff(officer.ID), request.Retype{Type: request.Erasure}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.App.Desk.Assign(ctx, r.Reference, request.ByStaff(officer.ID), agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.App.Desk.Start(ctx, r.Reference, request.ByStaff(agent.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.App.Desk.AskForInformation(ctx, r.Reference, request.ByStaff(agent.ID), "Аккаунтыңызға тіркелген телефон нөмірін жазыңызшы."); err != nil {
		t.Fatal(err)
	}
	d.Settle(t)
	asked := d.SMTP.WaitForMail(t, kazakhSender, "ақпарат", 20*time.Second)
	return d.Request(t, r.Reference), agent, asked
}

// reply is the sender's answer to email m, with the quoted history her
// client adds; headers are the threading lines to put (none: a new letter
// that names the request only in its subject).
func reply(from, subject, messageID string, at time.Time, headers ...string) []byte {
	return mailLetter(from, "Айгерім Нұрланқызы", subject,
		"Телефон нөмірім: +7 701 555 12 34.\n\n"+at.Format("02.01.2006, 15:04")+", Онлайн-школа <"+privacyBox+">:\n"+
			"> Аккаунтыңызға тіркелген телефон нөмірін жазыңызшы.\n",
		messageID, at, headers...)
}

// withPDF makes a single-part letter from mailLetter multipart, with a
// PDF named name attached after its text.
func withPDF(raw []byte, name string) []byte {
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	var h []string
	var partHead []string
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "Content-Type:") || strings.HasPrefix(line, "Content-Transfer-Encoding:") {
			partHead = append(partHead, line)
			continue
		}
		h = append(h, line)
	}
	h = append(h, `Content-Type: multipart/mixed; boundary="PDFMIX"`)
	pdf := base64.StdEncoding.EncodeToString(append([]byte("%PDF-1.7\n"), []byte(strings.Repeat("1", 1500))...))
	return []byte(strings.Join(h, "\r\n") + "\r\n\r\n--PDFMIX\r\n" + strings.Join(partHead, "\r\n") + "\r\n\r\n" + body +
		"--PDFMIX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + pdf + "\r\n--PDFMIX--\r\n")
}

// conversation is the request's messages from the requester, oldest first.
func conversation(t *testing.T, d *mailDesk, r request.Request) []string {
	t.Helper()
	msgs, err := d.App.Store.Messages(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Author == request.ActorRequester {
			out = append(out, m.Body)
		}
	}
	return out
}

func TestEmailReplyThreadsOntoItsRequestAndResumesWork(t *testing.T) {
	for _, by := range []string{"in-reply-to", "subject", "plus-address"} {
		t.Run(by, func(t *testing.T) {
			d := startMailDesk(t, true, map[string]string{"VERIFY_EMAIL": "false"})
			r, agent, asked := d.lettered(t)
			if r.Status != request.AwaitingRequester {
				t.Fatalf("before the reply: %s", r.Status)
			}
			tag, _ := inbound.ReferenceTag(r.Reference)
			plus, _ := inbound.ReplyAddress(privacyBox, tag)
			if got := asked.Header.Get("Reply-To"); got != plus {
				t.Errorf("the question's Reply-To is %q, want %q", got, plus)
			}
			at := d.Clock.Now()
			switch by {
			case "in-reply-to":
				// Her client keeps the thread but drops the reference, and she
				// attaches a document.
				d.acc.Append(t, "INBOX", withPDF(reply(kazakhSender, "Жауап", "rep1@mail.gmail.example.kz", at,
					"In-Reply-To: <"+asked.MessageID+">", "References: <CAF3kz9xQ2@mail.gmail.example.kz> <"+asked.MessageID+">"), "kuelik.pdf"), at)
				d.poll(t)
			case "subject":
				// A new letter, not a reply, with the reference in its subject.
				d.acc.Append(t, "INBOX", reply(kazakhSender, "Менің сұрауым "+r.Reference, "rep2@mail.gmail.example.kz", at), at)
				d.poll(t)
			case "plus-address":
				// Sent to the plus-address, through the listener, with neither.
				raw := reply(kazakhSender, "Телефон", "rep3@mail.gmail.example.kz", at)
				raw = []byte(strings.Replace(string(raw), "To: "+privacyBox, "To: "+plus, 1))
				if err := netsmtp.SendMail(d.App.Inbound.SMTPAddr().String(), nil, kazakhSender, []string{plus}, raw); err != nil {
					t.Fatal(err)
				}
				d.Settle(t)
			}
			if n := d.Count(t, `SELECT count(*) FROM requests`); n != 1 {
				t.Fatalf("the reply made %d requests, want it on the first", n)
			}
			r = d.Request(t, r.Reference)
			if r.Status != request.InProgress {
				t.Errorf("after the reply: %s, want in_progress", r.Status)
			}
			msgs := conversation(t, d, r)
			if len(msgs) != 1 || !strings.Contains(msgs[0], "+7 701 555 12 34") || strings.Contains(msgs[0], "Аккаунтыңызға тіркелген") {
				t.Errorf("conversation %q: want the reply without its quoted history", msgs)
			}
			if by == "in-reply-to" {
				files := d.Files(t, r.Reference)
				if len(files) != 1 || files[0].Name != "kuelik.pdf" || files[0].MessageID == 0 {
					t.Errorf("files %+v: want the reply's PDF on its message", files)
				}
			}
			notice := d.SMTP.WaitForMail(t, "daniyar@school.example.kz", r.Reference, 20*time.Second)
			if !strings.Contains(notice.Subject, "Ответ заявителя") {
				t.Errorf("the assignee was told %q", notice.Subject)
			}
			if n := d.Count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'requester_replied' AND data->>'via' = 'email'`, r.ID); n != 1 {
				t.Error("the reply is not logged as one by email")
			}
			if n := len(d.SMTP.Mailbox(kazakhSender)); n != 2 {
				t.Errorf("the sender got %d emails, want the acknowledgement and the question only (a reply is not acknowledged)", n)
			}

			// The agent's next answer continues her thread.
			if _, err := d.App.Desk.AskForInformation(context.Background(), r.Reference, request.ByStaff(agent.ID), "Рақмет! Тағы бір сұрақ: туған күніңіз?"); err != nil {
				t.Fatal(err)
			}
			d.Settle(t)
			var next testkit.ReceivedMessage
			for _, m := range d.SMTP.Mailbox(kazakhSender) {
				if strings.Contains(m.Text, "туған күніңіз") {
					next = m
				}
			}
			wantID := map[string]string{"in-reply-to": "rep1", "subject": "rep2", "plus-address": "rep3"}[by] + "@mail.gmail.example.kz"
			if got := next.Header.Get("In-Reply-To"); got != "<"+wantID+">" || !strings.Contains(next.Header.Get("References"), "<"+wantID+">") {
				t.Errorf("the staff answer's In-Reply-To %q, References %q: want her last letter %s", got, next.Header.Get("References"), wantID)
			}
		})
	}
}

func TestReplyFromAnotherAddressGoesToTriageWithAWarning(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	r, _, asked := d.lettered(t)
	at := d.Clock.Now()
	// Someone else writes with the reference in the subject, even with the
	// thread's headers.
	d.acc.Append(t, "INBOX", reply("someone.else@example.com", "Re: "+r.Reference, "x1@example.com", at,
		"In-Reply-To: <"+asked.MessageID+">"), at)
	d.poll(t)
	if r2 := d.Request(t, r.Reference); r2.Status != request.AwaitingRequester || len(conversation(t, d, r2)) != 0 {
		t.Errorf("a letter from another address changed %s: %s, %d messages", r.Reference, r2.Status, len(conversation(t, d, r2)))
	}
	var other string
	if err := d.Pool.QueryRow(t.Context(), `SELECT reference FROM requests WHERE reference <> $1`, r.Reference).Scan(&other); err != nil {
		t.Fatalf("the letter from another address made no request of its own: %v", err)
	}
	o := d.Request(t, other)
	if o.Status != request.Triage || o.Email != "someone.else@example.com" {
		t.Errorf("the other letter's request: %s from %s, want triage from someone.else@example.com", o.Status, o.Email)
	}
	staff := d.SignIn(t, "officer@school.example.kz")
	_, page := d.Get(t, staff, "/staff/requests/"+other)
	if !strings.Contains(page, "но пришло не с адреса этого запроса") || !strings.Contains(page, r.Reference) {
		t.Error("staff are not warned that the letter names a request from another address")
	}
}

// bounce is a mail server's RFC 3464 report that the email messageID to
// rcpt could not be delivered.
func bounce(rcpt, messageID string, at time.Time) []byte {
	return []byte(strings.ReplaceAll(`Return-Path: <>
From: MAILER-DAEMON@mx.gmail.example.kz (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: `+privacyBox+`
Date: `+at.Format(time.RFC1123Z)+`
Auto-Submitted: auto-replied
Message-ID: <bounce.`+messageID+`>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UNCE"

--B0UNCE
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered to <`+rcpt+`>: the mailbox does not exist.

--B0UNCE
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.gmail.example.kz

Final-Recipient: rfc822; `+rcpt+`
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist.

--B0UNCE
Content-Type: text/rfc822-headers

From: privacy@school.example.kz
To: `+rcpt+`
Message-ID: <`+messageID+`>

--B0UNCE--
`, "\n", "\r\n"))
}

func TestAutoRepliesAndListMailCreateNothingAndABounceMarksItsEmail(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	r, _, asked := d.lettered(t)
	sentBefore := len(d.SMTP.Messages())
	at := d.Clock.Now()
	// Her out-of-office answers the question, with the thread's headers and
	// the reference; a mailing list's digest comes in; and the mail server
	// reports that the question could not be delivered.
	d.acc.Append(t, "INBOX", mailLetter(kazakhSender, "Айгерім Нұрланқызы", "Автоматты жауап: "+r.Reference,
		"Мен 15 наурызға дейін демалыстамын. Жоюды сұраймын деген хатыңызға кейін жауап беремін.\n", "ooo1@mail.gmail.example.kz", at,
		"Auto-Submitted: auto-replied", "In-Reply-To: <"+asked.MessageID+">"), at)
	d.acc.Append(t, "INBOX", mailLetter("news@lists.example.kz", "EdTech news", "Weekly digest: delete your old accounts",
		"Please delete your old accounts, says this week's digest.\n", "list1@lists.example.kz", at,
		"List-Id: <edtech.lists.example.kz>", "Precedence: list"), at)
	d.acc.Append(t, "INBOX", bounce(kazakhSender, asked.MessageID, at), at)
	if res := d.poll(t); res.Stored != 3 {
		t.Fatalf("poll: %+v, want the three letters stored (and moved out of the mailbox)", res)
	}
	if n := d.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("%d requests, want only the first: machines' letters make none", n)
	}
	if got := d.Request(t, r.Reference); got.Status != request.AwaitingRequester || len(conversation(t, d, got)) != 0 {
		t.Errorf("the out-of-office changed the request: %s, %d messages", got.Status, len(conversation(t, d, got)))
	}
	if n := len(d.SMTP.Messages()); n != sentBefore {
		t.Errorf("%d emails sent in answer to machines' letters, want none", n-sentBefore)
	}
	if n := d.Count(t, `SELECT count(*) FROM letters WHERE kind IN ('auto_reply', 'list') AND raw IS NULL AND view IS NULL AND request_id IS NULL`); n != 2 {
		t.Errorf("%d machine letters kept by what identifies them only, want 2", n)
	}
	if n := d.Count(t, `SELECT count(*) FROM emails WHERE message_id = $1 AND bounced_at IS NOT NULL AND bounce_status = '5.1.1'`, asked.MessageID); n != 1 {
		t.Error("the bounce did not mark the question it reported")
	}
	if n := d.Count(t, `SELECT count(*) FROM emails WHERE bounced_at IS NOT NULL`); n != 1 {
		t.Errorf("%d emails marked bounced, want only the question", n)
	}
	// Staff see it on the timeline and in the queue's Emails bounce tab.
	staff := d.SignIn(t, "officer@school.example.kz")
	_, page := d.Get(t, staff, "/staff/requests/"+r.Reference)
	if !strings.Contains(page, "Письмо «запрос информации» не доставлено") || !strings.Contains(page, "почтовый сервер заявителя его отклонил (5.1.1)") {
		t.Error("the timeline does not show the bounce on the question")
	}
	if n := strings.Count(page, `class="letter"`); n != 1 {
		t.Errorf("the request page shows %d letters, want only hers (a bounce is shown on its email)", n)
	}
	_, page = d.Get(t, staff, "/staff?tab=bounced")
	if !strings.Contains(page, `/staff/requests/`+r.Reference+`"`) || tabCounts(page)[store.TabBounced] != "1" {
		t.Errorf("the Emails bounce tab does not list %s with the count 1 (count %q)", r.Reference, tabCounts(page)[store.TabBounced])
	}
	// The same reports again change nothing.
	d.acc.Append(t, "INBOX", bounce(kazakhSender, asked.MessageID, at), at)
	if res := d.poll(t); res.Duplicates != 1 {
		t.Errorf("the same bounce again: %+v, want a duplicate", res)
	}
	if n := d.Count(t, `SELECT count(*) FROM events WHERE kind = 'email_bounced'`); n != 1 {
		t.Errorf("%d bounce events, want 1", n)
	}
}

func TestLettersFromOneAddressBeyondTheDailyCapAreSetAside(t *testing.T) {
	d := startMailDesk(t, true, map[string]string{"VERIFY_EMAIL": "false", "ACKNOWLEDGEMENTS_PER_DAY": "2"})
	at := d.Clock.Now().Truncate(time.Second)
	letterN := func(i int) []byte {
		return mailLetter("flood@example.com", "Flood", fmt.Sprintf("Delete my data %d", i),
			fmt.Sprintf("Please delete my personal data (%d).\n", i), fmt.Sprintf("flood%d@example.com", i), at)
	}
	for i := range 3 {
		d.acc.Append(t, "INBOX", letterN(i), at)
	}
	if res := d.poll(t); res.Stored != 2 || res.Refused != 1 {
		t.Errorf("poll: %+v, want two stored and one set aside", res)
	}
	if n := len(d.acc.Letters(t, "Refused")); n != 1 {
		t.Errorf("%d letters in the Refused folder, want the third", n)
	}
	err := d.send("flood@example.com", letterN(3))
	if err == nil || !strings.HasPrefix(err.Error(), "450") {
		t.Errorf("the listener answered the fourth %v, want 450 (try later)", err)
	}
	if n := d.Count(t, `SELECT count(*) FROM requests`); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if n := len(d.SMTP.Mailbox("flood@example.com")); n != 2 {
		t.Errorf("the sender got %d emails, want two acknowledgements", n)
	}
	if !strings.Contains(d.Logs(), "inbound letter set aside") || strings.Contains(d.Logs(), "flood@example.com") {
		t.Error("the set-aside letters are not logged, or the log names the address")
	}
}

// htmlLetterWithPDF is a letter written in HTML only (with a script, as a
// hostile sender might add) and a PDF attached.
func htmlLetterWithPDF(from string, at time.Time) []byte {
	pdf := base64.StdEncoding.EncodeToString(append([]byte("%PDF-1.7\n"), []byte(strings.Repeat("0", 2000))...))
	html := `<html><body><p>Здравствуйте!</p><p>Прошу <b>удалить</b> мои персональные данные.</p>` +
		`<script>alert("x")</script><p>Копия удостоверения во вложении.</p></body></html>`
	return []byte(strings.ReplaceAll(`From: Мария Иванова <`+from+`>
To: `+privacyBox+`
Subject: =?UTF-8?B?`+base64.StdEncoding.EncodeToString([]byte("Удаление данных"))+`?=
Date: `+at.Format(time.RFC1123Z)+`
Message-ID: <html1@mail.example.ru>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="MIX"

--MIX
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

`+base64.StdEncoding.EncodeToString([]byte(html))+`
--MIX
Content-Type: application/pdf; name="udostoverenie.pdf"
Content-Disposition: attachment; filename="udostoverenie.pdf"
Content-Transfer-Encoding: base64

`+pdf+`
--MIX--
`, "\n", "\r\n"))
}

func TestStaffSeeTheLetterAsTextWithItsAttachment(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	at := d.Clock.Now().Truncate(time.Second)
	d.acc.Append(t, "INBOX", htmlLetterWithPDF("maria.ivanova@mail.example.ru", at), at)
	d.poll(t)
	r := onlyRequest(t, d.Instance)
	files := d.Files(t, r.Reference)
	if len(files) != 1 || files[0].Name != "udostoverenie.pdf" || files[0].Purpose != request.FileRequester {
		t.Fatalf("files %+v, want the attached PDF as the requester's file", files)
	}
	d.AddStaff(t, "officer@school.example.kz", "Гүлнар Офицер", auth.Admin)
	staff := d.SignIn(t, "officer@school.example.kz")
	_, page := d.Get(t, staff, "/staff/requests/"+r.Reference)
	if !strings.Contains(page, "Прошу удалить мои персональные данные.") || !strings.Contains(page, "Письмо было в формате HTML") {
		t.Error("the letter's HTML is not shown as text")
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>удалить</b>") || strings.Contains(page, `alert(&#34;x&#34;)`) {
		t.Error("the letter's HTML reaches the staff page")
	}
	resp, body := d.Get(t, staff, fmt.Sprintf("/staff/requests/%s/files/%d", r.Reference, files[0].ID))
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "%PDF-1.7") {
		t.Errorf("the attachment does not download: %d", resp.StatusCode)
	}
}

func TestMergeAddsAFollowUpLetterToItsRequestLoggedOnBoth(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	first, _, _ := d.lettered(t) // awaiting her answer
	// She answers in a new letter with neither the thread nor the
	// reference, and a document: it becomes a letter in triage.
	at := d.Clock.Now().Truncate(time.Second)
	d.acc.Append(t, "INBOX", mailLetter(kazakhSender, "Айгерім Нұрланқызы", "Телефон",
		"Телефон нөмірім: +7 701 555 12 34.\n", "follow1@mail.gmail.example.kz", at), at)
	d.poll(t)
	var ref string
	if err := d.Pool.QueryRow(t.Context(), `SELECT reference FROM requests WHERE id <> $1`, first.ID).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	staff := d.SignIn(t, "officer@school.example.kz")
	_, page := d.Get(t, staff, "/staff/requests/"+ref)
	if !strings.Contains(page, `action="/staff/requests/`+ref+`/merge"`) {
		t.Fatal("the letter's request offers no merge")
	}
	// Merging into itself, or into nothing, is refused and changes nothing.
	for _, into := range []string{ref, "RD-0000-0000-0000", "nonsense"} {
		resp, body := d.Post(t, staff, "/staff/requests/"+ref+"/merge", url.Values{"_csrf": {apptest.CSRFToken(page)}, "into": {into}})
		if resp.StatusCode != 422 || !strings.Contains(body, "Укажите номер другого открытого запроса.") {
			t.Errorf("merge into %q: %d", into, resp.StatusCode)
		}
	}
	if got := d.Request(t, ref); got.Status != request.Triage {
		t.Fatalf("a refused merge changed the letter's request: %s", got.Status)
	}
	resp, _ := d.Post(t, staff, "/staff/requests/"+ref+"/merge", url.Values{"_csrf": {apptest.CSRFToken(page)}, "into": {strings.ToLower(first.Reference)}})
	if resp.StatusCode != 303 {
		t.Fatalf("merge: %d", resp.StatusCode)
	}
	if got := d.Request(t, ref); got.Status != request.Merged {
		t.Errorf("the merged letter's request is %s, want merged", got.Status)
	}
	got := d.Request(t, first.Reference)
	if msgs := conversation(t, d, got); got.Status != request.InProgress || len(msgs) != 1 || !strings.Contains(msgs[0], "+7 701 555 12 34") {
		t.Errorf("the request merged into: %s with %q; want in_progress with her letter on the conversation", got.Status, msgs)
	}
	if n := d.Count(t, `SELECT count(*) FROM events WHERE (request_id = $1 AND kind = 'letter_merged' AND data->>'from_reference' = $3)
		OR (request_id = $2 AND kind = 'merged' AND data->>'into_reference' = $4)`, first.ID, d.Request(t, ref).ID, ref, first.Reference); n != 2 {
		t.Errorf("the merge is logged on %d of the two requests", n)
	}
	_, page = d.Get(t, staff, "/staff/requests/"+first.Reference)
	if !strings.Contains(page, "Присоединено письмо из запроса "+ref) || strings.Count(page, `class="letter"`) != 2 {
		t.Error("the request merged into does not log the merge or show both letters")
	}
	_, page = d.Get(t, staff, "/staff/requests/"+ref)
	if !strings.Contains(page, "Этот запрос присоединён к "+first.Reference) {
		t.Error("the merged request does not say where it went")
	}
	// Her next reply to the merged letter's thread reaches the request it joined.
	d.acc.Append(t, "INBOX", reply(kazakhSender, "Re: Телефон", "follow2@mail.gmail.example.kz", at,
		"In-Reply-To: <follow1@mail.gmail.example.kz>"), at)
	d.poll(t)
	if n := d.Count(t, `SELECT count(*) FROM requests`); n != 2 {
		t.Errorf("%d requests after a reply to the merged letter, want still 2", n)
	}
	if msgs := conversation(t, d, d.Request(t, first.Reference)); len(msgs) != 2 {
		t.Errorf("the reply to the merged letter's thread did not reach %s (%d messages)", first.Reference, len(msgs))
	}
}

func TestInboundMetricsOnlyWhereMailIsRead(t *testing.T) {
	for _, on := range []bool{false, true} {
		env := map[string]string{}
		if on {
			env["INBOUND_SMTP_ADDR"], env["INBOUND_SMTP_ACCEPT"] = freePort(t), privacyBox
		}
		families, err := apptest.Start(t, env).App.Metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range families {
			found = found || strings.HasPrefix(f.GetName(), "rightsdesk_inbound_imap_poller_active")
		}
		if found != on {
			t.Errorf("inbound configured %v: inbound metrics registered %v (an unconfigured poller must not look stopped)", on, found)
		}
	}
}

func TestEmailRepliesShareTheStatusPagesLimits(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	r, _, asked := d.lettered(t)
	at := d.Clock.Now()
	for i := range request.MaxRepliesPerLink + 1 {
		d.acc.Append(t, "INBOX", reply(kazakhSender, "Жауап", fmt.Sprintf("many%d@mail.gmail.example.kz", i), at,
			"In-Reply-To: <"+asked.MessageID+">"), at)
	}
	if res := d.poll(t); res.Stored != request.MaxRepliesPerLink || res.Refused != 1 {
		t.Errorf("poll: %+v, want %d replies stored and one set aside", res, request.MaxRepliesPerLink)
	}
	if n := len(conversation(t, d, d.Request(t, r.Reference))); n != request.MaxRepliesPerLink {
		t.Errorf("%d replies on the conversation, want %d", n, request.MaxRepliesPerLink)
	}
	if n := len(d.acc.Letters(t, "Refused")); n != 1 {
		t.Errorf("%d letters in Refused, want the one over the limit", n)
	}
	// An hour later the limit has lifted.
	d.Clock.Advance(request.ReplyLinkWindow + time.Minute)
	later := d.Clock.Now()
	d.acc.Append(t, "INBOX", reply(kazakhSender, "Жауап", "later@mail.gmail.example.kz", later, "In-Reply-To: <"+asked.MessageID+">"), later)
	if res := d.poll(t); res.Stored != 1 {
		t.Errorf("poll an hour later: %+v, want the reply stored", res)
	}
	if n := d.Count(t, `SELECT count(*) FROM requests`); n != 1 {
		t.Errorf("%d requests, want replies never to make one", n)
	}
}

func TestTheSameLetterAtOnceByBothWaysIsStoredOnce(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	raw := kazakhLetter(d.Clock.Now())
	const copies = 6
	outcomes := make(chan inbound.Outcome, copies)
	errs := make(chan error, copies)
	for i := range copies {
		src := []string{inbound.SourceIMAP, inbound.SourceSMTP}[i%2]
		go func() {
			l, err := inbound.Read(raw, inbound.Envelope{Source: src, ReceivedAt: d.Clock.Now()}, d.App.Inbound.Read)
			if err != nil {
				errs <- err
				return
			}
			out, err := d.App.Inbound.Sink.Deliver(context.Background(), l)
			if err != nil {
				errs <- err
				return
			}
			outcomes <- out
		}()
	}
	stored := 0
	for range copies {
		select {
		case err := <-errs:
			t.Fatalf("a copy failed: %v", err)
		case out := <-outcomes:
			if out == inbound.Stored {
				stored++
			}
		}
	}
	d.Settle(t)
	if stored != 1 {
		t.Errorf("%d copies stored, want 1 (the others duplicates)", stored)
	}
	onlyRequest(t, d.Instance)
	if n := len(d.SMTP.Mailbox(kazakhSender)); n != 1 {
		t.Errorf("the sender got %d acknowledgements, want 1", n)
	}
}

func TestAReplyToAClosedRequestBecomesALetterThatNamesIt(t *testing.T) {
	d := startMailDesk(t, false, map[string]string{"VERIFY_EMAIL": "false"})
	r, agent, asked := d.lettered(t)
	if _, err := d.App.Desk.Reject(context.Background(), r.Reference, request.ByStaff(agent.ID), request.Rejection{Reason: "no_data", Text: "Сіз туралы деректер жоқ."}); err != nil {
		t.Fatal(err)
	}
	at := d.Clock.Now()
	d.acc.Append(t, "INBOX", reply(kazakhSender, "Re: "+r.Reference, "closed1@mail.gmail.example.kz", at, "In-Reply-To: <"+asked.MessageID+">"), at)
	d.poll(t)
	if got := d.Request(t, r.Reference); got.Status != request.Rejected || len(conversation(t, d, got)) != 0 {
		t.Errorf("a reply reopened or changed the closed request: %s", got.Status)
	}
	if n := d.Count(t, `SELECT count(*) FROM letters l JOIN requests n ON n.id = l.request_id
		WHERE l.named_request_id = $1 AND l.named_why = 'closed' AND n.status = 'triage' AND n.id <> $1`, r.ID); n != 1 {
		t.Error("the reply to a closed request did not become a letter in triage naming it")
	}
}
