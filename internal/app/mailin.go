package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"rightsdesk/internal/config"
	"rightsdesk/internal/inbound"
	"rightsdesk/internal/inbound/listener"
	"rightsdesk/internal/inbound/poller"
	"rightsdesk/internal/request"
)

// Inbound is the mail that reaches rightsdesk (issue 14): the polled
// mailbox and the SMTP listener, as configured (both off by default), each
// handing its letters to the one sink, which stores them through the
// mailroom (request.Mailroom) in one transaction each.
type Inbound struct {
	// Sink is the sink both ways in deliver to.
	Sink inbound.Sink
	// Metrics are the inbound metrics, registered on the app's registry.
	Metrics *inbound.Metrics
	// Read is how letters are read: the addresses a plus tag counts on.
	Read inbound.Options

	cfg    config.Inbound
	pool   *pgxpool.Pool
	logger *slog.Logger
	// operators are the ways in of a deployment of several operators
	// (issue 15), each operator's own Inbound; nil for one operator's.
	operators []*Inbound

	mu       sync.Mutex
	smtpAddr net.Addr // where the listener listens, once started
}

// SMTPAddr is where the listener listens once Start bound it (the port
// chosen when INBOUND_SMTP_ADDR ends in :0); nil before.
func (in *Inbound) SMTPAddr() net.Addr {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.smtpAddr
}

// newInbound builds the sink on mailroom and registers the metrics.
func newInbound(cfg config.Inbound, pool *pgxpool.Pool, mailroom *request.Mailroom, logger *slog.Logger, register func(...prometheus.Collector) error) (*Inbound, error) {
	in := &Inbound{
		Sink:    NewLetterSink(mailroom),
		Metrics: inbound.NewMetrics(),
		Read:    inbound.Options{Mailboxes: cfg.Mailboxes(), Now: mailroom.Clock.Now},
		cfg:     cfg, pool: pool, logger: logger,
	}
	// Only a deployment that reads mail has its metrics: a poller that is
	// not configured is not one that stopped (the "Nobody polls" alert).
	if cfg.Enabled() {
		if err := register(in.Metrics.Collectors()...); err != nil {
			return nil, fmt.Errorf("inbound metrics: %w", err)
		}
	}
	return in, nil
}

// deploymentInbound is the ways in of several operators: each operator's
// polled mailbox, storing its letters under that operator, and one
// listener (the deployment's INBOUND_SMTP_ADDR) handing each letter to the
// operator whose address it was sent to.
func deploymentInbound(operators []*Inbound, logger *slog.Logger) *Inbound {
	return &Inbound{operators: operators, logger: logger}
}

// ways are the operators' ways in: the deployment's operators, or this one.
func (in *Inbound) ways() []*Inbound {
	if in.operators != nil {
		return in.operators
	}
	return []*Inbound{in}
}

// Enabled reports whether a way in is configured.
func (in *Inbound) Enabled() bool {
	for _, w := range in.ways() {
		if w.cfg.Enabled() {
			return true
		}
	}
	return false
}

// listening are the ways in that take mail on the listener.
func (in *Inbound) listening() []*Inbound {
	var out []*Inbound
	for _, w := range in.ways() {
		if w.cfg.SMTPAddr != "" {
			out = append(out, w)
		}
	}
	return out
}

// Poller is a poller of the configured mailbox delivering to sink, one
// instance at a time (the advisory lock of stage 1); nil without a mailbox.
func (in *Inbound) Poller(sink inbound.Sink) (*poller.Poller, error) {
	mb := in.cfg.IMAP
	if mb == nil {
		return nil, nil
	}
	return poller.New(poller.Options{
		Mailbox: *mb, Sink: sink, Read: in.Read, Metrics: in.Metrics, Logger: in.logger,
		Lock: poller.NewPGLock(in.pool, poller.LockKey(*mb)),
	})
}

// Start starts the configured ways in: the listener is bound before Start
// returns (a port taken stops the start), the poller polls in the
// background. stop ends both, letting the letters in flight finish; errc
// reports a way in that stopped on its own.
func (in *Inbound) Start(ctx context.Context) (stop func(), errc <-chan error, err error) {
	ctx, cancel := context.WithCancel(ctx)
	ways := in.ways()
	errs := make(chan error, len(ways)+1)
	var wg sync.WaitGroup
	stopListener := func() {}
	if len(in.listening()) > 0 {
		if stopListener, err = in.listen(errs); err != nil {
			cancel()
			return nil, nil, err
		}
	}
	for _, w := range ways {
		// Each operator's mailbox, its letters stored under that operator.
		p, err := w.Poller(w.Sink)
		if err != nil {
			cancel()
			stopListener()
			wg.Wait()
			return nil, nil, fmt.Errorf("INBOUND_IMAP_URL: %w", err)
		}
		if p == nil {
			continue
		}
		w.logger.Info("inbound mailbox polling", "mailbox", w.cfg.IMAP.String(), "interval", w.cfg.IMAP.Interval.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil {
				errs <- fmt.Errorf("inbound mailbox: %w", err)
			}
		}()
	}
	stop = func() {
		cancel()
		stopListener()
		wg.Wait()
	}
	return stop, errs, nil
}

// StartListener starts the listener alone (INBOUND_SMTP_ADDR), bound
// before it returns; stop ends it, letting the letters in flight finish.
func (in *Inbound) StartListener() (stop func(), err error) {
	if len(in.listening()) == 0 {
		return nil, errors.New("INBOUND_SMTP_ADDR is not set")
	}
	return in.listen(make(chan error, 1))
}

// listen binds the listener and serves it in the background, reporting on
// errs when it stops on its own.
//
// Each operator that takes mail on the listener is a route: its addresses,
// its sink, its reading (the plus-address tag counts on its own mailboxes
// only). The listener's address, name and certificate are the deployment's,
// the same in every operator's configuration.
func (in *Inbound) listen(errs chan<- error) (stop func(), err error) {
	ways := in.listening()
	routes := make([]listener.Route, len(ways))
	for i, w := range ways {
		routes[i] = listener.Route{Accept: w.cfg.SMTPAccept, Sink: w.Sink, Read: w.Read, Metrics: w.Metrics}
	}
	first := ways[0]
	l, err := listener.New(listener.Options{
		Addr: first.cfg.SMTPAddr, Hostname: first.cfg.SMTPHostname, TLSConfig: first.cfg.SMTPTLS,
		Routes: routes, Metrics: first.Metrics, Logger: in.logger, Now: first.Read.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("INBOUND_SMTP_ADDR: %w", err)
	}
	ln, err := net.Listen("tcp", first.cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("INBOUND_SMTP_ADDR: listen on %s: %w", first.cfg.SMTPAddr, err)
	}
	in.mu.Lock()
	in.smtpAddr = ln.Addr()
	in.mu.Unlock()
	in.logger.Info("inbound SMTP listening", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Serve(ln); err != nil {
			errs <- fmt.Errorf("inbound SMTP listener: %w", err)
		}
	}()
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := l.Shutdown(sctx); err != nil {
			in.logger.Error("inbound SMTP listener shutdown", "error", err)
		}
		<-done
	}, nil
}

// letterSink is the sink both ways in deliver to: each letter, read by
// internal/inbound, is handed to the mailroom as the domain's Letter, and
// what the mailroom answers is put in the words of inbound.Sink.
type letterSink struct{ mailroom *request.Mailroom }

// NewLetterSink is the sink that stores letters through mailroom.
func NewLetterSink(mailroom *request.Mailroom) inbound.Sink { return letterSink{mailroom} }

// Deliver implements inbound.Sink.
func (s letterSink) Deliver(ctx context.Context, l *inbound.Letter) (inbound.Outcome, error) {
	out, err := s.mailroom.Receive(ctx, LetterOf(l))
	switch {
	case errors.Is(err, request.ErrSetAside):
		return 0, fmt.Errorf("%w: %w", inbound.ErrSetAside, err)
	case errors.Is(err, request.ErrNoSender):
		return 0, &inbound.Refusal{Err: inbound.ErrMalformed, Key: "error.letter_malformed", Detail: "no sender address"}
	case err != nil:
		return 0, err
	case out == request.LetterDuplicate:
		return inbound.Duplicate, nil
	}
	return inbound.Stored, nil
}

// LetterOf is a letter read by internal/inbound as the domain takes it.
func LetterOf(l *inbound.Letter) request.Letter {
	out := request.Letter{
		Hash: l.Hash, MessageID: l.MessageID, Kind: request.LetterKind(l.Class.Kind), Reason: l.Class.Reason,
		Source: l.Source, ReceivedAt: l.ReceivedAt,
		ReplyTo: l.Keys.MessageIDs, TagReference: l.Keys.Tag.Reference, SubjectReference: l.Keys.Reference,
		References: l.References,
		Subject:    l.Subject, Text: l.Text, ReplyText: l.ReplyText, Locale: l.Locale,
		Suggested: l.Suggestion.Type, Confidence: l.Suggestion.Confidence, Cues: l.Suggestion.Words,
		Attachments: l.Attachments, Raw: l.Raw,
	}
	if l.From != nil {
		out.From, out.FromName = l.From.Address, l.From.Name
	}
	if b := l.Class.Bounce; b != nil {
		out.Bounce = &request.BounceReport{OriginalMessageID: b.OriginalMessageID, Permanent: b.Permanent}
		for _, r := range b.Recipients {
			if out.Bounce.Status == "" {
				out.Bounce.Status = r.Status
			}
			if out.Bounce.Diagnostic == "" {
				out.Bounce.Diagnostic = r.Diagnostic
			}
		}
	}
	v := request.LetterView{
		From: addressText(l.From), To: addressesText(l.To), Cc: addressesText(l.Cc), ReplyTo: addressesText(l.ReplyTo),
		Subject: l.Subject, Text: l.Text, FromHTML: l.FromHTML, Truncated: l.TextTruncated,
	}
	if !l.Date.IsZero() {
		v.Date = l.Date.Format(time.RFC3339)
	}
	for _, p := range l.Skipped {
		v.Skipped = append(v.Skipped, request.SkippedFile{Name: p.Name, ContentType: p.ContentType, Size: p.Size, Reason: p.Reason})
	}
	out.View = v
	return out
}

// addressText writes an address as a person reads it: the name (decoded,
// never RFC 2047 encoded as net/mail writes it) and the address.
func addressText(a *netmail.Address) string {
	if a == nil {
		return ""
	}
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

func addressesText(list []*netmail.Address) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		parts = append(parts, addressText(a))
	}
	return strings.Join(parts, ", ")
}
