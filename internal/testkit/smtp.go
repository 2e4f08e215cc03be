package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/launch"
	"rightsdesk/internal/testkit/smtpd"
)

// SMTPOptions configures StartSMTP (smtpd.Options). The zero value is a
// plain server without TLS or authentication.
type SMTPOptions = smtpd.Options

// ReceivedMessage is one message accepted by the test server, decoded.
type ReceivedMessage = smtpd.Message

// MailLinks are the secret links of one email (ReceivedMessage.Links).
type MailLinks = smtpd.MailLinks

// SMTPServer is a real SMTP server on 127.0.0.1 for tests (internal/testkit/smtpd,
// on emersion/go-smtp). It is safe for concurrent use.
type SMTPServer struct {
	*smtpd.Server
	opts SMTPOptions
}

// StartSMTP starts a server on 127.0.0.1 with a free port and stops it when
// the test ends. At most one SMTPOptions is used.
func StartSMTP(tb testing.TB, opts ...SMTPOptions) *SMTPServer {
	tb.Helper()
	if len(opts) > 1 {
		tb.Fatalf("testkit.StartSMTP: at most one SMTPOptions, got %d", len(opts))
	}
	var o SMTPOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	srv, err := smtpd.Listen("127.0.0.1:0", o)
	if err != nil {
		tb.Fatalf("testkit.StartSMTP: %v", err)
	}
	tb.Cleanup(srv.Stop)
	return &SMTPServer{Server: srv, opts: o}
}

// Host returns "127.0.0.1".
func (s *SMTPServer) Host() string {
	host, _, _ := net.SplitHostPort(s.Addr())
	return host
}

// Port returns the port the server listens (or listened) on.
func (s *SMTPServer) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return n
}

// URL returns an SMTP_URL for this server: smtps:// for implicit TLS,
// ?tls=starttls when STARTTLS is offered, ?tls=none otherwise, with the
// credentials when the server requires them.
func (s *SMTPServer) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr()}
	switch {
	case s.opts.Implicit:
		u.Scheme = "smtps"
	case s.opts.TLS != nil:
		u.RawQuery = "tls=starttls"
	default:
		u.RawQuery = "tls=none"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// Restart listens again on the same port after Stop, like the server coming
// back. Messages received before are kept.
func (s *SMTPServer) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.Start(); err != nil {
		tb.Fatalf("testkit: restart SMTP server on %s: %v", s.Addr(), err)
	}
}

// WaitForMessages waits until at least n messages have arrived and returns
// them all. On timeout it fails the test, listing what did arrive. Call it
// from the test's goroutine.
func (s *SMTPServer) WaitForMessages(tb testing.TB, n int, timeout time.Duration) []ReceivedMessage {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Messages()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range got {
				subjects = append(subjects, strconv.Quote(m.Subject))
			}
			tb.Fatalf("testkit: waited %v for %d SMTP message(s), got %d: [%s]",
				timeout, n, len(got), strings.Join(subjects, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SelfSignedTLS returns a server TLS configuration with a fresh self-signed
// certificate for 127.0.0.1 and localhost, and the pool a client needs to
// trust it.
func SelfSignedTLS(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	certPEM, keyPEM, err := launch.LoopbackCertificate("rightsdesk testkit")
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatalf("testkit: read certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, pool
}

// Mailbox lists what arrived for addr (any letter case), oldest first: what
// the owner of that mailbox reads.
func (s *SMTPServer) Mailbox(addr string) []ReceivedMessage {
	var out []ReceivedMessage
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// WaitForMail waits for the newest message to addr whose subject contains
// part and returns it; on timeout it fails the test, listing what addr got.
func (s *SMTPServer) WaitForMail(tb testing.TB, addr, part string, timeout time.Duration) ReceivedMessage {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		box := s.Mailbox(addr)
		for i := len(box) - 1; i >= 0; i-- {
			if strings.Contains(box[i].Subject, part) {
				return box[i]
			}
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range box {
				subjects = append(subjects, strconv.Quote(m.Subject))
			}
			tb.Fatalf("testkit: waited %v for mail to %s about %q, got [%s]", timeout, addr, part, strings.Join(subjects, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
