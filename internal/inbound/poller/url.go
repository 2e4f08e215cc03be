package poller

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// TLS modes of an IMAP connection.
const (
	TLSImplicit = "implicit" // imaps://: TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // imap://: STARTTLS, required (port 143)
	TLSNone     = "none"     // imap://…?tls=none: no encryption (a mailbox on the same host or network only)
)

// Mailbox is where the poller reads letters: INBOUND_IMAP_URL, parsed.
//
//	imaps://USER:PASSWORD@HOST[:PORT]/MAILBOX?processed=FOLDER&refused=FOLDER&interval=1m
//
// imaps:// is implicit TLS (port 993 by default); imap:// requires
// STARTTLS (port 143), or, with ?tls=none, no encryption at all. The user
// name and password are percent-encoded (privacy%40operator.kz). MAILBOX
// is the folder read, INBOX when empty. processed is the folder stored
// letters move to (default Processed), refused the folder letters the
// limits refuse move to (default Refused), both created when missing and
// put under the server's personal namespace (INBOX. on some hosts) when
// given without one. interval is how often the mailbox is read, 10s to 1h,
// default 1m.
type Mailbox struct {
	Addr      string // host:port
	Host      string
	TLS       string // TLSImplicit, TLSStartTLS or TLSNone
	Username  string
	Password  string
	Mailbox   string
	Processed string
	Refused   string
	Interval  time.Duration
	// folderDefaults is true for each of Processed and Refused that the
	// URL did not name, so the namespace prefix may be put before it.
	processedDefault, refusedDefault bool
}

// String names the mailbox without the password, for logs.
func (m Mailbox) String() string {
	return fmt.Sprintf("%s/%s (%s)", m.Addr, m.Mailbox, m.TLS)
}

// ParseURL reads INBOUND_IMAP_URL. Its errors never repeat the URL, which
// holds a password.
func ParseURL(raw string) (Mailbox, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Mailbox{}, errors.New("not a URL: want imaps://user:password@host/INBOX")
	}
	m := Mailbox{Interval: time.Minute}
	port := ""
	switch u.Scheme {
	case "imaps":
		m.TLS, port = TLSImplicit, "993"
	case "imap":
		m.TLS, port = TLSStartTLS, "143"
	default:
		return Mailbox{}, fmt.Errorf("scheme %q: want imaps:// or imap://", u.Scheme)
	}
	m.Host = u.Hostname()
	if m.Host == "" {
		return Mailbox{}, errors.New("no host: want imaps://user:password@host/INBOX")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	m.Addr = net.JoinHostPort(m.Host, port)
	if u.User == nil || u.User.Username() == "" {
		return Mailbox{}, errors.New("no user name: want imaps://user:password@host/INBOX (write @ in a user name as %40)")
	}
	m.Username = u.User.Username()
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return Mailbox{}, errors.New("no password: want imaps://user:password@host/INBOX (or put the URL in INBOUND_IMAP_URL_FILE)")
	}
	m.Password = pw
	m.Mailbox = strings.Trim(u.Path, "/")
	if m.Mailbox == "" {
		m.Mailbox = "INBOX"
	}
	q := u.Query()
	for key := range q {
		switch key {
		case "processed", "refused", "interval", "tls":
		default:
			return Mailbox{}, fmt.Errorf("unknown parameter %q (known: processed, refused, interval, tls)", key)
		}
	}
	m.Processed, m.processedDefault = q.Get("processed"), q.Get("processed") == ""
	if m.processedDefault {
		m.Processed = "Processed"
	}
	m.Refused, m.refusedDefault = q.Get("refused"), q.Get("refused") == ""
	if m.refusedDefault {
		m.Refused = "Refused"
	}
	for _, f := range []string{m.Mailbox, m.Processed, m.Refused} {
		if strings.ContainsAny(f, "\r\n\x00*%") {
			return Mailbox{}, fmt.Errorf("folder %q: no line breaks or wildcards", f)
		}
	}
	if strings.EqualFold(m.Processed, m.Mailbox) || strings.EqualFold(m.Refused, m.Mailbox) {
		return Mailbox{}, errors.New("processed and refused must be other folders than the one read")
	}
	if v := q.Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second || d > time.Hour {
			return Mailbox{}, fmt.Errorf("interval %q: want a duration from 10s to 1h such as 1m", v)
		}
		m.Interval = d
	}
	switch v := q.Get("tls"); v {
	case "":
	case TLSNone:
		if m.TLS == TLSImplicit {
			return Mailbox{}, errors.New("tls=none with imaps://: use imap:// for a mailbox without encryption")
		}
		m.TLS = TLSNone
	case TLSStartTLS:
		if m.TLS == TLSImplicit {
			return Mailbox{}, errors.New("tls=starttls with imaps://: use imap:// for STARTTLS")
		}
	default:
		return Mailbox{}, fmt.Errorf("tls %q: want starttls or none", v)
	}
	return m, nil
}
