package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	rdmail "rightsdesk/internal/mail"
)

// SMTPOptions configures StartSMTP. The zero value is a plain server without
// TLS or authentication.
type SMTPOptions struct {
	// TLS, when set, makes the server offer STARTTLS (see SelfSignedTLS).
	TLS *tls.Config
	// Implicit serves TLS from the first byte (smtps) instead; needs TLS.
	Implicit bool
	// Username and Password, when set, make AUTH PLAIN required before MAIL.
	// Without TLS the server still offers AUTH, so tests can check that a
	// client refuses to send credentials in the clear.
	Username, Password string
}

// ReceivedMessage is one message accepted by the test server, decoded.
type ReceivedMessage struct {
	From      string   // envelope sender (MAIL FROM)
	To        []string // envelope recipients (RCPT TO)
	Raw       []byte   // the DATA as received
	Header    mail.Header
	Subject   string // RFC 2047 decoded
	MessageID string // without angle brackets
	Text      string // first text/plain part, transfer-decoded (charset assumed UTF-8)
	HTML      string // first text/html part, likewise
	TLS       bool   // the session was encrypted (STARTTLS or implicit)
	AuthUser  string // the user name the session authenticated as, if any
	// ParseErr is set when Raw could not be decoded; the other decoded fields
	// are then partial.
	ParseErr error
}

// SMTPServer is a real SMTP server on 127.0.0.1 for tests, built on
// emersion/go-smtp. It is safe for concurrent use.
type SMTPServer struct {
	opts SMTPOptions

	mu        sync.Mutex
	addr      string       // fixed by the first listen, so Restart reuses the port
	server    *smtp.Server // nil while stopped
	listener  net.Listener
	rejecting int
	refuse    map[string]int // recipient (lower case) → reply code at RCPT
	messages  []ReceivedMessage
	accepted  int                   // connections accepted since the start
	open      map[net.Conn]struct{} // connections not yet closed
}

// StartSMTP starts a server on 127.0.0.1 with a free port and stops it when
// the test ends. At most one SMTPOptions is used.
func StartSMTP(tb testing.TB, opts ...SMTPOptions) *SMTPServer {
	tb.Helper()
	if len(opts) > 1 {
		tb.Fatalf("testkit.StartSMTP: at most one SMTPOptions, got %d", len(opts))
	}
	s := &SMTPServer{addr: "127.0.0.1:0"}
	if len(opts) == 1 {
		s.opts = opts[0]
	}
	if s.opts.Implicit && s.opts.TLS == nil {
		tb.Fatal("testkit.StartSMTP: Implicit needs TLS")
	}
	if err := s.listen(); err != nil {
		tb.Fatalf("testkit.StartSMTP: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Addr returns "127.0.0.1:PORT".
func (s *SMTPServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
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

// Stop closes the listener and every open connection, like an SMTP server
// going down. Stopping a stopped server does nothing.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	server, listener := s.server, s.listener
	s.server, s.listener = nil, nil
	s.mu.Unlock()
	if server != nil {
		// The listener is closed here too: Serve may not have registered it
		// with the server yet when Stop follows a listen closely.
		_ = listener.Close()
		_ = server.Close()
	}
}

// Restart listens again on the same port after Stop, like the server coming
// back. Messages received before are kept.
func (s *SMTPServer) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if err = s.listen(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // the old socket may linger briefly
	}
	tb.Fatalf("testkit: restart SMTP server on %s: %v", s.Addr(), err)
}

// Connections returns how many connections the server has accepted, over
// all its restarts.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// OpenConnections returns how many connections are open now.
func (s *SMTPServer) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropConnections closes every open connection while the server keeps
// listening, like a relay ending idle sessions or a network cutting them.
func (s *SMTPServer) DropConnections() {
	s.mu.Lock()
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for c := range open {
		_ = c.Close()
	}
}

// SetRejecting makes RCPT and DATA fail with code (e.g. 451, a temporary
// failure, or 550) until it is set back to 0.
func (s *SMTPServer) SetRejecting(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejecting = code
}

// RefuseRecipient makes RCPT TO for this address fail with code (e.g. 550,
// "no such mailbox") until it is set back to 0; other recipients are served.
func (s *SMTPServer) RefuseRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse == nil {
		s.refuse = map[string]int{}
	}
	s.refuse[strings.ToLower(addr)] = code
}

func (s *SMTPServer) recipientCode(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuse[strings.ToLower(addr)]
}

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *SMTPServer) Messages() []ReceivedMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReceivedMessage(nil), s.messages...)
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

// secretLinkPattern matches the secret links rightsdesk's emails carry:
// confirmation (/confirm/), status page (/s/) and download (/d/).
var secretLinkPattern = regexp.MustCompile(`https?://[^\s"<>]+?/(confirm|s|d)/[A-Za-z0-9_-]{43}`)

// MailLinks are the secret links of one email's plain-text part, by kind
// (the last of each kind).
type MailLinks struct{ Confirm, Status, Download string }

// Links finds the secret links in the message's plain-text part.
func (m ReceivedMessage) Links() MailLinks {
	var l MailLinks
	for _, match := range secretLinkPattern.FindAllStringSubmatch(m.Text, -1) {
		switch match[1] {
		case "confirm":
			l.Confirm = match[0]
		case "s":
			l.Status = match[0]
		case "d":
			l.Download = match[0]
		}
	}
	return l
}

func (s *SMTPServer) listen() error {
	tcp, err := net.Listen("tcp", s.Addr())
	if err != nil {
		return err
	}
	var l net.Listener = &trackingListener{Listener: tcp, server: s}
	if s.opts.Implicit {
		l = tls.NewListener(l, s.opts.TLS)
	}

	server := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{server: s, tls: isTLS}, nil
	}))
	server.Domain = "testkit.local"
	server.ReadTimeout = 30 * time.Second
	server.WriteTimeout = 30 * time.Second
	server.MaxMessageBytes = 10 << 20
	server.MaxRecipients = 50
	server.EnableSMTPUTF8 = true
	server.ErrorLog = discardLogger{} // connections cut by Stop are expected
	if !s.opts.Implicit {
		server.TLSConfig = s.opts.TLS // offers STARTTLS when set
	}
	// Offer AUTH even in the clear: whether credentials are sent without TLS
	// is for the client to decide, and tests check that it declines.
	server.AllowInsecureAuth = true

	s.mu.Lock()
	s.addr = tcp.Addr().String()
	s.server = server
	s.listener = l
	s.mu.Unlock()
	go func() { _ = server.Serve(l) }()
	return nil
}

func (s *SMTPServer) rejectCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejecting
}

func (s *SMTPServer) record(m ReceivedMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

// trackingListener counts accepted connections and keeps the open ones,
// for Connections and DropConnections.
type trackingListener struct {
	net.Listener
	server *SMTPServer
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, server: l.server}
	s := l.server
	s.mu.Lock()
	s.accepted++
	if s.open == nil {
		s.open = map[net.Conn]struct{}{}
	}
	s.open[tc] = struct{}{}
	s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	server *SMTPServer
}

func (c *trackedConn) Close() error {
	c.server.mu.Lock()
	delete(c.server.open, c)
	c.server.mu.Unlock()
	return c.Conn.Close()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// smtpSession is one SMTP session; go-smtp makes a new one per EHLO, so tls
// is fixed for its lifetime.
type smtpSession struct {
	server   *SMTPServer
	tls      bool
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.server.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if username != ss.server.opts.Username || password != ss.server.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.server.opts.Username != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := rejection(ss.server.rejectCode()); err != nil {
		return err
	}
	if err := rejection(ss.server.recipientCode(to)); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := rejection(ss.server.rejectCode()); err != nil {
		return err
	}
	m := decodeMessage(raw)
	m.From = ss.from
	m.To = append([]string(nil), ss.to...)
	m.TLS = ss.tls
	m.AuthUser = ss.authUser
	ss.server.record(m)
	return nil
}

func (ss *smtpSession) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *smtpSession) Logout() error { return nil }

func rejection(code int) error {
	if code == 0 {
		return nil
	}
	class := code / 100
	return &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCode{class, 0, 0},
		Message:      "rejected by the test server",
	}
}

// decodeMessage parses raw into a ReceivedMessage with the application's own
// parser, so tests read mail exactly as the development mailbox does.
func decodeMessage(raw []byte) ReceivedMessage {
	m := ReceivedMessage{Raw: raw}
	p, err := rdmail.Parse(raw)
	m.Header, m.Subject, m.MessageID, m.Text, m.HTML, m.ParseErr = p.Header, p.Subject, p.MessageID, p.Text, p.HTML, err
	return m
}

// SelfSignedTLS returns a server TLS configuration with a fresh self-signed
// certificate for 127.0.0.1 and localhost, and the pool a client needs to
// trust it.
func SelfSignedTLS(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testkit: generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("testkit: serial: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "rightsdesk testkit"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("testkit: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testkit: parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return server, pool
}
