// Package smtpd is the SMTP server rightsdesk is tested against: emersion's
// go-smtp on a loopback address, recording every message it accepts, with
// the faults a mail relay has: it can go down and come back on the same
// port, drop its sessions, refuse recipients or messages with a reply code,
// and hold senders waiting. The tests use it through testkit.StartSMTP,
// scripts/faults and scripts/bench as a process of its own
// (tools/faults/smtpsink). It is safe for concurrent use.
package smtpd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	rdmail "rightsdesk/internal/mail"
)

// Options configures a server. The zero value is a plain server without TLS
// or authentication that decodes every message.
type Options struct {
	// TLS, when set, makes the server offer STARTTLS.
	TLS *tls.Config
	// Implicit serves TLS from the first byte (smtps) instead; needs TLS.
	Implicit bool
	// Username and Password, when set, make AUTH PLAIN required before MAIL.
	// Without TLS the server still offers AUTH, so tests can check that a
	// client refuses to send credentials in the clear.
	Username, Password string
	// HeadersOnly keeps of each message only its envelope, Message-ID and
	// subject: for load runs, where thousands of messages would be kept and
	// decoded for nothing.
	HeadersOnly bool
}

// Message is one message the server accepted, decoded.
type Message struct {
	From      string      // envelope sender (MAIL FROM)
	To        []string    // envelope recipients (RCPT TO)
	Raw       []byte      // the DATA as received (nil with HeadersOnly)
	Header    mail.Header // nil with HeadersOnly
	Subject   string      // RFC 2047 decoded
	MessageID string      // without angle brackets
	Text      string      // first text/plain part, transfer-decoded (charset assumed UTF-8)
	HTML      string      // first text/html part, likewise
	TLS       bool        // the session was encrypted (STARTTLS or implicit)
	AuthUser  string      // the user name the session authenticated as, if any
	At        time.Time
	// ParseErr is set when Raw could not be decoded; the other decoded fields
	// are then partial.
	ParseErr error
}

// Server is an SMTP server on a loopback address.
type Server struct {
	opts Options

	mu        sync.Mutex
	addr      string       // fixed by the first listen, so Start reuses the port
	server    *smtp.Server // nil while stopped
	listener  net.Listener
	rejecting int
	refuse    map[string]int // recipient (lower case) → reply code at RCPT
	messages  []Message
	accepted  int                   // connections accepted since the start
	open      map[net.Conn]struct{} // connections not yet closed
	gate      chan struct{}         // non-nil while held; closed by Release
	held      int                   // senders waiting at the gate
	released  time.Time             // the last Release
}

// ErrImplicitWithoutTLS is returned for Options asking for implicit TLS
// without a TLS configuration.
var ErrImplicitWithoutTLS = errors.New("smtpd: Implicit needs TLS")

// Listen starts a server on addr ("127.0.0.1:0" for a free port).
func Listen(addr string, opts Options) (*Server, error) {
	if opts.Implicit && opts.TLS == nil {
		return nil, ErrImplicitWithoutTLS
	}
	s := &Server{addr: addr, opts: opts}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the host:port the server listens (or listened) on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Up says whether the server is listening.
func (s *Server) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.server != nil
}

// Start listens again on the same address after Stop, like a relay coming
// back; messages received before are kept. The old socket may linger a
// moment after Stop, so it tries for up to five seconds. Starting a running
// server does nothing.
func (s *Server) Start() error {
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err = s.listen(); err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// Stop closes the listener and every open session, like a relay going
// down. Stopping a stopped server does nothing.
func (s *Server) Stop() {
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

// Connections returns how many connections the server has accepted, over
// all its restarts.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// OpenConnections returns how many connections are open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropConnections closes every open connection while the server keeps
// listening, like a relay ending idle sessions or a network cutting them.
func (s *Server) DropConnections() {
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
func (s *Server) SetRejecting(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejecting = code
}

// RefuseRecipient makes RCPT TO for this address fail with code (e.g. 550,
// "no such mailbox") until it is set back to 0; other recipients are served.
func (s *Server) RefuseRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse == nil {
		s.refuse = map[string]int{}
	}
	s.refuse[strings.ToLower(addr)] = code
}

// Hold keeps senders waiting until Release: new connections are accepted
// but not greeted, and open sessions get no answer to MAIL FROM. Nothing
// fails and nothing is received; a sender that dies meanwhile leaves
// nothing behind, as with a relay that never answered.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Release lets held senders (and every new one) go on.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.released = time.Now()
}

// Held returns how many senders wait at the gate now.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Released is when Release was last called (zero: never).
func (s *Server) Released() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released
}

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Reset forgets the messages received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
}

// wait blocks while the server is held.
func (s *Server) wait() {
	s.mu.Lock()
	gate := s.gate
	if gate != nil {
		s.held++
	}
	s.mu.Unlock()
	if gate == nil {
		return
	}
	<-gate
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
}

func (s *Server) listen() error {
	s.mu.Lock()
	running := s.server != nil
	s.mu.Unlock()
	if running {
		return nil
	}
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
		return &session{server: s, tls: isTLS}, nil
	}))
	server.Domain = "smtpd.local"
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

func (s *Server) rejectCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejecting
}

func (s *Server) recipientCode(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refuse[strings.ToLower(addr)]
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

// trackingListener counts accepted connections and keeps the open ones,
// for Connections and DropConnections, and holds new ones while the server
// is held: the peer is connected and waits for the greeting.
type trackingListener struct {
	net.Listener
	server *Server
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
	s.wait()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	server *Server
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

// session is one SMTP session; go-smtp makes a new one per EHLO, so tls is
// fixed for its lifetime.
type session struct {
	server   *Server
	tls      bool
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
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

// Mail waits while the server is held: a sender that keeps its connection
// open between messages is held like one that opens a new one.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.server.wait()
	if ss.server.opts.Username != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := rejection(ss.server.rejectCode()); err != nil {
		return err
	}
	if err := rejection(ss.server.recipientCode(to)); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := rejection(ss.server.rejectCode()); err != nil {
		return err
	}
	var m Message
	if ss.server.opts.HeadersOnly {
		m = decodeHeader(raw)
	} else {
		m = decodeMessage(raw)
	}
	m.From = ss.from
	m.To = append([]string(nil), ss.to...)
	m.TLS = ss.tls
	m.AuthUser = ss.authUser
	m.At = time.Now()
	ss.server.record(m)
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

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

// decodeMessage parses raw with the application's own parser, so tests read
// mail exactly as the development mailbox does.
func decodeMessage(raw []byte) Message {
	m := Message{Raw: raw}
	p, err := rdmail.Parse(raw)
	m.Header, m.Subject, m.MessageID, m.Text, m.HTML, m.ParseErr = p.Header, p.Subject, p.MessageID, p.Text, p.HTML, err
	return m
}

// decodeHeader reads only the Message-ID and subject of raw.
func decodeHeader(raw []byte) Message {
	var m Message
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.ParseErr = err
		return m
	}
	m.MessageID = strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>")
	m.Subject = msg.Header.Get("Subject")
	return m
}

// secretLinkPattern matches the secret links rightsdesk's emails carry:
// confirmation (/confirm/), status page (/s/) and download (/d/).
var secretLinkPattern = regexp.MustCompile(`https?://[^\s"<>]+?/(confirm|s|d)/[A-Za-z0-9_-]{43}`)

// MailLinks are the secret links of one email's plain-text part, by kind
// (the last of each kind).
type MailLinks struct{ Confirm, Status, Download string }

// Links finds the secret links in the message's plain-text part.
func (m Message) Links() MailLinks {
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
