package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how a connection to the SMTP server is protected.
type TLSMode int

const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it and
	// otherwise delivers in the clear. The default for smtp:// URLs.
	TLSOpportunistic TLSMode = iota
	// TLSRequired refuses to deliver unless STARTTLS succeeds (?tls=starttls).
	TLSRequired
	// TLSNone never attempts TLS (?tls=none), for a relay on a trusted network.
	TLSNone
	// TLSImplicit speaks TLS from the first byte (smtps://, RFC 8314).
	TLSImplicit
)

// String returns the name used in logs and configuration errors.
func (m TLSMode) String() string {
	switch m {
	case TLSOpportunistic:
		return "opportunistic"
	case TLSRequired:
		return "starttls"
	case TLSNone:
		return "none"
	case TLSImplicit:
		return "implicit"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// Default ports per scheme.
const (
	DefaultSMTPPort  = 25
	DefaultSMTPSPort = 465
)

// DefaultSMTPTimeout bounds one whole delivery (connect, TLS, AUTH, transfer)
// when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig is where and how to deliver email.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string // empty: no SMTP AUTH
	Password string
	TLS      TLSMode
	// Timeout bounds one whole delivery; zero means DefaultSMTPTimeout. A
	// shorter context deadline passed to Send wins.
	Timeout time.Duration
}

// Addr returns host:port.
func (c SMTPConfig) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// ParseSMTPURL reads SMTP_URL:
//
//	smtp://[user:pass@]host[:port][?tls=starttls|none]   (port 25, STARTTLS when offered)
//	smtps://[user:pass@]host[:port]                      (port 465, implicit TLS)
//
// User and password are percent-decoded, so reserved characters in a password
// must be percent-encoded ("p%40ss" for "p@ss"). Errors never echo the URL,
// since it may carry the password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	var cfg SMTPConfig
	if strings.TrimSpace(raw) == "" {
		return cfg, errors.New("smtp url: empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's message quotes pieces of the URL, and a misplaced '/',
		// '?' or '#' in a password puts password text there: say less.
		return cfg, errors.New("smtp url: malformed (reserved characters in the user name or password must be percent-encoded)")
	}
	u.Scheme = strings.ToLower(u.Scheme)

	switch u.Scheme {
	case "smtp":
		cfg.Port = DefaultSMTPPort
		cfg.TLS = TLSOpportunistic
	case "smtps":
		cfg.Port = DefaultSMTPSPort
		cfg.TLS = TLSImplicit
	case "":
		return cfg, errors.New("smtp url: missing scheme, want smtp:// or smtps://")
	default:
		return cfg, fmt.Errorf("smtp url: unsupported scheme %q, want smtp or smtps", u.Scheme)
	}

	if u.Opaque != "" {
		return cfg, errors.New("smtp url: missing host, want smtp://host:port")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return cfg, errors.New("smtp url: missing host")
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return cfg, errors.New("smtp url: invalid port, want 1-65535")
		}
		cfg.Port = port
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, errors.New("smtp url: unexpected path after host:port")
	}
	if u.Fragment != "" {
		return cfg, errors.New("smtp url: unexpected fragment (percent-encode '#' in a password as %23)")
	}

	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Username == "" {
			return cfg, errors.New("smtp url: password given without a user name")
		}
	}

	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cfg, errors.New("smtp url: malformed query")
	}
	for key, values := range query {
		if key != "tls" {
			return cfg, fmt.Errorf("smtp url: unknown parameter %q, only tls is supported", key)
		}
		if len(values) != 1 {
			return cfg, errors.New("smtp url: tls given more than once")
		}
	}
	if query.Has("tls") {
		mode := strings.ToLower(query.Get("tls"))
		if cfg.TLS == TLSImplicit {
			if mode != "implicit" {
				return cfg, fmt.Errorf("smtp url: tls=%s contradicts smtps:// (implicit TLS); use smtp:// instead", mode)
			}
		} else {
			switch mode {
			case "starttls":
				cfg.TLS = TLSRequired
			case "none":
				cfg.TLS = TLSNone
			case "opportunistic":
				cfg.TLS = TLSOpportunistic
			default:
				return cfg, fmt.Errorf("smtp url: invalid tls value %q, want starttls, none or opportunistic", mode)
			}
		}
	}
	return cfg, nil
}
