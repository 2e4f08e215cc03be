// Package inbound reads the letters people send to an operator's privacy
// mailbox: it parses a raw RFC 5322 message into what rightsdesk needs
// (sender, threading headers, the text, the attachments it accepts, a
// content hash), says what the letter is (a new letter, a reply candidate,
// an auto-reply, a bounce, list mail), finds the keys that thread a reply
// onto a request, trims a reply's quoted history and guesses the letter's
// language and the right it asks for.
//
// It knows nothing of IMAP, SMTP or SQL: the ways in (inbound/poller,
// inbound/listener) hand each raw letter to Read and the result to a Sink.
//
// Wiring them (from serve, with config.Inbound):
//
//	m := inbound.NewMetrics()             // register m.Collectors() on the app's registry
//	if mb := cfg.Inbound.IMAP; mb != nil {
//		p, _ := poller.New(poller.Options{Mailbox: *mb, Sink: sink, Metrics: m, Logger: logger,
//			Lock: poller.NewPGLock(pool, poller.LockKey(*mb))})
//		go p.Run(ctx)
//	}
//	if cfg.Inbound.SMTPAddr != "" {
//		l, _ := listener.New(listener.Options{Addr: cfg.Inbound.SMTPAddr, Accept: cfg.Inbound.SMTPAccept,
//			Hostname: cfg.Inbound.SMTPHostname, TLSConfig: cfg.Inbound.SMTPTLS, Sink: sink, Metrics: m, Logger: logger})
//		go l.Run(ctx)
//	}
//
// where sink stores each letter in one transaction and returns after the
// commit (see Sink).
package inbound

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"rightsdesk/internal/request"
)

// Limits on a letter. An attachment obeys the form's own limits
// (request.MaxUploadSize, request.MaxUploadFiles, and the kinds
// request.SniffFile accepts from a requester: PDF, JPEG, PNG).
const (
	// MaxLetterSize is the largest raw letter read: the form's largest
	// reply (MaxUploadFiles files of MaxUploadSize) in base64, which grows
	// it by a third, plus 1 MiB of text and headers.
	MaxLetterSize = request.MaxUploadFiles*request.MaxUploadSize*4/3 + 1<<20
	// MaxTextSize bounds the text kept from a letter; longer text is cut
	// and Letter.TextTruncated says so (the raw letter keeps all of it).
	MaxTextSize = 256 << 10
	// maxParts and maxDepth bound the MIME tree walked.
	maxParts = 200
	maxDepth = 16
	// maxHeaderBytes bounds one header block.
	maxHeaderBytes = 256 << 10
)

// Reasons a letter is refused. Every refusal is an *Refusal that matches
// one of these with errors.Is; it is permanent: the same letter is refused
// again, so the SMTP listener answers 5xx and the poller sets it aside.
var (
	ErrTooLarge             = errors.New("letter too large")
	ErrTooManyAttachments   = errors.New("too many attachments")
	ErrAttachmentTooLarge   = errors.New("attachment too large")
	ErrMalformed            = errors.New("not a readable email message")
	errUnexpectedRefusalKey = errors.New("attachment refused")
)

// Refusal says why a letter was refused, with a catalog key and its
// parameters (the form's own keys where the rule is the form's) for the
// people who see it.
type Refusal struct {
	Err    error // one of the Err* values above
	Key    string
	Params map[string]any
	Detail string // for logs: never personal data
}

func (r *Refusal) Error() string {
	if r.Detail != "" {
		return r.Err.Error() + ": " + r.Detail
	}
	return r.Err.Error()
}

func (r *Refusal) Unwrap() error { return r.Err }

// IsRefused reports whether err refuses the letter for good.
func IsRefused(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// Envelope is what the transport knew of a letter beyond its bytes.
type Envelope struct {
	// Sender is the envelope sender (SMTP MAIL FROM): "<>" for the null
	// sender of bounces and auto-replies, "" when unknown. A letter from
	// IMAP has none: Parse then reads the Return-Path the delivering server
	// wrote.
	Sender string
	// Recipients are the envelope recipients (SMTP RCPT TO); from IMAP
	// none, and Parse reads Delivered-To and X-Original-To instead.
	Recipients []string
	// ReceivedAt is when rightsdesk received the letter: the legal clock
	// starts there.
	ReceivedAt time.Time
	// Source names the way in ("imap", "smtp"), for logs and metrics.
	Source string
}

// Letter is a parsed letter. Parse fills everything but the fields Read
// adds (Class, Keys, ReplyText, Locale, Suggestion).
type Letter struct {
	// Raw is the letter exactly as received, to be stored (sealed) as the
	// original.
	Raw []byte
	// Hash is the hex SHA-256 content hash (see ContentHash): two copies of
	// one letter, whatever servers added on the way, have the same hash.
	Hash string
	Envelope

	From    *netmail.Address // nil when missing or unreadable
	ReplyTo []*netmail.Address
	To, Cc  []*netmail.Address
	// EnvelopeSender is the envelope sender's address ("" for the null
	// sender or when unknown); NullSender is true for "<>".
	EnvelopeSender string
	NullSender     bool
	// DeliveredTo are the mailbox addresses the letter was delivered to:
	// the envelope recipients, else Delivered-To and X-Original-To.
	DeliveredTo []string

	MessageID  string   // without angle brackets; "" when missing
	InReplyTo  []string // without angle brackets
	References []string // oldest first, as in the header
	Subject    string   // decoded, one line, sanitised
	Date       time.Time

	// Text is the letter's text: its text/plain parts, or its HTML rendered
	// to plain text, never raw HTML; sanitised of control and bidi
	// characters. FromHTML says it came from HTML.
	Text          string
	FromHTML      bool
	TextTruncated bool

	// Attachments are the files accepted by the form's rules, ready to store.
	Attachments []request.File
	// Skipped lists the parts that were not taken as attachments (another
	// file type, an inline image, an empty file); the raw letter keeps them.
	Skipped []SkippedPart

	// Set by Read.
	Class      Class
	Keys       Keys
	ReplyText  string // for a reply: Text without quoted history and signature
	Locale     request.Locale
	Suggestion Suggestion

	header  textproto.Header // the top-level header, for Classify
	reports []report         // message/delivery-status parts, for Classify
	origIDs []string         // Message-IDs of returned messages, for Classify
}

// SkippedPart is a part of a letter that is not an attachment rightsdesk
// keeps as a file.
type SkippedPart struct {
	Name        string
	ContentType string
	Size        int64
	Reason      string // "file_type", "inline", "empty"
}

// Header returns the first value of a top-level header field, raw (not
// decoded), for callers that need one Read does not interpret.
func (l *Letter) Header(key string) string { return l.header.Get(key) }

// wordDecoder decodes RFC 2047 words in any charset go-message knows
// (KOI8-R, Windows-1251 and the rest that Russian mail still uses).
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// Parse reads a raw letter. It never returns a partial letter: either the
// letter, or a *Refusal.
func Parse(raw []byte, env Envelope) (*Letter, error) {
	if len(raw) > MaxLetterSize {
		return nil, &Refusal{Err: ErrTooLarge, Key: "error.letter_too_large",
			Params: map[string]any{"MaxMB": MaxLetterSize >> 20}, Detail: fmt.Sprintf("%d bytes", len(raw))}
	}
	br := bufio.NewReader(io.LimitReader(bytes.NewReader(raw), maxHeaderBytes))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, &Refusal{Err: ErrMalformed, Key: "error.letter_malformed", Detail: "header: " + err.Error()}
	}
	if h.Len() == 0 {
		return nil, &Refusal{Err: ErrMalformed, Key: "error.letter_malformed", Detail: "no header"}
	}
	l := &Letter{Raw: raw, Envelope: env, header: h}
	l.readHeader()
	l.Hash = ContentHash(raw)

	entity, err := message.Read(bytes.NewReader(raw))
	if err != nil && entity == nil {
		return nil, &Refusal{Err: ErrMalformed, Key: "error.letter_malformed", Detail: err.Error()}
	}
	w := walker{letter: l}
	if err := w.walk(entity, 0, ""); err != nil {
		return nil, err
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Letter) readHeader() {
	h := l.header
	l.From = firstAddress(h.Get("From"))
	l.ReplyTo = addressList(h.Get("Reply-To"))
	l.To = addressList(h.Get("To"))
	l.Cc = addressList(h.Get("Cc"))
	l.MessageID = firstMsgID(h.Get("Message-Id"))
	l.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	l.References = msgIDs(h.Get("References"))
	l.Subject = cleanLine(decodeWords(h.Get("Subject")), 998)
	if d, err := netmail.ParseDate(strings.TrimSpace(h.Get("Date"))); err == nil {
		l.Date = d
	}

	sender := l.Sender
	if sender == "" {
		sender = h.Get("Return-Path")
	}
	sender = strings.TrimSpace(sender)
	switch {
	case sender == "<>" || (sender != "" && strings.Trim(sender, "<> ") == ""):
		l.NullSender = true
	case sender != "":
		if a, err := netmail.ParseAddress(sender); err == nil {
			l.EnvelopeSender = strings.ToLower(a.Address)
		} else {
			l.EnvelopeSender = strings.ToLower(cleanLine(strings.Trim(sender, "<>"), 320))
		}
	}

	rcpts := l.Recipients
	if len(rcpts) == 0 {
		for _, key := range []string{"Delivered-To", "X-Original-To"} {
			rcpts = append(rcpts, h.Values(key)...)
		}
	}
	seen := map[string]bool{}
	for _, r := range rcpts {
		addr := strings.ToLower(strings.Trim(strings.TrimSpace(r), "<>"))
		if a, err := netmail.ParseAddress(addr); err == nil {
			addr = strings.ToLower(a.Address)
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			l.DeliveredTo = append(l.DeliveredTo, addr)
		}
	}
}

// ContentHash is the hex SHA-256 of what identifies a letter whatever the
// servers on its way added: its Message-ID, From, Date and Subject fields
// and its body, line endings made LF. Trace fields (Received,
// Return-Path, Delivered-To, a filter's X- fields) are left out, so the copy
// polled from a mailbox and the copy the listener received hash alike.
func ContentHash(raw []byte) string {
	hdr, body := splitHeader(raw)
	h := sha256.New()
	fields := map[string][]byte{}
	for _, f := range unfoldFields(hdr) {
		name, value, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			continue
		}
		key := strings.ToLower(string(bytes.TrimSpace(name)))
		switch key {
		case "message-id", "from", "date", "subject":
			if _, dup := fields[key]; !dup {
				fields[key] = bytes.TrimSpace(value)
			}
		}
	}
	for _, key := range []string{"message-id", "from", "date", "subject"} {
		fmt.Fprintf(h, "%s:%s\n", key, fields[key])
	}
	h.Write([]byte{'\n'})
	h.Write(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	return hex.EncodeToString(h.Sum(nil))
}

// splitHeader splits a raw message at the first empty line.
func splitHeader(raw []byte) (header, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := raw[i : i+j]
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return raw[:i], raw[i+j+1:]
		}
		i += j + 1
	}
	return raw, nil
}

// unfoldFields splits a header block into fields, continuation lines joined.
func unfoldFields(hdr []byte) [][]byte {
	var fields [][]byte
	for _, line := range bytes.Split(hdr, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = append(append(last[:len(last):len(last)], ' '), bytes.TrimSpace(line)...)
			continue
		}
		fields = append(fields, line)
	}
	return fields
}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// addressParser reads address lists with RFC 2047 names in any charset.
var addressParser = &netmail.AddressParser{WordDecoder: wordDecoder}

func addressList(v string) []*netmail.Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	list, err := addressParser.ParseList(v)
	if err != nil {
		// A list with one broken entry still names the others: take what
		// parses, entry by entry.
		for _, part := range strings.Split(v, ",") {
			if a, err := addressParser.Parse(part); err == nil {
				list = append(list, a)
			}
		}
	}
	for _, a := range list {
		a.Address = strings.ToLower(a.Address)
		a.Name = cleanLine(a.Name, 200)
	}
	return list
}

func firstAddress(v string) *netmail.Address {
	if list := addressList(v); len(list) > 0 {
		return list[0]
	}
	return nil
}

// msgIDs reads Message-IDs leniently: what is between angle brackets, or,
// for a header written without them, each word that holds an @.
func msgIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 250 || strings.ContainsAny(id, " \t\r\n<>") || seen[id] {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	rest := v
	found := false
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		add(rest[i+1 : i+j])
		found = true
		rest = rest[i+j+1:]
	}
	if !found {
		for _, word := range strings.Fields(v) {
			if strings.Contains(word, "@") {
				add(word)
			}
		}
	}
	return ids
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}
