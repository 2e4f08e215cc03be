// Package poller reads letters from an operator's existing mailbox over
// IMAP (INBOUND_IMAP_URL) and hands each to an inbound.Sink. A letter leaves
// the mailbox (moved to the processed folder) only after the sink has
// stored it: a sink that fails leaves it where it was for the next poll, and
// a letter the sink already has (its answer was lost on the way) is moved
// without being stored again. Letters the limits refuse move to the refused
// folder for a person to look at. One instance polls at a time (Lock).
//
// Why emersion/go-imap v2, a beta, rather than v1: v1 is no longer
// developed (its last fixes are from 2023) and needs separate extension
// packages for MOVE and UIDPLUS; v2 is the maintained line, speaks
// IMAP4rev2, has MOVE with the COPY + \Deleted + UID EXPUNGE fallback built
// in, and is built on go-message, the parser internal/inbound uses. The
// poller uses a small part of it (LOGIN, SELECT, UID SEARCH, UID FETCH,
// UID MOVE, LIST, CREATE, NAMESPACE), each tested against a real Dovecot.
package poller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"rightsdesk/internal/inbound"
)

// Lock lets one instance of several poll a mailbox. TryAcquire takes the
// lock or confirms it is still held; it returns false when another
// instance has it. PGLock is the one rightsdesk uses.
type Lock interface {
	TryAcquire(ctx context.Context) (bool, error)
	Release(ctx context.Context) error
}

// Options configure a Poller.
type Options struct {
	Mailbox Mailbox
	Sink    inbound.Sink
	// Read configures inbound.Read (the mailbox addresses for plus tags).
	Read inbound.Options
	// Lock, when set, is taken before every poll: instances without it
	// wait. Nil: this poller is the only one.
	Lock    Lock
	Metrics *inbound.Metrics
	Logger  *slog.Logger
	// TLSConfig is the base TLS configuration (RootCAs, for a private
	// certificate authority); nil uses the system's roots.
	TLSConfig *tls.Config
	// Backoff is the wait after the n-th failure in a row (n from 1); nil is
	// 1 s doubling up to 5 minutes.
	Backoff func(n int) time.Duration
	// Now is the clock for metrics; nil is time.Now.
	Now func() time.Time
}

// Result counts what one poll did.
type Result struct {
	Stored     int // stored by the sink and moved to the processed folder
	Duplicates int // the sink had them already; moved
	Refused    int // refused by the limits; moved to the refused folder
	Waiting    int // still in the mailbox (the poll stopped early)
}

// Poller polls one mailbox. Poll and Run must not be called at the same
// time.
type Poller struct {
	opts   Options
	logger *slog.Logger

	mu        sync.Mutex // guards client for Close
	client    *imapclient.Client
	processed string // folder names with the namespace prefix, per session
	refused   string
}

// New checks the options and returns a poller that has not connected yet.
func New(opts Options) (*Poller, error) {
	if opts.Sink == nil {
		return nil, errors.New("poller: no sink")
	}
	if opts.Mailbox.Addr == "" {
		return nil, errors.New("poller: no mailbox")
	}
	if opts.Mailbox.Interval <= 0 {
		opts.Mailbox.Interval = time.Minute
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{opts: opts, logger: logger.With("component", "inbound.poller", "mailbox", opts.Mailbox.String())}, nil
}

// DefaultBackoff waits 1 s after a first failure, doubling to 5 minutes.
func DefaultBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// stageError is a failed IMAP step, for the metrics and the log.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return "imap " + e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// ErrStore wraps a sink failure: the letter stays in the mailbox.
var ErrStore = errors.New("store letter")

// Run polls every Mailbox.Interval until ctx ends, reconnecting with
// backoff after a failure; it returns nil when ctx ends. With a Lock, only
// the instance that holds it polls; the others check every interval and
// take over when the holder is gone.
func (p *Poller) Run(ctx context.Context) error {
	defer p.shutdown()
	failures := 0
	for {
		wait := p.opts.Mailbox.Interval
		if p.leader(ctx) {
			res, err := p.Poll(ctx)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				failures++
				wait = p.opts.Backoff(failures)
				p.logger.Warn("inbound mailbox poll failed; retrying", "error", err, "failures", failures, "retry_in", wait.String(),
					"stored", res.Stored, "duplicates", res.Duplicates, "refused", res.Refused, "waiting", res.Waiting)
			default:
				failures = 0
				if res.Stored+res.Duplicates+res.Refused > 0 {
					p.logger.Info("inbound mailbox polled", "stored", res.Stored, "duplicates", res.Duplicates, "refused", res.Refused)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// leader takes or keeps the lock; an instance that loses it drops its
// IMAP session, so that two never work the mailbox for long.
func (p *Poller) leader(ctx context.Context) bool {
	if p.opts.Lock == nil {
		return true
	}
	held, err := p.opts.Lock.TryAcquire(ctx)
	if err != nil {
		p.logger.Warn("inbound mailbox: cannot take the poller lock (database unreachable?); not polling", "error", err)
	}
	p.opts.Metrics.IMAPActive(held)
	if !held {
		p.closeSession()
	}
	return held
}

func (p *Poller) shutdown() {
	p.closeSession()
	if p.opts.Lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.opts.Lock.Release(ctx) // the session ends soon anyway, which releases it
		p.opts.Metrics.IMAPActive(false)
	}
}

// Close ends the IMAP session, if any.
func (p *Poller) Close() error {
	p.closeSession()
	return nil
}

// Poll reads every letter in the mailbox now: each is read, handed to the
// sink and moved once the sink took it. It stops at the first sink or IMAP
// failure, leaving the rest for the next poll.
func (p *Poller) Poll(ctx context.Context) (Result, error) {
	res, err := p.poll(ctx)
	var se *stageError
	switch {
	case errors.As(err, &se):
		p.opts.Metrics.IMAPFailed(se.stage)
		p.closeSession()
	case err == nil:
		p.opts.Metrics.IMAPPolled(p.opts.Now())
	}
	return res, err
}

func (p *Poller) poll(ctx context.Context) (res Result, err error) {
	c, err := p.session(ctx)
	if err != nil {
		return Result{}, err
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return Result{}, &stageError{inbound.StageFetch, err}
	}
	uids := data.AllUIDs()
	res.Waiting = len(uids)
	defer func() { p.opts.Metrics.IMAPWaiting(res.Waiting) }()
	if len(uids) == 0 {
		return res, nil
	}
	// Sizes and arrival times first: a letter over the limit is refused
	// without being downloaded.
	meta, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true}).Collect()
	if err != nil {
		return res, &stageError{inbound.StageFetch, err}
	}
	for _, m := range meta {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		outcome, err := p.handle(ctx, c, m)
		if err != nil {
			return res, err
		}
		res.Waiting--
		switch outcome {
		case vanished:
		case inbound.Stored:
			res.Stored++
		case inbound.Duplicate:
			res.Duplicates++
		default:
			res.Refused++
		}
	}
	return res, nil
}

// Outcomes of handle besides the sink's: moved to the refused folder, or
// gone from the mailbox before it was fetched.
const (
	refusedOutcome inbound.Outcome = 0
	vanished       inbound.Outcome = -1
)

// handle takes one letter through: fetch, read, store, move.
func (p *Poller) handle(ctx context.Context, c *imapclient.Client, m *imapclient.FetchMessageBuffer) (inbound.Outcome, error) {
	uid := m.UID
	var refusal error
	var letter *inbound.Letter
	if m.RFC822Size > inbound.MaxLetterSize {
		refusal = &inbound.Refusal{Err: inbound.ErrTooLarge, Key: "error.letter_too_large", Detail: fmt.Sprintf("%d bytes", m.RFC822Size)}
	} else {
		section := &imap.FetchItemBodySection{Peek: true}
		bufs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return 0, &stageError{inbound.StageFetch, err}
		}
		if len(bufs) == 0 {
			// Deleted by a person (webmail) since the search: nothing to do.
			return vanished, nil
		}
		raw := bufs[0].FindBodySection(section)
		received := m.InternalDate
		if received.IsZero() {
			received = p.opts.Now()
		}
		letter, refusal = inbound.Read(raw, inbound.Envelope{Source: inbound.SourceIMAP, ReceivedAt: received}, p.opts.Read)
	}
	if refusal != nil {
		if !inbound.IsRefused(refusal) {
			return 0, refusal
		}
		p.opts.Metrics.Refused(inbound.SourceIMAP, refusal)
		p.logger.Warn("inbound letter refused; moved to the refused folder for a person", "reason", inbound.RefusalReason(refusal), "detail", refusal.Error(), "folder", p.refused)
		if err := p.move(c, uid, p.refused); err != nil {
			return 0, err
		}
		return refusedOutcome, nil
	}
	outcome, err := p.opts.Sink.Deliver(ctx, letter)
	if err != nil && (inbound.IsRefused(err) || errors.Is(err, inbound.ErrSetAside)) {
		// The sink will not take it (a limit): a person looks at it there.
		p.opts.Metrics.Refused(inbound.SourceIMAP, err)
		p.logger.Warn("inbound letter set aside; moved to the refused folder for a person", "reason", inbound.RefusalReason(err), "detail", err.Error(), "folder", p.refused)
		if err := p.move(c, uid, p.refused); err != nil {
			return 0, err
		}
		return refusedOutcome, nil
	}
	if err != nil {
		p.opts.Metrics.StoreFailed(inbound.SourceIMAP)
		return 0, fmt.Errorf("%w (left in the mailbox for the next poll): %w", ErrStore, err)
	}
	p.opts.Metrics.Delivered(inbound.SourceIMAP, letter, outcome)
	if err := p.move(c, uid, p.processed); err != nil {
		return 0, err
	}
	return outcome, nil
}

func (p *Poller) move(c *imapclient.Client, uid imap.UID, folder string) error {
	// MOVE, or where the server lacks it COPY + STORE \Deleted + (UID)
	// EXPUNGE: go-imap chooses from the capabilities.
	if _, err := c.Move(imap.UIDSetNum(uid), folder).Wait(); err != nil {
		return &stageError{inbound.StageMove, err}
	}
	return nil
}

// session returns a live, logged-in client with the mailbox selected and
// the folders in place, reconnecting when the last one died.
func (p *Poller) session(ctx context.Context) (*imapclient.Client, error) {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		if err := c.Noop().Wait(); err == nil {
			return c, nil
		}
		p.closeSession()
	}
	c, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.client = c
	p.mu.Unlock()
	return c, nil
}

func (p *Poller) connect(ctx context.Context) (*imapclient.Client, error) {
	mb := p.opts.Mailbox
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	opts := &imapclient.Options{Dialer: dialer, TLSConfig: p.tlsConfig()}
	var c *imapclient.Client
	var err error
	switch mb.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(mb.Addr, opts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(mb.Addr, opts)
	default:
		c, err = imapclient.DialInsecure(mb.Addr, opts)
	}
	if err == nil {
		err = c.WaitGreeting()
	}
	if err != nil {
		if c != nil {
			_ = c.Close() // the dial error is the one to report
		}
		return nil, &stageError{inbound.StageConnect, err}
	}
	if err := c.Login(mb.Username, mb.Password).Wait(); err != nil {
		_ = c.Close() // the login error is the one to report
		return nil, &stageError{inbound.StageLogin, err}
	}
	if err := p.prepareFolders(c); err != nil {
		_ = c.Logout().Wait() // the folder error is the one to report
		_ = c.Close()
		return nil, err
	}
	if _, err := c.Select(mb.Mailbox, nil).Wait(); err != nil {
		_ = c.Logout().Wait() // the select error is the one to report
		_ = c.Close()
		return nil, &stageError{inbound.StageSelect, err}
	}
	return c, nil
}

func (p *Poller) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.opts.TLSConfig != nil {
		cfg = p.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = p.opts.Mailbox.Host
	}
	return cfg
}

// prepareFolders puts the default folder names under the personal
// namespace (INBOX. on Courier and cPanel hosts) and creates missing ones.
func (p *Poller) prepareFolders(c *imapclient.Client) error {
	mb := p.opts.Mailbox
	prefix := ""
	if (mb.processedDefault || mb.refusedDefault) && c.Caps().Has(imap.CapNamespace) {
		if ns, err := c.Namespace().Wait(); err == nil && len(ns.Personal) > 0 {
			prefix = ns.Personal[0].Prefix
		}
	}
	p.processed, p.refused = mb.Processed, mb.Refused
	if prefix != "" && mb.processedDefault && !strings.HasPrefix(p.processed, prefix) {
		p.processed = prefix + p.processed
	}
	if prefix != "" && mb.refusedDefault && !strings.HasPrefix(p.refused, prefix) {
		p.refused = prefix + p.refused
	}
	for _, f := range []string{p.processed, p.refused} {
		list, err := c.List("", f, nil).Collect()
		if err != nil {
			return &stageError{inbound.StageSelect, err}
		}
		if len(list) > 0 {
			continue
		}
		if err := c.Create(f, nil).Wait(); err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
				continue
			}
			return &stageError{inbound.StageSelect, fmt.Errorf("create folder %q: %w", f, err)}
		}
	}
	return nil
}

func (p *Poller) closeSession() {
	p.mu.Lock()
	c := p.client
	p.client = nil
	p.mu.Unlock()
	if c == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_ = c.Logout().Wait() // polite; the connection may be dead already
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = c.Close() // closing a dead connection fails harmlessly
}
