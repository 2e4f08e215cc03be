package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/testkit"
)

const (
	requester = "aigerim.nurlanovna@example.kz"
	secretTxt = "Ваш запрос на удаление данных принят. Ссылка: https://rights.example/s/RD-7K4M?t=секрет"
)

func testMessage() mail.Message {
	return mail.Message{
		MessageID: "01JABCDEF0123456789XYZ.ack@rightsdesk.local",
		From:      "Приватность ТОО «Пример» <privacy@example.kz>",
		To:        "Айгерим Нурлановна <" + requester + ">",
		Subject:   "Запрос RD-7K4M принят",
		Text:      secretTxt + "\n\nСұрауыңыз қабылданды.\n",
		HTML:      "<p>" + secretTxt + "</p><p>Сұрауыңыз қабылданды.</p>",
		Date:      time.Date(2026, 3, 9, 14, 30, 0, 0, time.FixedZone("ALMT", 5*3600)),
		Headers: map[string]string{
			"Auto-Submitted":         "auto-generated",
			"X-Rightsdesk-Reference": "RD-7K4M",
		},
	}
}

func mustParseURL(t *testing.T, raw string) mail.SMTPConfig {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(raw)
	if err != nil {
		t.Fatalf("ParseSMTPURL(%q): %v", raw, err)
	}
	return cfg
}

func send(t *testing.T, s *mail.SMTPSender, m mail.Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

// assertNothingDelivered waits until the server has closed every session
// (it records a message before it answers its DATA, so whatever a session
// delivered is recorded by then), then checks none delivered anything.
func assertNothingDelivered(t *testing.T, srv *testkit.SMTPServer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.OpenConnections() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SMTP sessions still open after 10 s", srv.OpenConnections())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := srv.Messages(); len(got) != 0 {
		t.Fatalf("server received %d message(s), want none; first subject %q", len(got), got[0].Subject)
	}
}

// assertLogSafe checks that an error carries no recipient and no content.
func assertLogSafe(t *testing.T, err error) {
	t.Helper()
	for _, private := range []string{requester, "Айгерим", "секрет", "удаление"} {
		if strings.Contains(err.Error(), private) {
			t.Errorf("error %q contains personal data %q", err, private)
		}
	}
}

func TestSendOverPlainConnectionDeliversDecodableMessage(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))

	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitForMessages(t, 1, 5*time.Second)[0]

	if got.ParseErr != nil {
		t.Fatalf("received message does not parse: %v\n%s", got.ParseErr, got.Raw)
	}
	if got.TLS {
		t.Error("session used TLS, want plain with tls=none")
	}
	if got.From != "privacy@example.kz" {
		t.Errorf("envelope from = %q", got.From)
	}
	if len(got.To) != 1 || got.To[0] != requester {
		t.Errorf("envelope recipients = %q, want only %q", got.To, requester)
	}
	if got.Subject != "Запрос RD-7K4M принят" {
		t.Errorf("subject = %q", got.Subject)
	}
	if raw := got.Header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?") {
		t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
	}
	if got.MessageID != "01JABCDEF0123456789XYZ.ack@rightsdesk.local" {
		t.Errorf("Message-ID = %q", got.MessageID)
	}
	date, err := got.Header.Date()
	if err != nil || !date.Equal(testMessage().Date) {
		t.Errorf("Date = %v (%v), want %v", date, err, testMessage().Date)
	}
	if v := got.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if v := got.Header.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	if v := got.Header.Get("X-Rightsdesk-Reference"); v != "RD-7K4M" {
		t.Errorf("X-Rightsdesk-Reference = %q", v)
	}
	from, err := got.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Приватность ТОО «Пример»" || from[0].Address != "privacy@example.kz" {
		t.Errorf("From header = %v (%v)", from, err)
	}
	to, err := got.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != requester {
		t.Errorf("To header = %v (%v)", to, err)
	}
	if len(got.Header["Bcc"]) != 0 || len(got.Header["Cc"]) != 0 {
		t.Errorf("unexpected Cc/Bcc headers: %v", got.Header)
	}
	if !strings.Contains(got.Text, secretTxt) || !strings.Contains(got.Text, "Сұрауыңыз қабылданды.") {
		t.Errorf("text part = %q", got.Text)
	}
	if !strings.Contains(got.HTML, "<p>"+secretTxt+"</p>") {
		t.Errorf("html part = %q", got.HTML)
	}
}

func TestSendWritesTextBeforeHTMLInMultipartAlternative(t *testing.T) {
	var buf bytes.Buffer
	if _, err := testMessage().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	parsed, err := netmail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	mediaType, _, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", parsed.Header.Get("Content-Type"), err)
	}
	body, _ := io.ReadAll(parsed.Body)
	plain := bytes.Index(body, []byte("Content-Type: text/plain; charset=UTF-8"))
	html := bytes.Index(body, []byte("Content-Type: text/html; charset=UTF-8"))
	if plain < 0 || html < 0 || plain > html {
		t.Errorf("want text/plain then text/html parts, got offsets %d and %d in\n%s", plain, html, body)
	}
	if !bytes.Contains(body, []byte("Content-Transfer-Encoding: quoted-printable")) {
		t.Errorf("parts are not quoted-printable:\n%s", body)
	}
	for _, line := range bytes.Split(buf.Bytes(), []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line longer than RFC 5322 allows: %d", len(line))
		}
	}
}

func TestMessageWithoutHTMLIsPlainText(t *testing.T) {
	m := testMessage()
	m.HTML = ""
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	parsed, err := netmail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, _ := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if mediaType != "text/plain" || params["charset"] != "UTF-8" {
		t.Errorf("Content-Type = %q, want text/plain; charset=UTF-8", parsed.Header.Get("Content-Type"))
	}
}

func TestSendKazakhSubjectArrivesDecoded(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	m := testMessage()
	m.Subject = "Сұрауыңыз қабылданды — RD-7K4M, мерзімі 2026 жылғы 8 сәуір дейін ұзартылды"

	if err := send(t, sender, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.WaitForMessages(t, 1, 5*time.Second)[0]; got.Subject != m.Subject {
		t.Errorf("subject = %q, want %q", got.Subject, m.Subject)
	}
}

func TestSendUpgradesWithSTARTTLSWhenOffered(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS})
	cfg := mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSOpportunistic}
	sender := mail.NewSMTPSender(cfg, mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.WaitForMessages(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("session was not encrypted although the server offered STARTTLS")
	}
}

func TestSendOpportunisticDeliversInTheClearWhenSTARTTLSIsNotOffered(t *testing.T) {
	srv := testkit.StartSMTP(t)
	cfg := mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSOpportunistic}

	if err := send(t, mail.NewSMTPSender(cfg), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.WaitForMessages(t, 1, 5*time.Second)[0]; got.TLS {
		t.Error("session reported TLS from a server without STARTTLS")
	}
}

func TestSendRequiredSTARTTLSRefusesServerWithoutIt(t *testing.T) {
	srv := testkit.StartSMTP(t)
	cfg := mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSRequired}

	err := send(t, mail.NewSMTPSender(cfg), testMessage())
	if err == nil {
		t.Fatal("Send succeeded without STARTTLS, want an error")
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error %q does not say STARTTLS was missing", err)
	}
	assertLogSafe(t, err)
	assertNothingDelivered(t, srv)
}

func TestSendRequiredSTARTTLSDeliversOverTLS(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS})
	if !strings.HasSuffix(srv.URL(), "?tls=starttls") {
		t.Fatalf("URL() = %q, want ?tls=starttls", srv.URL())
	}
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()), mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.WaitForMessages(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("session was not encrypted")
	}
}

func TestSendRefusesUntrustedCertificate(t *testing.T) {
	serverTLS, _ := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS})
	_, otherRoots := testkit.SelfSignedTLS(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()), mail.WithTLSConfig(&tls.Config{RootCAs: otherRoots}))

	err := send(t, sender, testMessage())
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Fatalf("Send error = %v, want a certificate verification failure", err)
	}
	assertNothingDelivered(t, srv)
}

func TestSendOverImplicitTLS(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS, Implicit: true})
	cfg := mustParseURL(t, srv.URL())
	if cfg.TLS != mail.TLSImplicit {
		t.Fatalf("URL() = %q parses to TLS mode %v, want implicit", srv.URL(), cfg.TLS)
	}
	sender := mail.NewSMTPSender(cfg, mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitForMessages(t, 1, 5*time.Second)[0]
	if !got.TLS {
		t.Error("session was not encrypted")
	}
	if got.Subject != testMessage().Subject {
		t.Errorf("subject = %q", got.Subject)
	}
}

func TestSendAuthenticatesWithPLAIN(t *testing.T) {
	const password = "s3cr:et@/пароль"
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS, Username: "rightsdesk@example.kz", Password: password})

	cfg := mustParseURL(t, srv.URL()) // credentials percent-encoded in the URL
	if cfg.Username != "rightsdesk@example.kz" || cfg.Password != password {
		t.Fatalf("URL() = %q lost the credentials: %q/%q", srv.URL(), cfg.Username, cfg.Password)
	}
	sender := mail.NewSMTPSender(cfg, mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.WaitForMessages(t, 1, 5*time.Second)[0]; got.AuthUser != "rightsdesk@example.kz" {
		t.Errorf("authenticated as %q", got.AuthUser)
	}
}

func TestSendWithWrongPasswordFailsWithoutDelivering(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS, Implicit: true, Username: "rightsdesk", Password: "right"})
	cfg := mustParseURL(t, srv.URL())
	cfg.Password = "wrong-hunter2"
	sender := mail.NewSMTPSender(cfg, mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	err := send(t, sender, testMessage())
	var de *mail.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Send error = %v, want a *mail.DeliveryError", err)
	}
	if de.Code != 535 || !de.Permanent || de.Stage != "connect" {
		t.Errorf("DeliveryError = %+v, want code 535, permanent, stage connect", de)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
	assertLogSafe(t, err)
	assertNothingDelivered(t, srv)
}

func TestSendWithoutCredentialsToServerRequiringAuthFails(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS, Username: "rightsdesk", Password: "right"})
	cfg := mustParseURL(t, srv.URL())
	cfg.Username, cfg.Password = "", ""

	err := send(t, mail.NewSMTPSender(cfg, mail.WithTLSConfig(&tls.Config{RootCAs: roots})), testMessage())
	var de *mail.DeliveryError
	if !errors.As(err, &de) || de.Stage != "MAIL FROM" || de.Code != 502 {
		t.Fatalf("Send error = %#v, want MAIL FROM refused with 502", err)
	}
	assertNothingDelivered(t, srv)
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))

	tests := []struct {
		name   string
		modify func(*mail.Message)
	}{
		{"subject CRLF", func(m *mail.Message) { m.Subject = "Subject\r\nBcc: x@evil.example" }},
		{"subject bare LF", func(m *mail.Message) { m.Subject = "Subject\nBcc: x@evil.example" }},
		{"subject bare CR", func(m *mail.Message) { m.Subject = "Subject\rBcc: x@evil.example" }},
		{"subject NUL", func(m *mail.Message) { m.Subject = "Subject\x00" }},
		{"to", func(m *mail.Message) { m.To = requester + "\r\nBcc: x@evil.example" }},
		{"from", func(m *mail.Message) { m.From = "a@example.kz\nBcc: x@evil.example" }},
		{"message id", func(m *mail.Message) { m.MessageID = "id@host\r\nBcc: x@evil.example" }},
		{"extra header value", func(m *mail.Message) { m.Headers["X-Rightsdesk-Reference"] = "RD-1\r\nBcc: x@evil.example" }},
		{"extra header name", func(m *mail.Message) { m.Headers["X-Evil\r\nBcc"] = "x@evil.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.modify(&m)
			if err := m.Validate(); !errors.Is(err, mail.ErrHeaderInjection) {
				t.Errorf("Validate = %v, want ErrHeaderInjection", err)
			}
			err := send(t, sender, m)
			if !errors.Is(err, mail.ErrHeaderInjection) {
				t.Fatalf("Send = %v, want ErrHeaderInjection", err)
			}
			assertLogSafe(t, err)
			if _, err := m.WriteTo(io.Discard); !errors.Is(err, mail.ErrHeaderInjection) {
				t.Errorf("WriteTo = %v, want ErrHeaderInjection", err)
			}
		})
	}
	assertNothingDelivered(t, srv)
}

func TestValidateRejectsIncompleteMessages(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mail.Message)
	}{
		{"no message id", func(m *mail.Message) { m.MessageID = "" }},
		{"message id in brackets", func(m *mail.Message) { m.MessageID = "<id@host>" }},
		{"message id without @", func(m *mail.Message) { m.MessageID = "id.host" }},
		{"message id with space", func(m *mail.Message) { m.MessageID = "i d@host" }},
		{"no from", func(m *mail.Message) { m.From = "" }},
		{"two recipients", func(m *mail.Message) { m.To = requester + ", b@example.kz" }},
		{"invalid recipient", func(m *mail.Message) { m.To = "not an address" }},
		{"no subject", func(m *mail.Message) { m.Subject = " " }},
		{"no text", func(m *mail.Message) { m.Text = "" }},
		{"no date", func(m *mail.Message) { m.Date = time.Time{} }},
		{"header overriding Bcc", func(m *mail.Message) { m.Headers["bcc"] = "x@evil.example" }},
		{"header overriding Content-Type", func(m *mail.Message) { m.Headers["Content-Type"] = "text/html" }},
		{"header name with colon", func(m *mail.Message) { m.Headers["X-A:B"] = "1" }},
		{"header name with space", func(m *mail.Message) { m.Headers["X A"] = "1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.modify(&m)
			err := m.Validate()
			if !errors.Is(err, mail.ErrInvalidMessage) {
				t.Fatalf("Validate = %v, want ErrInvalidMessage", err)
			}
			assertLogSafe(t, err)
		})
	}
	if err := testMessage().Validate(); err != nil {
		t.Errorf("Validate(valid message) = %v", err)
	}
}

func TestSendToStoppedServerFailsFast(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := sender.Send(ctx, testMessage())
	var de *mail.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Send = %v, want a *mail.DeliveryError", err)
	}
	if de.Permanent || de.Code != 0 || de.Stage != "connect" {
		t.Errorf("DeliveryError = %+v, want a temporary connect failure without a reply code", de)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Send took %v against a closed port", elapsed)
	}
	assertLogSafe(t, err)

	srv.Restart(t)
	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send after Restart: %v", err)
	}
	srv.WaitForMessages(t, 1, 5*time.Second)
}

func TestSendHonoursContextDeadlineWhenServerHangs(t *testing.T) {
	// A listener that accepts and never greets: the classic stuck relay.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); held.Wait() })
	held.Add(1)
	go func() {
		defer held.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held.Add(1)
			go func() { defer held.Done(); _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	sender := mail.NewSMTPSender(mail.SMTPConfig{Host: "127.0.0.1", Port: addr.Port, TLS: mail.TLSNone, Timeout: time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = sender.Send(ctx, testMessage())
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want context.DeadlineExceeded", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("Send returned after %v, want about 300ms", elapsed)
	}
}

func TestSendHonoursConfiguredTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	sender := mail.NewSMTPSender(mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, Timeout: 200 * time.Millisecond})

	start := time.Now()
	err = sender.Send(context.Background(), testMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send returned after %v, want about 200ms", elapsed)
	}
}

func TestSendWithCancelledContextDoesNotConnect(t *testing.T) {
	srv := testkit.StartSMTP(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mail.NewSMTPSender(mustParseURL(t, srv.URL())).Send(ctx, testMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	assertNothingDelivered(t, srv)
}

func TestSendReportsTemporaryRejection(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	srv.SetRejecting(451)

	err := send(t, sender, testMessage())
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("Send = %v, want an error mentioning 451", err)
	}
	var de *mail.DeliveryError
	if !errors.As(err, &de) || de.Code != 451 || de.Permanent || de.Stage != "RCPT TO" {
		t.Errorf("DeliveryError = %+v, want a temporary 451 at RCPT TO", de)
	}
	assertLogSafe(t, err)
	assertNothingDelivered(t, srv)

	srv.SetRejecting(0)
	if err := send(t, sender, testMessage()); err != nil {
		t.Fatalf("Send after the server recovered: %v", err)
	}
	srv.WaitForMessages(t, 1, 5*time.Second)
}

func TestSendReportsPermanentRejection(t *testing.T) {
	srv := testkit.StartSMTP(t)
	srv.SetRejecting(550)

	err := send(t, mail.NewSMTPSender(mustParseURL(t, srv.URL())), testMessage())
	var de *mail.DeliveryError
	if !errors.As(err, &de) || de.Code != 550 || !de.Permanent {
		t.Fatalf("Send = %v, want a permanent 550", err)
	}
}

func TestSendRedactsAddressesQuotedByTheServer(t *testing.T) {
	// A scripted server that, like Postfix, quotes the recipient in its reply.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		reply := func(s string) { _, _ = fmt.Fprintf(c, "%s\r\n", s) }
		reply("220 scripted ESMTP")
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			cmd := strings.ToUpper(string(buf[:n]))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				reply("250 scripted")
			case strings.HasPrefix(cmd, "MAIL"):
				reply("250 2.1.0 Ok")
			case strings.HasPrefix(cmd, "RCPT"):
				reply("450 4.1.2 <" + strings.ToUpper(requester) + ">: Recipient address rejected: Domain not found")
			case strings.HasPrefix(cmd, "QUIT"):
				reply("221 Bye")
				return
			default:
				reply("250 Ok")
			}
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	sender := mail.NewSMTPSender(mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone})

	err = send(t, sender, testMessage())
	if err == nil || !strings.Contains(err.Error(), "450 4.1.2 <[redacted]>: Recipient address rejected") {
		t.Fatalf("Send = %v, want the server reply with the address redacted", err)
	}
	if strings.Contains(strings.ToLower(err.Error()), requester) {
		t.Errorf("error %q contains the recipient", err)
	}
}

func TestSMTPSenderIsSafeForConcurrentUse(t *testing.T) {
	serverTLS, roots := testkit.SelfSignedTLS(t)
	srv := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: serverTLS, Username: "u", Password: "p"})
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()), mail.WithTLSConfig(&tls.Config{RootCAs: roots}))

	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			m := testMessage()
			m.MessageID = fmt.Sprintf("msg-%d@rightsdesk.local", i)
			errs <- send(t, sender, m)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := srv.WaitForMessages(t, n, 5*time.Second)
	ids := map[string]bool{}
	for _, m := range got {
		ids[m.MessageID] = true
	}
	if len(ids) != n {
		t.Errorf("got %d distinct Message-IDs, want %d", len(ids), n)
	}
}
