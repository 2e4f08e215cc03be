package listener

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"rightsdesk/internal/inbound"
	"rightsdesk/internal/testkit"
)

// memSink stores each letter once per hash and can be told to fail.
type memSink struct {
	mu      sync.Mutex
	letters []*inbound.Letter
	seen    map[string]bool
	fail    error
}

func (s *memSink) Deliver(_ context.Context, l *inbound.Letter) (inbound.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	if s.seen[l.Hash] {
		return inbound.Duplicate, nil
	}
	s.seen[l.Hash] = true
	s.letters = append(s.letters, l)
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

type fixture struct {
	addr    string
	sink    *memSink
	metrics *inbound.Metrics
	clock   time.Time
}

func start(t *testing.T, mutate ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{sink: &memSink{seen: map[string]bool{}}, metrics: inbound.NewMetrics(), clock: time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)}
	opts := Options{
		Hostname: "mx.operator.kz",
		Accept:   []string{"privacy@operator.kz", "requests.operator.kz"},
		Sink:     f.sink,
		Metrics:  f.metrics,
		Read:     inbound.Options{Mailboxes: []string{"privacy@operator.kz"}},
		Now:      func() time.Time { return f.clock },
	}
	for _, fn := range mutate {
		fn(&opts)
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return f
}

// send delivers one letter over the wire as a sending server would and
// returns the server's answer to the end of DATA (nil for 250).
func (f *fixture) send(t *testing.T, from string, to []string, raw []byte, tlsConfig ...*tls.Config) error {
	t.Helper()
	var c *smtp.Client
	var err error
	if len(tlsConfig) > 0 {
		c, err = smtp.DialStartTLS(f.addr, tlsConfig[0])
	} else {
		c, err = smtp.Dial(f.addr)
		if err == nil {
			err = c.Hello("mail-ej1-f41.google.com")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	err = w.Close()
	_ = c.Quit() // the answer to DATA is what counts
	return err
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return 250
	}
	return -1
}

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func kazakhLetter() []byte {
	return crlf(`
From: =?UTF-8?B?` + b64("Айгерім Нұрланқызы") + `?= <aigerim.n@gmail.com>
To: privacy@operator.kz
Subject: =?UTF-8?B?` + b64("Деректерімнің көшірмесі") + `?=
Message-ID: <kk-smtp-1@mail.gmail.com>
Date: Fri, 6 Mar 2026 14:20:55 +0500
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

` + b64("Сәлеметсіз бе! Менің дербес деректерімнің көшірмесін жіберуіңізді сұраймын: қандай деректерімді өңдейсіздер?\n\nАйгерім") + `
`)
}

func TestListenerAnswers250OnlyOnceTheSinkStoredTheLetter(t *testing.T) {
	f := start(t)
	if err := f.send(t, "aigerim.n@gmail.com", []string{"Privacy@Operator.kz"}, kazakhLetter()); err != nil {
		t.Fatalf("answer %v, want 250", err)
	}
	got := f.sink.stored()
	if len(got) != 1 {
		t.Fatalf("stored %d", len(got))
	}
	l := got[0]
	if l.Class.Kind != inbound.KindNew || l.Locale != "kk" || l.Suggestion.Type != "access" {
		t.Errorf("kind %s, locale %q, suggestion %+v", l.Class.Kind, l.Locale, l.Suggestion)
	}
	if l.EnvelopeSender != "aigerim.n@gmail.com" || strings.Join(l.DeliveredTo, ",") != "privacy@operator.kz" || l.Source != "smtp" || !l.ReceivedAt.Equal(f.clock) {
		t.Errorf("envelope: sender %q, to %v, source %q, at %v", l.EnvelopeSender, l.DeliveredTo, l.Source, l.ReceivedAt)
	}
	if !strings.HasPrefix(string(l.Raw), "Received: from mail-ej1-f41.google.com ([127.0.0.1])\r\n\tby mx.operator.kz (rightsdesk) with ESMTP;") {
		t.Errorf("no trace field: %.120q", l.Raw)
	}
	if value(t, f.counter(t, "rightsdesk_inbound_letters_total", "smtp", "new")) != 1 {
		t.Error("not counted")
	}
}

func TestListenerAnswers451WhileTheSinkFailsSoTheSenderRetries(t *testing.T) {
	f := start(t)
	f.sink.setFail(errors.New("database is down"))
	err := f.send(t, "aigerim.n@gmail.com", []string{"privacy@operator.kz"}, kazakhLetter())
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("answer %v, want 451 4.3.0", err)
	}
	if len(f.sink.stored()) != 0 {
		t.Fatal("stored while failing")
	}
	f.sink.setFail(nil)
	if err := f.send(t, "aigerim.n@gmail.com", []string{"privacy@operator.kz"}, kazakhLetter()); err != nil {
		t.Fatalf("retry answered %v", err)
	}
	// The sender's second retry, after a 250 it never received: 250, and
	// still one letter.
	if err := f.send(t, "aigerim.n@gmail.com", []string{"privacy@operator.kz"}, kazakhLetter()); err != nil {
		t.Fatalf("duplicate answered %v", err)
	}
	if len(f.sink.stored()) != 1 {
		t.Errorf("stored %d, want 1", len(f.sink.stored()))
	}
	if value(t, f.counter(t, "rightsdesk_inbound_store_failures_total", "smtp")) != 1 ||
		value(t, f.counter(t, "rightsdesk_inbound_duplicates_total", "smtp")) != 1 {
		t.Error("failure or duplicate not counted")
	}
}

func TestListenerAcceptsOnlyItsDomainsAndAddresses(t *testing.T) {
	f := start(t)
	raw := kazakhLetter()
	tests := []struct {
		rcpt string
		want int
	}{
		{"privacy@operator.kz", 250},
		{"privacy+rd-5398-d123-456v@operator.kz", 250},
		{"anyone@requests.operator.kz", 250},
		{"ceo@operator.kz", 550},
		{"privacy@operator.kz.evil.example", 550},
		{"someone@gmail.com", 550},
	}
	for _, tt := range tests {
		if got := code(f.send(t, "a@b.kz", []string{tt.rcpt}, raw)); got != tt.want {
			t.Errorf("RCPT %s answered %d, want %d", tt.rcpt, got, tt.want)
		}
	}
	if value(t, f.metrics.Collectors()[len(f.metrics.Collectors())-1].(prometheus.Metric)) != 3 {
		t.Error("refused recipients not counted")
	}
}

func TestListenerThreadsByThePlusAddressItWasSentTo(t *testing.T) {
	f := start(t)
	raw := crlf("From: dana@school.kz\nTo: Operator <no-reply@operator.kz>\nSubject: hello\nMessage-ID: <r@school.kz>\n\nHere are the documents.\n")
	if err := f.send(t, "dana@school.kz", []string{"privacy+rd-5398-d123-456v@operator.kz"}, raw); err != nil {
		t.Fatal(err)
	}
	l := f.sink.stored()[0]
	if l.Class.Kind != inbound.KindReply || l.Keys.Tag.Reference != "RD-5398-D123-456V" || l.ReplyText != "Here are the documents." {
		t.Errorf("kind %s, keys %+v, reply %q", l.Class.Kind, l.Keys, l.ReplyText)
	}
}

func TestListenerHandsABounceOverAsTheBounceOfItsOriginal(t *testing.T) {
	f := start(t)
	dsn := crlf(`
From: MAILER-DAEMON@mx.google.com
To: no-reply@operator.kz
Subject: Delivery Status Notification (Failure)
Message-ID: <dsn-1@mx.google.com>
Content-Type: multipart/report; report-type=delivery-status; boundary=R

--R
Content-Type: text/plain

Address not found.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.google.com

Final-Recipient: rfc822; typo@gmail.com
Action: failed
Status: 5.1.1

--R
Content-Type: message/rfc822

Message-ID: <rd.7.ack.b@operator.kz>
From: no-reply@operator.kz
Subject: x

x
--R--
`)
	if err := f.send(t, "", []string{"privacy@operator.kz"}, dsn); err != nil {
		t.Fatal(err)
	}
	l := f.sink.stored()[0]
	if !l.NullSender || l.Class.Kind != inbound.KindBounce || l.Class.Bounce.OriginalMessageID != "rd.7.ack.b@operator.kz" || !l.Class.Bounce.Permanent {
		t.Errorf("null %v, class %+v, bounce %+v", l.NullSender, l.Class, l.Class.Bounce)
	}
}

func TestListenerRefusesLettersOverTheLimitsPermanently(t *testing.T) {
	f := start(t, func(o *Options) { o.MaxSize = 64 << 10 })
	big := append(crlf("From: a@b.kz\nTo: privacy@operator.kz\nSubject: big\n\n"), []byte(strings.Repeat(strings.Repeat("x", 76)+"\r\n", 1000))...)
	err := f.send(t, "a@b.kz", []string{"privacy@operator.kz"}, big)
	if code(err) != 552 {
		t.Errorf("oversize answered %v, want 552", err)
	}
	var parts strings.Builder
	parts.WriteString("--M\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&parts, "--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=d%d.pdf\r\n\r\n%%PDF-1.4 x\r\n", i)
	}
	parts.WriteString("--M--\r\n")
	six := append(crlf("From: a@b.kz\nTo: privacy@operator.kz\nSubject: six\nContent-Type: multipart/mixed; boundary=M\n\n"), parts.String()...)
	err = f.send(t, "a@b.kz", []string{"privacy@operator.kz"}, six)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 || !strings.Contains(se.Message, "at most 5") {
		t.Errorf("six attachments answered %v, want 552 naming the limit", err)
	}
	if len(f.sink.stored()) != 0 {
		t.Error("a refused letter reached the sink")
	}
	if value(t, f.counter(t, "rightsdesk_inbound_refused_total", "smtp", "too_many_attachments")) != 1 ||
		value(t, f.counter(t, "rightsdesk_inbound_refused_total", "smtp", "too_large")) != 1 {
		t.Error("refusals not counted")
	}
}

func TestListenerOffersSTARTTLS(t *testing.T) {
	serverTLS, pool := testkit.SelfSignedTLS(t)
	f := start(t, func(o *Options) { o.TLSConfig = serverTLS })
	if err := f.send(t, "a@b.kz", []string{"privacy@operator.kz"}, kazakhLetter(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	if l := f.sink.stored()[0]; !strings.Contains(string(l.Raw[:200]), "with ESMTPS;") {
		t.Errorf("trace field does not say TLS: %.150q", l.Raw)
	}
}

func TestParseAccept(t *testing.T) {
	for _, ok := range []string{"operator.kz", "Privacy@Operator.kz", "localhost"} {
		if _, _, err := ParseAccept(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "operator", "a+b@operator.kz", "Name <a@b.kz>", "a@", "op erator.kz"} {
		if _, _, err := ParseAccept(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// counter finds one series of the fixture's metrics by its label values.
func (f *fixture) counter(t *testing.T, name string, values ...string) prometheus.Metric {
	t.Helper()
	for _, c := range f.metrics.Collectors() {
		if vec, ok := c.(*prometheus.CounterVec); ok {
			desc := make(chan *prometheus.Desc, 1)
			vec.Describe(desc)
			if strings.Contains((<-desc).String(), `"`+name+`"`) {
				return vec.WithLabelValues(values...)
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
