package poller

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"rightsdesk/internal/dovecotlocal"
	"rightsdesk/internal/inbound"
	"rightsdesk/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// memSink is a deduplicating sink in memory: it stores a letter once per
// hash, as the real one does in PostgreSQL, and can be told to fail.
type memSink struct {
	mu      sync.Mutex
	letters []*inbound.Letter
	seen    map[string]bool
	calls   int
	fail    error // every delivery fails, storing nothing
	// loseAnswer stores the next letter and then fails, as a sink whose
	// commit succeeded but whose answer never arrived.
	loseAnswer bool
	delivered  chan *inbound.Letter
	// onDeliver runs inside Deliver, before the letter is stored.
	onDeliver func(*inbound.Letter)
}

func newSink() *memSink {
	return &memSink{seen: map[string]bool{}, delivered: make(chan *inbound.Letter, 100)}
}

func (s *memSink) Deliver(_ context.Context, l *inbound.Letter) (inbound.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.onDeliver != nil {
		s.onDeliver(l)
	}
	if s.fail != nil {
		return 0, s.fail
	}
	if s.seen[l.Hash] {
		return inbound.Duplicate, nil
	}
	s.seen[l.Hash] = true
	s.letters = append(s.letters, l)
	s.delivered <- l
	if s.loseAnswer {
		s.loseAnswer = false
		return 0, errors.New("connection reset after commit")
	}
	return inbound.Stored, nil
}

func (s *memSink) stored() []*inbound.Letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*inbound.Letter(nil), s.letters...)
}

func (s *memSink) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const ref = "RD-5398-D123-456V"

func kazakhLetter(id string) []byte {
	return crlf(`
Return-Path: <aigerim.n@gmail.com>
From: =?UTF-8?B?` + b64("Айгерім Нұрланқызы") + `?= <aigerim.n@gmail.com>
To: privacy@operator.kz
Subject: =?UTF-8?B?` + b64("Дербес деректерді жою") + `?=
Message-ID: <` + id + `@mail.gmail.com>
Date: Fri, 6 Mar 2026 14:20:55 +0500
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

` + b64("Сәлеметсіз бе!\n\nМенің дербес деректерімді жоюыңызды сұраймын: аккаунтымды және барлық жеке ақпаратымды толық жойыңыз.\n\nҚұрметпен,\nАйгерім") + `
`)
}

func replyByInReplyTo() []byte {
	return crlf(`
From: Dana <dana@school.kz>
To: privacy@operator.kz
Subject: Re: information requested
Message-ID: <reply-1@school.kz>
In-Reply-To: <rd.9.info.x@operator.kz>
References: <rd.9.ack.a@operator.kz> <rd.9.info.x@operator.kz>
Content-Type: text/plain; charset=utf-8

Here is my new address: 12 Abay Ave, Almaty.

On Fri, Mar 6, 2026 at 2:21 PM Operator <no-reply@operator.kz> wrote:
> What is your current address?
`)
}

func replyBySubject() []byte {
	return crlf(`
From: =?UTF-8?B?` + b64("Алия") + `?= <aliya@mail.ru>
To: privacy@operator.kz
Subject: =?UTF-8?B?` + b64("Ответ: Ваш запрос "+strings.ToLower(ref)+" принят") + `?=
Message-ID: <reply-2@mail.ru>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

` + b64("Документы прилагаю, прошу исправить фамилию.\n\nПятница, 6 марта 2026, 14:21 +05:00 от Operator <no-reply@operator.kz>:\n>Здравствуйте! Пришлите документ.\n") + `
`)
}

func outOfOffice() []byte {
	return crlf(`
From: Alia Bekova <a.bekova@school.kz>
To: no-reply@operator.kz
Subject: Automatic reply: Your request
Message-ID: <oof-1@school.kz>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
In-Reply-To: <rd.9.ack.a@operator.kz>
Content-Type: text/plain

I am out of the office until Monday.
`)
}

func bounce() []byte {
	return crlf(`
Return-Path: <>
From: MAILER-DAEMON@mx.hoster.kz (Mail Delivery System)
To: no-reply@operator.kz
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.hoster.kz>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

Your message could not be delivered.
--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.hoster.kz

Final-Recipient: rfc822; typo@gmail.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 no such user

--BB
Content-Type: text/rfc822-headers

Message-ID: <rd.9.ack.a@operator.kz>
From: no-reply@operator.kz
--BB--
`)
}

type fixture struct {
	acc     testkit.IMAPAccount
	sink    *memSink
	reg     *prometheus.Registry
	metrics *inbound.Metrics
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := inbound.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	return &fixture{acc: testkit.IMAP(t), sink: newSink(), reg: reg, metrics: m}
}

func (f *fixture) poller(t *testing.T, rawURL string, mutate ...func(*Options)) *Poller {
	t.Helper()
	mb, err := ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Mailbox: mb, Sink: f.sink, Metrics: f.metrics, TLSConfig: f.acc.TLSConfig(t),
		Read: inbound.Options{Mailboxes: []string{"privacy@operator.kz"}}}
	for _, fn := range mutate {
		fn(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// metric reads one series of the fixture's metrics.
func (f *fixture) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestPollerReadsAKazakhLetterOverIMAPSAndMovesItOnceStored(t *testing.T) {
	f := newFixture(t)
	arrived := time.Date(2026, 3, 6, 9, 21, 7, 0, time.UTC)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-1"), arrived)
	p := f.poller(t, f.acc.TLSURL(""))

	res, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Stored: 1}) {
		t.Errorf("result = %+v", res)
	}
	got := f.sink.stored()
	if len(got) != 1 {
		t.Fatalf("stored %d letters", len(got))
	}
	l := got[0]
	if l.Class.Kind != inbound.KindNew || l.Locale != "kk" || l.Suggestion.Type != "erasure" {
		t.Errorf("kind %s, locale %q, suggestion %+v", l.Class.Kind, l.Locale, l.Suggestion)
	}
	if l.From.Address != "aigerim.n@gmail.com" || l.EnvelopeSender != "aigerim.n@gmail.com" || l.Source != "imap" {
		t.Errorf("from %v, envelope %q, source %q", l.From, l.EnvelopeSender, l.Source)
	}
	// The clock starts when the mailbox received the letter, not when
	// rightsdesk got round to reading it.
	if !l.ReceivedAt.Equal(arrived) {
		t.Errorf("received at %v, want the mailbox's arrival %v", l.ReceivedAt, arrived)
	}
	if n := len(f.acc.Letters(t, "INBOX")); n != 0 {
		t.Errorf("INBOX still has %d letters", n)
	}
	processed := f.acc.Letters(t, "Processed")
	if len(processed) != 1 || !bytes.Equal(processed[0], kazakhLetter("kk-1")) {
		t.Errorf("Processed holds %d letters", len(processed))
	}
	if f.metric(t, "rightsdesk_inbound_letters_total", "source", "imap", "kind", "new") != 1 ||
		f.metric(t, "rightsdesk_inbound_imap_up") != 1 ||
		f.metric(t, "rightsdesk_inbound_imap_last_success_timestamp_seconds") == 0 {
		t.Error("metrics do not show the stored letter and the successful poll")
	}
}

func TestPollerThreadsRepliesByInReplyToAndByTheReferenceInTheSubject(t *testing.T) {
	f := newFixture(t)
	f.acc.Append(t, "INBOX", replyByInReplyTo(), time.Now())
	f.acc.Append(t, "INBOX", replyBySubject(), time.Now())
	if _, err := f.poller(t, f.acc.PlainURL("")).Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.sink.stored()
	if len(got) != 2 {
		t.Fatalf("stored %d", len(got))
	}
	byID, bySubject := got[0], got[1]
	if byID.Class.Kind != inbound.KindReply || strings.Join(byID.Keys.MessageIDs, " ") != "rd.9.info.x@operator.kz rd.9.ack.a@operator.kz" || byID.Keys.Reference != "" {
		t.Errorf("In-Reply-To reply: kind %s, keys %+v", byID.Class.Kind, byID.Keys)
	}
	if byID.ReplyText != "Here is my new address: 12 Abay Ave, Almaty." || byID.Locale != "en" {
		t.Errorf("In-Reply-To reply text %q, locale %q", byID.ReplyText, byID.Locale)
	}
	if bySubject.Class.Kind != inbound.KindReply || bySubject.Keys.Reference != ref || len(bySubject.Keys.MessageIDs) != 0 {
		t.Errorf("subject reply: kind %s, keys %+v", bySubject.Class.Kind, bySubject.Keys)
	}
	if bySubject.ReplyText != "Документы прилагаю, прошу исправить фамилию." || bySubject.Locale != "ru" || bySubject.Suggestion.Type != "rectification" {
		t.Errorf("subject reply text %q, locale %q, suggestion %+v", bySubject.ReplyText, bySubject.Locale, bySubject.Suggestion)
	}
}

func TestPollerHandsOverOutOfOfficeAndBouncesAsWhatTheyAreNeverAsNewLetters(t *testing.T) {
	f := newFixture(t)
	f.acc.Append(t, "INBOX", outOfOffice(), time.Now())
	f.acc.Append(t, "INBOX", bounce(), time.Now())
	if _, err := f.poller(t, f.acc.PlainURL("")).Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.sink.stored()
	if len(got) != 2 {
		t.Fatalf("stored %d", len(got))
	}
	for _, l := range got {
		if l.Class.Kind == inbound.KindNew || l.Class.Kind == inbound.KindReply || !l.Class.Automatic() {
			t.Errorf("%s reached the sink as a person's letter: %+v", l.MessageID, l.Class)
		}
	}
	if got[0].Class.Kind != inbound.KindAutoReply {
		t.Errorf("out of office = %+v", got[0].Class)
	}
	b := got[1].Class
	if b.Kind != inbound.KindBounce || b.Bounce.OriginalMessageID != "rd.9.ack.a@operator.kz" || !b.Bounce.Permanent ||
		len(b.Bounce.Recipients) != 1 || b.Bounce.Recipients[0].Address != "typo@gmail.com" {
		t.Errorf("bounce = %+v %+v", b, b.Bounce)
	}
	if f.metric(t, "rightsdesk_inbound_letters_total", "source", "imap", "kind", "bounce") != 1 {
		t.Error("bounce not counted")
	}
}

func TestALetterStaysInTheMailboxWhileTheSinkFailsAndComesWithTheNextPoll(t *testing.T) {
	f := newFixture(t)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-2"), time.Now())
	f.acc.Append(t, "INBOX", replyByInReplyTo(), time.Now())
	p := f.poller(t, f.acc.PlainURL(""))

	f.sink.setFail(errors.New("database is down"))
	res, err := p.Poll(context.Background())
	if !errors.Is(err, ErrStore) {
		t.Fatalf("err = %v, want ErrStore", err)
	}
	if res.Waiting != 2 || res.Stored != 0 {
		t.Errorf("result = %+v", res)
	}
	if n := len(f.acc.Letters(t, "INBOX")); n != 2 {
		t.Fatalf("INBOX has %d letters after a failed store, want both", n)
	}
	if n := len(f.acc.Letters(t, "Processed")); n != 0 {
		t.Errorf("Processed has %d", n)
	}
	if f.metric(t, "rightsdesk_inbound_store_failures_total", "source", "imap") != 1 || f.metric(t, "rightsdesk_inbound_imap_waiting_letters") != 2 {
		t.Error("store failure or waiting letters not in the metrics")
	}

	f.sink.setFail(nil)
	res, err = p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || len(f.sink.stored()) != 2 || len(f.acc.Letters(t, "INBOX")) != 0 || len(f.acc.Letters(t, "Processed")) != 2 {
		t.Errorf("after recovery: result %+v, stored %d", res, len(f.sink.stored()))
	}
	if f.metric(t, "rightsdesk_inbound_imap_waiting_letters") != 0 {
		t.Error("waiting letters not back to 0")
	}
}

func TestTheSameLetterFetchedTwiceReachesTheSinkOnce(t *testing.T) {
	f := newFixture(t)
	// Delivered twice (two forwarding rules, or a server that retried).
	f.acc.Append(t, "INBOX", kazakhLetter("kk-3"), time.Now())
	f.acc.Append(t, "INBOX", append([]byte("Received: from relay2.hoster.kz\r\n"), kazakhLetter("kk-3")...), time.Now())
	res, err := f.poller(t, f.acc.PlainURL("")).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || res.Duplicates != 1 || len(f.sink.stored()) != 1 {
		t.Errorf("result %+v, stored %d", res, len(f.sink.stored()))
	}
	if len(f.acc.Letters(t, "INBOX")) != 0 || len(f.acc.Letters(t, "Processed")) != 2 {
		t.Error("both copies must leave INBOX")
	}
	if f.metric(t, "rightsdesk_inbound_duplicates_total", "source", "imap") != 1 {
		t.Error("duplicate not counted")
	}
}

func TestALetterStoredWhoseAnswerWasLostIsNotStoredAgain(t *testing.T) {
	f := newFixture(t)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-4"), time.Now())
	p := f.poller(t, f.acc.PlainURL(""))
	f.sink.loseAnswer = true
	if _, err := p.Poll(context.Background()); !errors.Is(err, ErrStore) {
		t.Fatalf("err = %v", err)
	}
	if len(f.acc.Letters(t, "INBOX")) != 1 {
		t.Fatal("the letter left INBOX without a successful answer")
	}
	res, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != 1 || len(f.sink.stored()) != 1 || len(f.acc.Letters(t, "INBOX")) != 0 {
		t.Errorf("second poll %+v, stored %d", res, len(f.sink.stored()))
	}
}

func TestPollerSetsAsideLettersTheLimitsRefuse(t *testing.T) {
	f := newFixture(t)
	var parts strings.Builder
	parts.WriteString("--M\r\nContent-Type: text/plain\r\n\r\nDocuments attached.\r\n")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&parts, "--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"d%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", i, b64("%PDF-1.7 document"))
	}
	parts.WriteString("--M--\r\n")
	tooMany := append(crlf("From: a@b.kz\nTo: privacy@operator.kz\nSubject: six files\nMessage-ID: <six@b.kz>\nContent-Type: multipart/mixed; boundary=M\n\n"), parts.String()...)
	oversize := append(crlf("From: a@b.kz\nTo: privacy@operator.kz\nSubject: huge\nMessage-ID: <huge@b.kz>\n\n"), bytes.Repeat([]byte("x"), inbound.MaxLetterSize)...)
	f.acc.Append(t, "INBOX", tooMany, time.Now())
	f.acc.Append(t, "INBOX", oversize, time.Now())
	f.acc.Append(t, "INBOX", kazakhLetter("kk-5"), time.Now())

	res, err := f.poller(t, f.acc.PlainURL("refused=Needs%20a%20person")).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Stored: 1, Refused: 2}) {
		t.Errorf("result = %+v", res)
	}
	if got := f.sink.stored(); len(got) != 1 || got[0].MessageID != "kk-5@mail.gmail.com" {
		t.Errorf("the sink got %d letters", len(got))
	}
	if n := len(f.acc.Letters(t, "Needs a person")); n != 2 {
		t.Errorf("refused folder holds %d, want 2", n)
	}
	if n := len(f.acc.Letters(t, "INBOX")); n != 0 {
		t.Errorf("INBOX holds %d", n)
	}
	if f.metric(t, "rightsdesk_inbound_refused_total", "source", "imap", "reason", "too_many_attachments") != 1 ||
		f.metric(t, "rightsdesk_inbound_refused_total", "source", "imap", "reason", "too_large") != 1 {
		t.Error("refusals not counted by reason")
	}
}

func TestPollerFallsBackToCopyDeletedExpungeWithoutMove(t *testing.T) {
	srv := testkit.StartDovecot(t, dovecotlocal.Options{Capabilities: "IMAP4rev1 LITERAL+ UIDPLUS IDLE NAMESPACE"})
	f := newFixture(t)
	f.acc = testkit.AccountOn(t, srv)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-6"), time.Now())
	// A letter a person marked deleted but did not expunge stays as it is:
	// the fallback expunges by UID.
	f.acc.Append(t, "INBOX", replyBySubject(), time.Now())
	p := f.poller(t, f.acc.PlainURL(""))
	markDeleted(t, f.acc, 2)

	res, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || len(f.acc.Letters(t, "Processed")) != 1 || len(f.acc.Letters(t, "INBOX")) != 0 {
		t.Errorf("result %+v", res)
	}
	if n := countAll(t, f.acc, "INBOX"); n != 1 {
		t.Errorf("INBOX holds %d messages in all, want the one marked deleted by a person", n)
	}
}

func TestPollerPutsItsFoldersUnderTheHostsNamespace(t *testing.T) {
	srv := testkit.StartDovecot(t, dovecotlocal.Options{NamespacePrefix: "INBOX."})
	f := newFixture(t)
	f.acc = testkit.AccountOn(t, srv)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-7"), time.Now())
	if _, err := f.poller(t, f.acc.PlainURL("")).Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.acc.Letters(t, "INBOX.Processed")); n != 1 {
		t.Errorf("INBOX.Processed holds %d", n)
	}
}

func TestPollerReportsAMailboxItCannotReach(t *testing.T) {
	f := newFixture(t)
	// A server of its own: Dovecot slows every login from an address
	// after a failed one, which would slow the other tests.
	f.acc = testkit.AccountOn(t, testkit.StartDovecot(t, dovecotlocal.Options{}))
	wrong := strings.Replace(f.acc.PlainURL(""), ":"+f.acc.Password+"@", ":wrong@", 1)
	p := f.poller(t, wrong)
	_, err := p.Poll(context.Background())
	var se *stageError
	if !errors.As(err, &se) || se.stage != inbound.StageLogin || strings.Contains(err.Error(), f.acc.Password) {
		t.Fatalf("err = %v", err)
	}
	if f.metric(t, "rightsdesk_inbound_imap_errors_total", "stage", "login") != 1 || f.metric(t, "rightsdesk_inbound_imap_up") != 0 {
		t.Error("login failure not in the metrics")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p = f.poller(t, "imap://u:p@"+addr+"/INBOX?tls=none")
	if _, err := p.Poll(context.Background()); !errors.As(err, &se) || se.stage != inbound.StageConnect {
		t.Fatalf("err = %v", err)
	}
}

// proxy forwards TCP to target and can cut every connection, as a network
// failure would.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *proxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	return n
}

func TestRunReconnectsAfterTheConnectionDrops(t *testing.T) {
	f := newFixture(t)
	px := startProxy(t, f.acc.Addr)
	u := strings.Replace(f.acc.PlainURL(""), f.acc.Addr, px.l.Addr().String(), 1)
	p := f.poller(t, u, func(o *Options) {
		o.Mailbox.Interval = 20 * time.Millisecond
		o.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f.acc.Append(t, "INBOX", kazakhLetter("kk-8"), time.Now())
	waitDelivered(t, f.sink, "kk-8@mail.gmail.com")
	if px.cut() == 0 {
		t.Fatal("the poller had no connection to cut")
	}
	f.acc.Append(t, "INBOX", replyByInReplyTo(), time.Now())
	waitDelivered(t, f.sink, "reply-1@school.kz")
}

func waitDelivered(t *testing.T, s *memSink, messageID string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-s.delivered:
			if l.MessageID == messageID {
				return
			}
		case <-timeout:
			t.Fatalf("%s never reached the sink", messageID)
		}
	}
}

func TestOnlyTheInstanceHoldingTheLockPolls(t *testing.T) {
	pool := testkit.DB(t)
	f := newFixture(t)
	mb, err := ParseURL(f.acc.PlainURL(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := NewPGLock(pool, LockKey(mb)), NewPGLock(pool, LockKey(mb))
	other := NewPGLock(pool, LockKey(Mailbox{Addr: "elsewhere:993", Username: "x", Mailbox: "INBOX"}))
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("first instance: %v, %v", ok, err)
	}
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("the holder lost its lock: %v, %v", ok, err)
	}
	if ok, _ := b.TryAcquire(ctx); ok {
		t.Fatal("a second instance took the lock of the same mailbox")
	}
	if ok, _ := other.TryAcquire(ctx); !ok {
		t.Fatal("another mailbox's lock was refused")
	}

	// A poller that does not hold the lock does not poll.
	f.acc.Append(t, "INBOX", kazakhLetter("kk-9"), time.Now())
	pb := f.poller(t, f.acc.PlainURL(""), func(o *Options) { o.Lock = b })
	if pb.leader(ctx) {
		t.Fatal("the second poller thinks it leads")
	}
	if f.metric(t, "rightsdesk_inbound_imap_poller_active") != 0 {
		t.Error("the waiting poller says it is active")
	}

	// The holder's session dies (a crash, the database restarting): the
	// lock goes with it and the other instance takes over.
	var pid int
	if err := a.conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	// The backend ends, and its locks with it, a moment after the signal.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var alive bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory')", pid).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminated session still holds its lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, _ := a.TryAcquire(ctx); ok {
		// Its connection is gone; it may only win the lock back if b has
		// not taken it yet, which is still one holder.
		_ = a.Release(ctx)
	}
	if !pb.leader(ctx) {
		t.Fatal("the second instance did not take over")
	}
	if _, err := pb.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.sink.stored()) != 1 || f.metric(t, "rightsdesk_inbound_imap_poller_active") != 1 {
		t.Error("the new holder did not poll")
	}
	if ok, _ := a.TryAcquire(ctx); ok {
		t.Error("the old holder took the lock back while the new one holds it")
	}
	for _, l := range []*PGLock{a, b, other} {
		if err := l.Release(ctx); err != nil {
			t.Error(err)
		}
	}
}

// markDeleted flags the n-th letter of INBOX \Deleted, as a person's mail
// client does before it expunges.
func markDeleted(t *testing.T, acc testkit.IMAPAccount, n uint32) {
	t.Helper()
	c := acc.Client(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(n), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// countAll counts every message in a folder, \Deleted ones too.
func countAll(t *testing.T, acc testkit.IMAPAccount, folder string) uint32 {
	t.Helper()
	data, err := acc.Client(t).Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.NumMessages
}

func TestALetterAPersonDeletesDuringAPollIsSkipped(t *testing.T) {
	f := newFixture(t)
	f.acc.Append(t, "INBOX", kazakhLetter("kk-10"), time.Now())
	f.acc.Append(t, "INBOX", replyByInReplyTo(), time.Now())
	f.acc.Append(t, "INBOX", replyBySubject(), time.Now())
	// While the first letter is being stored, someone deletes the second
	// in webmail.
	other := f.acc.Client(t)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	f.sink.onDeliver = func(l *inbound.Letter) {
		if l.MessageID != "kk-10@mail.gmail.com" {
			return
		}
		if err := other.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Error(err)
		}
		if err := other.Expunge().Close(); err != nil {
			t.Error(err)
		}
	}
	res, err := f.poller(t, f.acc.PlainURL("")).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Stored: 2}) {
		t.Errorf("result = %+v", res)
	}
	if got := f.sink.stored(); len(got) != 2 || got[1].MessageID != "reply-2@mail.ru" {
		t.Errorf("stored %d", len(got))
	}
	if f.metric(t, "rightsdesk_inbound_imap_errors_total", "stage", "fetch") != 0 {
		t.Error("a vanished letter counted as a failed poll")
	}
}
