package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Message is a fully rendered email, ready to send. All fields are required
// except HTML and Headers.
type Message struct {
	// MessageID is the Message-ID without angle brackets, e.g.
	// "01J...@rightsdesk.local". It is stable per email, so a retried delivery
	// carries the same id and the dev mailbox stays idempotent.
	MessageID string
	From      string // one address, may be "Name <addr>"
	To        string // one address
	Subject   string
	Text      string // plain-text part, always present
	HTML      string // HTML alternative, optional
	Date      time.Time
	// Headers are extra header fields, e.g. "Auto-Submitted": "auto-generated"
	// or "X-Rightsdesk-Reference". Non-ASCII values are RFC 2047 encoded.
	Headers map[string]string
}

// ErrHeaderInjection is returned when a header value (From, To, Subject,
// MessageID or an extra header) contains CR, LF or NUL, which could smuggle
// extra header fields (a Bcc) into the message.
var ErrHeaderInjection = errors.New("mail: header value contains CR, LF or NUL")

// ErrInvalidMessage is returned for a message that is incomplete or malformed
// in a way other than header injection.
var ErrInvalidMessage = errors.New("mail: invalid message")

// reservedHeaders are built from Message's own fields (or by the MIME writer)
// and must not be set, or duplicated, through Message.Headers.
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Sender": true,
	"Subject": true, "Date": true, "Message-Id": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true,
}

// Validate checks the message before anything is built or sent. Errors name
// the offending field but never repeat its value: values are personal data.
func (m Message) Validate() error {
	fields := []struct{ name, value string }{
		{"From", m.From}, {"To", m.To}, {"Subject", m.Subject}, {"MessageID", m.MessageID},
	}
	for _, f := range fields {
		if hasLineBreakOrNUL(f.value) {
			return fmt.Errorf("%w: %s", ErrHeaderInjection, f.name)
		}
	}
	for name, value := range m.Headers {
		if hasLineBreakOrNUL(name) || hasLineBreakOrNUL(value) {
			return fmt.Errorf("%w: header %q", ErrHeaderInjection, sanitizeHeaderName(name))
		}
		if !validHeaderName(name) {
			return fmt.Errorf("%w: header name %q is not a valid field name", ErrInvalidMessage, name)
		}
		if reservedHeaders[textproto.CanonicalMIMEHeaderKey(name)] {
			return fmt.Errorf("%w: header %q is set from the message fields", ErrInvalidMessage, name)
		}
	}

	if err := validMessageID(m.MessageID); err != nil {
		return err
	}
	if _, err := netmail.ParseAddress(m.From); err != nil {
		// net/mail errors quote the input; keep addresses out of the error.
		return fmt.Errorf("%w: From is not a single valid address", ErrInvalidMessage)
	}
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("%w: To is not a single valid address", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: Subject is empty", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: Text is empty", ErrInvalidMessage)
	}
	if m.Date.IsZero() {
		return fmt.Errorf("%w: Date is not set", ErrInvalidMessage)
	}
	return nil
}

// WriteTo writes the message as RFC 5322 MIME: multipart/alternative with
// text/plain first and text/html second (or text/plain alone), UTF-8,
// quoted-printable bodies, RFC 2047 encoded non-ASCII header values, and Date,
// Message-ID and MIME-Version headers. It validates first.
func (m Message) WriteTo(w io.Writer) (int64, error) {
	msg, err := m.build()
	if err != nil {
		return 0, err
	}
	n, err := msg.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("mail: write message: %w", err)
	}
	return n, nil
}

// build turns a validated Message into a go-mail Msg.
func (m Message) build() (*gomail.Msg, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	from, _ := netmail.ParseAddress(m.From) // checked by Validate
	to, _ := netmail.ParseAddress(m.To)

	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(), // no library fingerprint in every email
	)
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	for name, value := range m.Headers {
		msg.SetGenHeader(gomail.Header(textproto.CanonicalMIMEHeaderKey(name)), value)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func hasLineBreakOrNUL(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}

// validHeaderName reports whether name is an RFC 5322 field-name: printable
// US-ASCII except colon.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func sanitizeHeaderName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return -1
		}
		return r
	}, name)
}

// validMessageID checks the "left@right" form without angle brackets, in
// printable ASCII without spaces, so it can be put in brackets verbatim.
func validMessageID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: MessageID is empty", ErrInvalidMessage)
	}
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" || strings.Contains(right, "@") {
		return fmt.Errorf("%w: MessageID must look like left@right", ErrInvalidMessage)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || c == '<' || c == '>' || c == '"' || c == '\\' {
			return fmt.Errorf("%w: MessageID has a character outside printable ASCII or <>\"\\", ErrInvalidMessage)
		}
	}
	return nil
}

// SMTPSender delivers messages to one SMTP server. It is safe for concurrent use.
//
// Connections are reused: after a delivery the session stays open, ready for
// the next MAIL FROM, for up to DefaultIdleTimeout and DefaultMessagesPerConn
// messages. Opening a session (TCP, EHLO, often STARTTLS and AUTH) costs
// several round trips and most of the sender's CPU, and a burst of
// submissions brings hundreds of emails. A kept connection the server has
// since closed fails at MAIL FROM, before any of the message is sent, and is
// replaced by a fresh one within the same Send; a failure after that point
// drops the connection and is returned, so the outbox retries the email
// (with the same Message-ID) and nothing is sent twice by the sender itself.
type SMTPSender struct {
	cfg       SMTPConfig
	tlsConfig *tls.Config
	helo      string

	maxIdle     int           // connections kept open between deliveries
	idleTimeout time.Duration // how long one may wait for its next delivery
	perConn     int           // messages over one connection before it is renewed

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	reaper *time.Timer // closes connections idle too long; nil when none are idle
}

// Defaults of connection reuse (see WithConnectionReuse).
const (
	// DefaultMaxIdle is a backstop: connections are opened only by concurrent
	// deliveries, so the email workers bound how many exist.
	DefaultMaxIdle = 32
	// DefaultIdleTimeout stays below the idle limits relays apply (RFC 5321
	// asks servers for at least 5 minutes; hosted relays often use one).
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMessagesPerConn stays below the per-connection limits of hosted
	// relays (commonly 100 or more).
	DefaultMessagesPerConn = 50
)

// smtpConn is one open session with the server.
type smtpConn struct {
	conn      net.Conn // the transport, for deadlines and closing
	session   *smtp.Client
	sent      int
	closed    bool // by ctx's end, after the last message was accepted
	idleSince time.Time
}

// SenderOption adjusts an SMTPSender.
type SenderOption func(*SMTPSender)

// WithTLSConfig sets the TLS client configuration, e.g. RootCAs for a private
// CA or a test server. ServerName defaults to the configured host.
func WithTLSConfig(c *tls.Config) SenderOption {
	return func(s *SMTPSender) {
		if c != nil {
			s.tlsConfig = c.Clone()
		}
	}
}

// WithConnectionReuse keeps up to maxIdle connections open between
// deliveries, each for at most idleTimeout and perConn messages. maxIdle 0
// opens a connection per message, as a relay that forbids reuse needs.
func WithConnectionReuse(maxIdle int, idleTimeout time.Duration, perConn int) SenderOption {
	return func(s *SMTPSender) {
		s.maxIdle, s.idleTimeout, s.perConn = maxIdle, idleTimeout, perConn
	}
}

// WithHELO sets the name announced in EHLO; the default is the machine's
// host name.
func WithHELO(name string) SenderOption {
	return func(s *SMTPSender) { s.helo = name }
}

// NewSMTPSender returns a sender for cfg. The configuration is checked on
// every Send, so a bad one surfaces as a delivery error rather than a panic.
func NewSMTPSender(cfg SMTPConfig, opts ...SenderOption) *SMTPSender {
	s := &SMTPSender{cfg: cfg, maxIdle: DefaultMaxIdle, idleTimeout: DefaultIdleTimeout, perConn: DefaultMessagesPerConn}
	for _, opt := range opts {
		opt(s)
	}
	if s.tlsConfig == nil {
		s.tlsConfig = &tls.Config{}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = cfg.Host
	}
	if s.tlsConfig.MinVersion == 0 {
		s.tlsConfig.MinVersion = tls.VersionTLS12
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultSMTPTimeout
	}
	return s
}

// DeliveryError is a failed delivery attempt. Its text names the stage and,
// when the server answered, its reply code and text; it never contains the
// message content, and the sender and recipient addresses are redacted from
// server replies, so it is safe to log.
type DeliveryError struct {
	// Stage is where it failed: "connect" (dial, greeting, STARTTLS, AUTH),
	// "MAIL FROM", "RCPT TO", "DATA" or "message transfer".
	Stage string
	// Code is the SMTP reply code, or 0 when the server never answered
	// (connection refused, timeout, TLS failure).
	Code int
	// Permanent is true for 5xx replies: retrying the same message to the same
	// server is not expected to succeed. Everything else is worth a retry.
	Permanent bool

	detail string
	cause  error // for errors.Is (context, net); server replies are not kept
}

func (e *DeliveryError) Error() string {
	return "mail: smtp " + e.Stage + ": " + e.detail
}

// Unwrap exposes context and network causes, e.g. context.DeadlineExceeded.
func (e *DeliveryError) Unwrap() error { return e.cause }

// Send delivers m. It validates m first (nothing is sent when that fails),
// honours ctx's deadline and cancellation in every stage, and returns a
// *DeliveryError when the server cannot be reached or refuses the message.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := m.build()
	if err != nil {
		return err
	}
	if s.cfg.Host == "" || s.cfg.Port <= 0 {
		return errors.New("mail: smtp sender has no host or port configured")
	}
	if err := ctx.Err(); err != nil {
		return &DeliveryError{Stage: "connect", detail: err.Error(), cause: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	from, _ := netmail.ParseAddress(m.From) // checked by build
	to, _ := netmail.ParseAddress(m.To)
	fail := func(stage string, err error) error {
		return s.deliveryError(ctx, stage, err, from.Address, to.Address)
	}

	c := s.takeIdle()
	reused := c != nil
	for {
		if c == nil {
			var setupErr error
			if c, setupErr, err = s.open(ctx, deadline); setupErr != nil {
				return setupErr
			} else if err != nil {
				return fail("connect", err)
			}
		}
		stage, err := s.transfer(ctx, c, deadline, from.Address, to.Address, msg)
		if err == nil {
			s.release(c)
			return nil
		}
		s.drop(c)
		if reused && stage == "MAIL FROM" && ctx.Err() == nil {
			// A kept connection the server has closed or given up on (an
			// idle timeout, a restart): nothing of the message was sent, so
			// it goes over a fresh connection, once.
			c, reused = nil, false
			continue
		}
		return fail(stage, err)
	}
}

// open dials the server and runs the greeting, STARTTLS and AUTH. setupErr
// is a client that could not be built; err is the server's or network's.
func (s *SMTPSender) open(ctx context.Context, deadline time.Time) (c *smtpConn, setupErr, err error) {
	// Our own dialer tracks the connection so that it is closed on every
	// path (go-mail leaves it open when EHLO, STARTTLS or AUTH fails) and as
	// soon as ctx is done, whatever stage the session is in.
	var guard connGuard
	stop := context.AfterFunc(ctx, guard.close)
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		c, err := s.dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		if !guard.track(c) {
			return nil, net.ErrClosed
		}
		return c, nil
	}
	client, err := gomail.NewClient(s.cfg.Host, s.clientOptions(time.Until(deadline), dial)...)
	if err != nil {
		stop()
		return nil, fmt.Errorf("mail: smtp client: %w", err), nil
	}
	session, err := client.DialToSMTPClientWithContext(ctx)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended just as the session opened: the guard closed it
	}
	if err != nil {
		guard.close()
		return nil, nil, err
	}
	return &smtpConn{conn: guard.conn, session: session}, nil, nil
}

// transfer sends one message over c and names the stage that failed.
func (s *SMTPSender) transfer(ctx context.Context, c *smtpConn, deadline time.Time, from, to string, msg *gomail.Msg) (string, error) {
	// ctx ending closes the connection under whatever call is waiting.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer stop()
	if err := c.conn.SetDeadline(deadline); err != nil {
		return "MAIL FROM", err
	}
	// The transaction is driven here rather than by go-mail's Send, whose
	// errors list the recipients: ours must stay free of personal data.
	if err := c.session.Mail("<" + from + ">"); err != nil {
		return "MAIL FROM", err
	}
	if err := c.session.Rcpt("<" + to + ">"); err != nil {
		return "RCPT TO", err
	}
	body, err := c.session.Data()
	if err != nil {
		return "DATA", err
	}
	if _, err := msg.WriteTo(body); err != nil {
		return "message transfer", err
	}
	if err := body.Close(); err != nil {
		return "message transfer", err
	}
	// The server has accepted the message. If ctx ended meanwhile and closed
	// the connection, it is a success all the same (or the outbox would
	// deliver it twice), but the connection is not kept.
	c.closed = !stop()
	c.sent++
	return "", nil
}

// takeIdle returns the most recently used open connection, or nil.
func (s *SMTPSender) takeIdle() *smtpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	if c := s.idle[n-1]; time.Since(c.idleSince) < s.idleTimeout {
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		return c
	}
	// The most recent has expired, so have all: the timer was late.
	expired := s.idle
	s.idle = nil
	go func() {
		for _, c := range expired {
			s.quit(c)
		}
	}()
	return nil
}

// release keeps c for the next delivery, or closes it politely when it has
// carried its share of messages or enough connections are kept.
func (s *SMTPSender) release(c *smtpConn) {
	if c.closed {
		return
	}
	if c.sent < s.perConn {
		s.mu.Lock()
		if len(s.idle) < s.maxIdle {
			c.idleSince = time.Now()
			s.idle = append(s.idle, c)
			if s.reaper == nil {
				s.reaper = time.AfterFunc(s.idleTimeout, s.reap)
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	s.quit(c)
}

// reap closes the connections that have waited longer than idleTimeout.
func (s *SMTPSender) reap() {
	s.mu.Lock()
	var expired []*smtpConn
	kept := s.idle[:0]
	for _, c := range s.idle {
		if time.Since(c.idleSince) >= s.idleTimeout {
			expired = append(expired, c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(s.idle[len(kept):])
	s.idle = kept
	s.reaper = nil
	if len(s.idle) > 0 {
		s.reaper = time.AfterFunc(s.idleTimeout-time.Since(s.idle[0].idleSince), s.reap)
	}
	s.mu.Unlock()
	for _, c := range expired {
		s.quit(c)
	}
}

// Close closes the connections kept open. The sender stays usable.
func (s *SMTPSender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	if s.reaper != nil {
		s.reaper.Stop()
		s.reaper = nil
	}
	s.mu.Unlock()
	for _, c := range idle {
		s.quit(c)
	}
	return nil
}

// quit ends a session that is done with: QUIT, then close, within a second.
func (s *SMTPSender) quit(c *smtpConn) {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	_ = c.session.Quit()
	_ = c.conn.Close()
}

// drop closes a connection after a failure: its session state is unknown.
func (s *SMTPSender) drop(c *smtpConn) { _ = c.conn.Close() }

func (s *SMTPSender) clientOptions(timeout time.Duration, dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(max(timeout, time.Millisecond)),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.helo != "" {
		opts = append(opts, gomail.WithHELO(s.helo))
	}
	switch s.cfg.TLS {
	case TLSImplicit:
		// The dialer speaks TLS itself; WithSSL keeps go-mail from trying
		// STARTTLS inside the TLS session.
		opts = append(opts, gomail.WithSSL())
	case TLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.cfg.Username != "" {
		// go-mail's PLAIN and LOGIN refuse to run over an unencrypted
		// connection (except to localhost), so credentials only travel in the
		// clear when the operator chose a local relay; SCRAM and CRAM-MD5
		// never reveal the password. Preferred first.
		opts = append(opts,
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5,
			),
		)
	}
	return opts
}

// dial opens the TCP connection, with TLS from the first byte for smtps.
func (s *SMTPSender) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if s.cfg.TLS != TLSImplicit {
		return raw, nil
	}
	conn := tls.Client(raw, s.tlsConfig)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	// A *tls.Conn, unwrapped: go-mail's smtp client checks for that type to
	// know the session is encrypted before offering PLAIN or LOGIN.
	return conn, nil
}

// connGuard closes the session's connection from whichever goroutine gets
// there first: Send on its way out, or the context's AfterFunc.
type connGuard struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// track adopts c, or closes it and reports false when the guard was already
// closed (the context ended while dialling).
func (g *connGuard) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		_ = c.Close()
		return false
	}
	g.conn = c
	return true
}

func (g *connGuard) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.conn != nil {
		_ = g.conn.Close()
	}
}

// deliveryError builds a log-safe DeliveryError. Server replies often quote
// the addresses ("<a@b>: Recipient address rejected"), so both are redacted.
func (s *SMTPSender) deliveryError(ctx context.Context, stage string, err error, addrs ...string) *DeliveryError {
	e := &DeliveryError{Stage: stage}
	var reply *textproto.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		// Either the context ended and closed the connection under us, or the
		// connection deadline (set from the same deadline) fired first; the
		// resulting read error is noise next to the reason.
		e.cause = ctx.Err()
		if e.cause == nil {
			e.cause = context.DeadlineExceeded
		}
		e.detail = e.cause.Error()
		if errors.Is(e.cause, context.DeadlineExceeded) {
			e.detail = "timed out (" + e.detail + ")"
		}
	case errors.As(err, &reply):
		e.Code = reply.Code
		e.Permanent = reply.Code >= 500 && reply.Code < 600
		// Keep go-mail's context ("SMTP AUTH failed: ") before the reply.
		prefix, found := strings.CutSuffix(err.Error(), reply.Error())
		if !found {
			prefix = ""
		}
		e.detail = prefix + fmt.Sprintf("%03d %s", reply.Code, reply.Msg)
	default:
		e.cause = err
		e.detail = err.Error()
	}
	e.detail = redact(e.detail, addrs...)
	return e
}

// redact removes addresses and line breaks from server text and shortens it.
func redact(s string, addrs ...string) string {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		s = replaceFold(s, a, "[redacted]")
	}
	s = strings.Join(strings.Fields(s), " ")
	const maxLen = 300
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "…"
	}
	return s
}

// replaceFold replaces every case-insensitive occurrence of old (ASCII case
// folding, as mail domains and most local parts compare).
func replaceFold(s, old, repl string) string {
	lower, lowerOld := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) { // non-ASCII case mapping changed lengths
		return strings.ReplaceAll(s, old, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lowerOld)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
}

// String describes the sender for logs, without credentials.
func (s *SMTPSender) String() string {
	auth := ""
	if s.cfg.Username != "" {
		auth = ", auth"
	}
	return "smtp " + s.cfg.Host + ":" + strconv.Itoa(s.cfg.Port) + " (tls " + s.cfg.TLS.String() + auth + ")"
}
