// Package listener is rightsdesk's inbound SMTP server (INBOUND_SMTP_ADDR),
// for an MX record or a forwarding rule pointed at it. It accepts mail only
// for the configured domains and addresses (never a relay), reads each
// letter with internal/inbound and answers 250 only after the sink has
// committed it; when the sink fails it answers 451, a temporary failure, so
// the sending server keeps the letter and tries again: nothing is lost.
// A letter the limits refuse gets a permanent 5xx, which the sending server
// turns into a bounce that tells the person why.
//
// It is built on emersion/go-smtp's server, the one the tests already use
// as the relay rightsdesk sends through.
package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/net/netutil"

	"rightsdesk/internal/inbound"
)

// Options configure a Listener.
type Options struct {
	// Addr is where to listen, host:port (INBOUND_SMTP_ADDR).
	Addr string
	// Hostname is the name the server greets with; default "rightsdesk".
	Hostname string
	// Accept lists the domains (operator.kz) and addresses
	// (privacy@operator.kz) mail is accepted for; an address accepts its
	// plus-addressed forms (privacy+tag@operator.kz) too. Required.
	Accept []string
	// MaxSize is the largest letter accepted; default
	// inbound.MaxLetterSize.
	MaxSize int64
	Sink    inbound.Sink
	Read    inbound.Options
	// Routes, when set, replace Accept, Sink and Read: one listener for
	// several operators (issue 15), each letter handed to the sink of every
	// route that accepts one of its recipients, read with that route's
	// options and with that route's recipients only.
	Routes []Route
	// TLSConfig, when set, offers STARTTLS.
	TLSConfig *tls.Config
	// MaxConnections bounds the connections served at once; default 100.
	MaxConnections int
	// StoreTimeout bounds one sink delivery; default 2 minutes.
	StoreTimeout time.Duration
	Metrics      *inbound.Metrics
	Logger       *slog.Logger
	// Now stamps the receipt; nil is time.Now.
	Now func() time.Time
}

// Route is one operator's part of the listener: the domains and addresses
// it accepts, the sink its letters go to, how they are read and counted.
type Route struct {
	Accept  []string
	Sink    inbound.Sink
	Read    inbound.Options
	Metrics *inbound.Metrics
}

// Listener is the inbound SMTP server.
type Listener struct {
	opts   Options
	logger *slog.Logger
	srv    *smtp.Server
	routes []route
}

// route is a Route with its accepted domains and addresses parsed.
type route struct {
	Route
	domains map[string]bool
	addrs   map[string]bool
}

// New checks the options and builds the server.
func New(opts Options) (*Listener, error) {
	if len(opts.Routes) == 0 {
		opts.Routes = []Route{{Accept: opts.Accept, Sink: opts.Sink, Read: opts.Read, Metrics: opts.Metrics}}
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = inbound.MaxLetterSize
	}
	if opts.Hostname == "" {
		opts.Hostname = "rightsdesk"
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 100
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Listener{opts: opts, logger: logger.With("component", "inbound.listener")}
	for _, r := range opts.Routes {
		if r.Sink == nil {
			return nil, errors.New("listener: no sink")
		}
		if len(r.Accept) == 0 {
			return nil, errors.New("listener: no domain or address to accept mail for")
		}
		rt := route{Route: r, domains: map[string]bool{}, addrs: map[string]bool{}}
		for _, a := range r.Accept {
			if err := rt.addAccepted(a); err != nil {
				return nil, err
			}
		}
		l.routes = append(l.routes, rt)
	}
	srv := smtp.NewServer(backend{l})
	srv.Addr = opts.Addr
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = opts.MaxSize
	srv.MaxRecipients = 50
	// RFC 5322 caps a line at 998 characters, but real mail breaks it
	// (HTML written on one line); like Postfix, take long lines.
	srv.MaxLineLength = 1 << 20
	srv.ReadTimeout = 2 * time.Minute
	srv.WriteTimeout = 2 * time.Minute
	srv.TLSConfig = opts.TLSConfig
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{l.logger}
	l.srv = srv
	return l, nil
}

// ParseAccept checks one INBOUND_SMTP_ACCEPT entry: a domain or an address.
func ParseAccept(entry string) (domain, address string, err error) {
	e := strings.ToLower(strings.TrimSpace(entry))
	if strings.Contains(e, "@") {
		a, perr := netmail.ParseAddress(e)
		if perr != nil || a.Name != "" || strings.Contains(a.Address, "+") {
			return "", "", fmt.Errorf("%q: want a plain address such as privacy@operator.kz or a domain such as operator.kz", entry)
		}
		return "", a.Address, nil
	}
	if e == "" || strings.ContainsAny(e, " /:<>,;") || !strings.Contains(e, ".") && e != "localhost" {
		return "", "", fmt.Errorf("%q: want a domain such as operator.kz or an address such as privacy@operator.kz", entry)
	}
	return strings.TrimSuffix(e, "."), "", nil
}

func (r *route) addAccepted(entry string) error {
	d, a, err := ParseAccept(entry)
	if err != nil {
		return fmt.Errorf("listener: accept %w", err)
	}
	if d != "" {
		r.domains[d] = true
	} else {
		r.addrs[a] = true
	}
	return nil
}

// accepts reports whether mail for rcpt is this route's.
func (r *route) accepts(rcpt string) bool {
	rcpt = strings.ToLower(strings.TrimSpace(rcpt))
	local, domain, ok := strings.Cut(rcpt, "@")
	if !ok || local == "" || domain == "" {
		return false
	}
	if r.domains[domain] {
		return true
	}
	if base, _, tagged := strings.Cut(local, "+"); tagged {
		local = base
	}
	return r.addrs[local+"@"+domain]
}

// routeOf is the route that accepts mail for rcpt; ok is false when none
// does. Operators never share an address (operator.Load refuses it), so
// the first that accepts is the one.
func (l *Listener) routeOf(rcpt string) (int, bool) {
	for i := range l.routes {
		if l.routes[i].accepts(rcpt) {
			return i, true
		}
	}
	return 0, false
}

// Serve answers SMTP on ln until Shutdown.
func (l *Listener) Serve(ln net.Listener) error {
	err := l.srv.Serve(netutil.LimitListener(ln, l.opts.MaxConnections))
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Run listens on Options.Addr and serves until ctx ends, then lets the
// letters in flight finish (at most StoreTimeout) and stops.
func (l *Listener) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", l.opts.Addr)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	l.logger.Info("inbound SMTP listening", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.StoreTimeout)
	defer cancel()
	return l.Shutdown(sctx)
}

// Shutdown stops accepting connections and waits for the open ones to end
// (until ctx ends, then closes them).
func (l *Listener) Shutdown(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		_ = l.srv.Close() // out of time: cut the rest; their letters were not answered 250
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil
		}
		return fmt.Errorf("listener: shutdown: %w", err)
	}
	return nil
}

type backend struct{ l *Listener }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{l: b.l, helo: c.Hostname()}
	if addr, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		s.remote = addr.IP.String()
	}
	_, s.tls = c.TLSConnectionState()
	return s, nil
}

type session struct {
	l      *Listener
	helo   string
	remote string
	tls    bool
	from   string     // "<>" for the null sender
	rcpts  [][]string // per route, the recipients it accepted
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if from == "" {
		s.from = "<>"
	} else {
		s.from = from
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	i, ok := s.l.routeOf(to)
	if !ok {
		s.l.opts.Metrics.SMTPRecipientRejected()
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here (this server does not relay)"}
	}
	if s.rcpts == nil {
		s.rcpts = make([][]string, len(s.l.routes))
	}
	s.rcpts[i] = append(s.rcpts[i], strings.ToLower(to))
	return nil
}

func (s *session) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			if se == smtp.ErrDataTooLarge {
				s.l.opts.Metrics.Refused(inbound.SourceSMTP, inbound.ErrTooLarge)
			}
			return err
		}
		if strings.Contains(err.Error(), "too long a line") {
			s.l.opts.Metrics.Refused(inbound.SourceSMTP, inbound.ErrMalformed)
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "A line of the message is longer than 1 MB"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection trouble while reading the message, try again"}
	}
	now := s.l.opts.Now()
	raw := append(s.received(now), body...)
	// A letter to two operators' addresses is a letter to each; a failure
	// for one is answered for the whole (a retry finds the others'
	// duplicates), the temporary failure first so nothing is lost.
	var answer error
	for i, rcpts := range s.rcpts {
		if len(rcpts) == 0 {
			continue
		}
		err := s.deliver(&s.l.routes[i], raw, rcpts, now)
		if answer == nil || err != nil && smtpCode(err) < 500 && smtpCode(answer) >= 500 {
			answer = err
		}
	}
	return answer
}

// smtpCode is an answer's reply code; 0 for none.
func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// deliver reads the letter as rt reads it, for its recipients rcpts, and
// hands it to rt's sink; the error is the SMTP answer.
func (s *session) deliver(rt *route, raw []byte, rcpts []string, now time.Time) error {
	letter, err := inbound.Read(raw, inbound.Envelope{Sender: s.from, Recipients: rcpts, ReceivedAt: now, Source: inbound.SourceSMTP}, rt.Read)
	if err != nil {
		rt.Metrics.Refused(inbound.SourceSMTP, err)
		s.l.logger.Warn("inbound letter refused", "reason", inbound.RefusalReason(err), "detail", err.Error())
		return refusalReply(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.l.opts.StoreTimeout)
	defer cancel()
	outcome, err := rt.Sink.Deliver(ctx, letter)
	switch {
	case err != nil && inbound.IsRefused(err):
		rt.Metrics.Refused(inbound.SourceSMTP, err)
		s.l.logger.Warn("inbound letter refused", "reason", inbound.RefusalReason(err), "detail", err.Error())
		return refusalReply(err)
	case errors.Is(err, inbound.ErrSetAside):
		// Over a limit that lifts (the day's letters from this address, a
		// request's replies): the sending server keeps it and tries later.
		rt.Metrics.Refused(inbound.SourceSMTP, err)
		s.l.logger.Warn("inbound letter set aside; answered 450 so the sender tries later", "reason", inbound.RefusalReason(err), "detail", err.Error())
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Too many letters from this address for now, please try again later"}
	}
	if err != nil {
		rt.Metrics.StoreFailed(inbound.SourceSMTP)
		s.l.logger.Error("inbound letter not stored; answered 451 so the sender retries", "error", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message, please try again later"}
	}
	rt.Metrics.Delivered(inbound.SourceSMTP, letter, outcome)
	return nil
}

// received is the trace field an SMTP server adds (RFC 5321 §4.4).
func (s *session) received(at time.Time) []byte {
	with := "ESMTP"
	if s.tls {
		with = "ESMTPS"
	}
	helo := strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, s.helo)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (rightsdesk) with %s;\r\n\t%s\r\n",
		helo, "["+s.remote+"]", s.l.opts.Hostname, with, at.Format(time.RFC1123Z))
	return b.Bytes()
}

// refusalReply is the permanent answer for a letter the limits refuse; the
// sending server's bounce carries its words to the person.
func refusalReply(err error) error {
	switch {
	case errors.Is(err, inbound.ErrTooLarge), errors.Is(err, inbound.ErrAttachmentTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too large: at most 5 attachments of 10 MB each (PDF, JPEG, PNG)"}
	case errors.Is(err, inbound.ErrTooManyAttachments):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Too many attachments: at most 5 (PDF, JPEG, PNG, 10 MB each)"}
	default:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "The message could not be read as an email"}
	}
}

// errorLog sends go-smtp's own error lines to slog.
type errorLog struct{ logger *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.logger.Warn("smtp: " + fmt.Sprintf(format, v...))
}
func (e errorLog) Println(v ...any) { e.logger.Warn("smtp: " + strings.TrimSpace(fmt.Sprintln(v...))) }
