package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"rightsdesk/internal/inbound/listener"
	"rightsdesk/internal/inbound/poller"
)

// Inbound is how letters reach rightsdesk by email. Both ways are off
// until configured.
type Inbound struct {
	// IMAP is the mailbox polled (INBOUND_IMAP_URL or _FILE); nil: none.
	IMAP *poller.Mailbox
	// SMTPAddr is where the inbound SMTP listener listens
	// (INBOUND_SMTP_ADDR); empty: no listener.
	SMTPAddr string
	// SMTPAccept are the domains and addresses it takes mail for
	// (INBOUND_SMTP_ACCEPT), required with SMTPAddr.
	SMTPAccept []string
	// SMTPHostname is the name it greets with (INBOUND_SMTP_HOSTNAME),
	// default the host of BASE_URL.
	SMTPHostname string
	// SMTPTLS offers STARTTLS with INBOUND_SMTP_TLS_CERT_FILE and
	// INBOUND_SMTP_TLS_KEY_FILE; nil without them.
	SMTPTLS *tls.Config
	// ReplyTo is the address replies to rightsdesk's emails go to
	// (INBOUND_REPLY_TO): by default the listener's first address, else
	// the polled mailbox's user name when it is an address; "" when
	// neither way in is configured (replies are then not read).
	ReplyTo string
	// PlusAddressing puts the request's reference after a + in the reply
	// address (INBOUND_PLUS_ADDRESSING): privacy+rd-…@…. By default on
	// when the listener takes mail for the reply address, off otherwise (a
	// hosted mailbox may refuse plus-addresses).
	PlusAddressing bool
}

// Enabled reports whether any way in is configured.
func (i Inbound) Enabled() bool { return i.IMAP != nil || i.SMTPAddr != "" }

// Mailboxes are the addresses letters reach rightsdesk at: the reply
// address, the listener's addresses, the polled mailbox's user name when
// it is an address. A plus-address tag counts on these only.
func (i Inbound) Mailboxes() []string {
	var out []string
	add := func(a string) {
		if _, addr, err := listener.ParseAccept(a); err == nil && addr != "" && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	add(i.ReplyTo)
	for _, a := range i.SMTPAccept {
		add(a)
	}
	if i.IMAP != nil && strings.Contains(i.IMAP.Username, "@") {
		add(i.IMAP.Username)
	}
	return out
}

func loadInbound(r *reader, c *Config) (Inbound, error) {
	in, err := loadWaysIn(r, c)
	if err != nil {
		return Inbound{}, err
	}
	reply := r.str("INBOUND_REPLY_TO", "")
	plus := r.str("INBOUND_PLUS_ADDRESSING", "")
	if !in.Enabled() {
		for name, v := range map[string]string{"INBOUND_REPLY_TO": reply, "INBOUND_PLUS_ADDRESSING": plus} {
			if v != "" {
				return Inbound{}, &Error{name, "set INBOUND_IMAP_URL or INBOUND_SMTP_ADDR too: without a way in, replies are not read"}
			}
		}
		return in, nil
	}
	switch {
	case reply != "":
		_, addr, err := listener.ParseAccept(reply)
		if err != nil || addr == "" {
			return Inbound{}, &Error{"INBOUND_REPLY_TO", fmt.Sprintf("want a plain address such as privacy@operator.kz, got %q", reply)}
		}
		in.ReplyTo = addr
	default:
		in.ReplyTo = in.defaultReplyTo()
	}
	if plus == "" {
		// The listener takes privacy+tag@ for an address it accepts; a
		// hosted mailbox may not, so there it is the operator's choice.
		in.PlusAddressing = in.listenerAccepts(in.ReplyTo)
		return in, nil
	}
	if in.PlusAddressing, err = parseBool(plus); err != nil {
		return Inbound{}, &Error{"INBOUND_PLUS_ADDRESSING", err.Error()}
	}
	return in, nil
}

// defaultReplyTo is the listener's first address, else the polled
// mailbox's user name when it is an address, else "".
func (i Inbound) defaultReplyTo() string {
	for _, a := range i.SMTPAccept {
		if _, addr, err := listener.ParseAccept(a); err == nil && addr != "" {
			return addr
		}
	}
	if i.IMAP != nil {
		if _, addr, err := listener.ParseAccept(i.IMAP.Username); err == nil && addr != "" {
			return addr
		}
	}
	return ""
}

// listenerAccepts reports whether the listener takes mail for addr (its
// address, or its domain, is in INBOUND_SMTP_ACCEPT).
func (i Inbound) listenerAccepts(addr string) bool {
	if i.SMTPAddr == "" || addr == "" {
		return false
	}
	_, domain, _ := strings.Cut(addr, "@")
	for _, a := range i.SMTPAccept {
		d, address, err := listener.ParseAccept(a)
		if err == nil && (address == addr || address == "" && d == domain) {
			return true
		}
	}
	return false
}

// loadWaysIn reads the mailbox polled and the listener.
func loadWaysIn(r *reader, c *Config) (Inbound, error) {
	var in Inbound
	if raw := r.secret("INBOUND_IMAP_URL"); raw != "" {
		m, err := poller.ParseURL(raw)
		if err != nil {
			return Inbound{}, &Error{"INBOUND_IMAP_URL", err.Error()}
		}
		in.IMAP = &m
	}
	if r.err != nil {
		return Inbound{}, r.err
	}
	in.SMTPAddr = r.str("INBOUND_SMTP_ADDR", "")
	accept := r.str("INBOUND_SMTP_ACCEPT", "")
	cert, key := r.str("INBOUND_SMTP_TLS_CERT_FILE", ""), r.str("INBOUND_SMTP_TLS_KEY_FILE", "")
	if in.SMTPAddr == "" {
		for name, v := range map[string]string{"INBOUND_SMTP_ACCEPT": accept, "INBOUND_SMTP_TLS_CERT_FILE": cert, "INBOUND_SMTP_TLS_KEY_FILE": key} {
			if v != "" {
				return Inbound{}, &Error{name, "set INBOUND_SMTP_ADDR too: without it there is no inbound SMTP listener"}
			}
		}
		return in, nil
	}
	_, port, err := net.SplitHostPort(in.SMTPAddr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return Inbound{}, &Error{"INBOUND_SMTP_ADDR", fmt.Sprintf("want host:port such as :25 or 127.0.0.1:2525, got %q", in.SMTPAddr)}
	}
	for _, other := range []string{c.ListenAddr, c.MetricsAddr} {
		if _, p, _ := net.SplitHostPort(other); p == port {
			return Inbound{}, &Error{"INBOUND_SMTP_ADDR", fmt.Sprintf("port %s is taken by LISTEN_ADDR or METRICS_ADDR", port)}
		}
	}
	if accept == "" {
		return Inbound{}, &Error{"INBOUND_SMTP_ACCEPT", "required with INBOUND_SMTP_ADDR: the domains or addresses to take mail for, e.g. privacy@operator.kz"}
	}
	for _, e := range strings.Split(accept, ",") {
		if _, _, err := listener.ParseAccept(e); err != nil {
			return Inbound{}, &Error{"INBOUND_SMTP_ACCEPT", err.Error()}
		}
		in.SMTPAccept = append(in.SMTPAccept, strings.TrimSpace(e))
	}
	u, _ := url.Parse(c.BaseURL)
	in.SMTPHostname = r.str("INBOUND_SMTP_HOSTNAME", u.Hostname())
	if strings.ContainsAny(in.SMTPHostname, " \r\n/") {
		return Inbound{}, &Error{"INBOUND_SMTP_HOSTNAME", fmt.Sprintf("want a host name, got %q", in.SMTPHostname)}
	}
	switch {
	case cert == "" && key == "":
	case cert == "" || key == "":
		v := "INBOUND_SMTP_TLS_CERT_FILE"
		if key == "" {
			v = "INBOUND_SMTP_TLS_KEY_FILE"
		}
		return Inbound{}, &Error{v, "set both INBOUND_SMTP_TLS_CERT_FILE and INBOUND_SMTP_TLS_KEY_FILE, or neither"}
	default:
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			msg := err.Error()
			if u := errors.Unwrap(err); u != nil {
				msg = u.Error()
			}
			return Inbound{}, &Error{"INBOUND_SMTP_TLS_CERT_FILE", "cannot load the certificate and key: " + msg}
		}
		in.SMTPTLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return in, nil
}
