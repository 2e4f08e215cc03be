// Package config reads rightsdesk's settings from the environment (secrets
// also from files named by *_FILE variables) and validates them at start, so
// a wrong value stops the process with one line naming the variable.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"rightsdesk/internal/datamap"
	"rightsdesk/internal/deadline"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
)

// Config is the validated configuration.
type Config struct {
	// Slug is the operator's whose settings these are, of an operators
	// file (OPERATORS_FILE); "" for the environment's one operator.
	Slug        string
	DatabaseURL string // empty: start the private PostgreSQL under DataDir
	DataDir     string
	// Keys is ENCRYPTION_KEY: the keys that seal personal data at rest, the
	// current one first. Nil only with the private PostgreSQL, which keeps a
	// development key of its own in DataDir (app.devKeyring).
	Keys       *keyring.Keyring
	ListenAddr string
	// MetricsAddr is the operator's listener for /metrics and pprof
	// (METRICS_ADDR); empty means none.
	MetricsAddr    string
	BaseURL        string // no trailing slash
	SMTPURL        string // empty: the development mailbox
	MailFrom       string
	PrivacyContact string
	OrgName        string
	Location       *time.Location
	EnabledTypes   []request.Type
	VerifyEmail    bool
	// IdentityCheck says which answers need a staff-recorded identity check
	// before they are sent (IDENTITY_CHECK).
	IdentityCheck request.IdentityRule
	// PauseWhileAwaiting stops the deadline clock while staff wait for the
	// requester; the due date moves by the days it waited.
	PauseWhileAwaiting bool
	ConfirmLinkTTL     time.Duration
	DownloadLinkTTL    time.Duration
	ComplaintURL       string
	// ComplaintText replaces, per language, the sentence that tells a
	// requester how to complain (COMPLAINT_TEXT_RU, _KK, _EN); empty keeps
	// the built-in one.
	ComplaintText  map[request.Locale]string
	DeadlinePreset string
	PolicyFile     string
	// LogoFile (LOGO_FILE) is an image shown beside OrgName on every page,
	// read at start into Logo; BrandColor (BRAND_COLOR, #rrggbb) the
	// colour of links and buttons. Empty and nil: the default look.
	LogoFile   string
	Logo       *Logo
	BrandColor string
	// DefaultLocale (DEFAULT_LOCALE) is the language of the public pages
	// for a visitor who has chosen none and whose browser asks for none of
	// ru, kk and en.
	DefaultLocale request.Locale
	// Policy is POLICY_FILE, parsed; nil when none is set.
	Policy *deadline.PolicyFile
	// Promise is the operator's own promise (PROMISED_DAYS, PROMISED_UNIT);
	// nil when none is set.
	Promise         *deadline.Period
	IntakeRateLimit int // per minute per client address; 0 = off
	TrustedProxies  []netip.Prefix
	StaffLocale     request.Locale

	// AcknowledgementsPerDay is how many acknowledgements one recipient
	// address receives per calendar day (ACKNOWLEDGEMENTS_PER_DAY); 0 = no
	// limit.
	AcknowledgementsPerDay int

	// ReminderThresholds are the days before a due day at which staff are
	// reminded (REMINDER_THRESHOLDS), largest first; ReminderInterval is
	// how often the sweep runs (REMINDER_INTERVAL).
	ReminderThresholds []int
	ReminderInterval   time.Duration
	// RetentionPeriod is how long after closing a request keeps its
	// personal data (RETENTION_PERIOD); FileRetention how long its files
	// keep their content (FILE_RETENTION). The retention job purges after.
	RetentionPeriod Age
	FileRetention   Age
	LogLevel        string

	// EmailWorkers is how many emails one instance delivers at a time
	// (EMAIL_WORKERS).
	EmailWorkers int

	// WebhookAllowPrivate lets webhooks reach the operator's private
	// network (WEBHOOK_ALLOW_PRIVATE): loopback, RFC 1918, fc00::/7, CGNAT.
	WebhookAllowPrivate bool

	// Inbound is how letters arrive by email (INBOUND_*, inbound.go).
	Inbound Inbound

	// DataMapFile is DATA_MAP_FILE; DataMap the map, statically valid, nil
	// when none is set (answering requests from the operator's systems is
	// then off).
	DataMapFile string
	DataMap     *datamap.Map
	// AutoGather lists the request types whose gathering starts by itself
	// once the requester's identity is established (AUTO_GATHER: access,
	// portability or both; empty: staff start it).
	AutoGather []request.Type
	// Env is the environment the configuration was read from: the data
	// map's systems take their credentials from variables it names.
	Env Env
}

// Age is a retention period in whole calendar years or whole days: "3y"
// ends on the same date three years on, leap days included.
type Age struct {
	Years, Days int
}

// Before returns the cut-off at now: whatever closed before Before(now) has
// been closed longer than the period.
func (a Age) Before(now time.Time) time.Time { return now.AddDate(-a.Years, 0, -a.Days) }

func (a Age) String() string {
	if a.Years != 0 {
		return strconv.Itoa(a.Years) + "y"
	}
	return strconv.Itoa(a.Days) + "d"
}

// parseAge accepts whole years ("3y", at most 100) or whole days ("120d",
// at least 1, at most 36500).
func parseAge(s string) (Age, error) {
	if y, ok := strings.CutSuffix(s, "y"); ok {
		if n, err := strconv.Atoi(y); err == nil && n >= 1 && n <= 100 {
			return Age{Years: n}, nil
		}
	} else if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 1 && n <= 36500 {
			return Age{Days: n}, nil
		}
	}
	return Age{}, fmt.Errorf("want whole years such as 3y or whole days such as 120d (1d to 100y), got %q", s)
}

// Env looks a variable up; os.LookupEnv in production, a map in tests.
type Env func(name string) (string, bool)

// FromOS reads the process environment.
func FromOS() Env { return os.LookupEnv }

// Error names the variable whose value is wrong.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load reads and validates the configuration.
func Load(env Env) (Config, error) {
	r := reader{env: env}
	c := Config{
		DatabaseURL:    r.secret("DATABASE_URL"),
		DataDir:        r.str("RIGHTSDESK_DATA_DIR", "./var"),
		ListenAddr:     r.str("LISTEN_ADDR", ":8080"),
		MetricsAddr:    r.str("METRICS_ADDR", ""),
		SMTPURL:        r.secret("SMTP_URL"),
		PrivacyContact: r.str("PRIVACY_CONTACT_EMAIL", ""),
		OrgName:        r.str("ORG_NAME", "rightsdesk"),
		DeadlinePreset: r.str("DEADLINE_PRESET", "default"),
		PolicyFile:     r.str("POLICY_FILE", ""),
		LogoFile:       r.str("LOGO_FILE", ""),
		BrandColor:     r.str("BRAND_COLOR", ""),
		DefaultLocale:  request.Locale(r.str("DEFAULT_LOCALE", "ru")),
		DataMapFile:    r.str("DATA_MAP_FILE", ""),
		Env:            env,
		LogLevel:       r.str("LOG_LEVEL", "info"),
	}
	if r.err != nil {
		return Config{}, r.err
	}
	keys := r.secret("ENCRYPTION_KEY")
	if r.err != nil {
		return Config{}, r.err
	}
	if v := keys; v != "" {
		kr, err := keyring.Parse(v)
		if err != nil {
			// The error names the key by position, never its value.
			return Config{}, &Error{"ENCRYPTION_KEY", err.Error()}
		}
		c.Keys = kr
	} else if c.DatabaseURL != "" {
		return Config{}, &Error{"ENCRYPTION_KEY", "required with DATABASE_URL: personal data is encrypted at rest (generate a key with `rightsdesk key generate`)"}
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return Config{}, &Error{"LISTEN_ADDR", fmt.Sprintf("want host:port such as :8080, got %q", c.ListenAddr)}
	}
	if c.MetricsAddr != "" {
		if err := checkMetricsAddr(c.MetricsAddr, c.ListenAddr); err != nil {
			return Config{}, &Error{"METRICS_ADDR", err.Error()}
		}
	}
	base, err := baseURL(r.str("BASE_URL", ""), c.ListenAddr)
	if err != nil {
		return Config{}, &Error{"BASE_URL", err.Error()}
	}
	c.BaseURL = base
	if c.SMTPURL != "" {
		// ParseSMTPURL never repeats the URL, which may hold a password.
		if _, err := mail.ParseSMTPURL(c.SMTPURL); err != nil {
			return Config{}, &Error{"SMTP_URL", err.Error()}
		}
	}
	if _, err := deadline.LookupPreset(c.DeadlinePreset); err != nil {
		return Config{}, &Error{"DEADLINE_PRESET", fmt.Sprintf("unknown preset %q (known: %s)", c.DeadlinePreset, strings.Join(deadline.PresetNames(), ", "))}
	}
	if !c.DefaultLocale.Valid() {
		return Config{}, &Error{"DEFAULT_LOCALE", fmt.Sprintf("want ru, kk or en, got %q", c.DefaultLocale)}
	}
	if c.BrandColor != "" {
		if err := checkBrandColor(c.BrandColor); err != nil {
			return Config{}, err
		}
	}
	if c.LogoFile != "" {
		var err error
		if c.Logo, err = loadLogo(c.LogoFile); err != nil {
			return Config{}, err
		}
	}
	if c.PolicyFile != "" {
		f, err := os.Open(c.PolicyFile)
		if err != nil {
			return Config{}, &Error{"POLICY_FILE", fmt.Sprintf("cannot read %s: %v", c.PolicyFile, errors.Unwrap(err))}
		}
		c.Policy, err = deadline.LoadPolicyFile(f)
		_ = f.Close() // read-only: nothing to flush
		if err != nil {
			return Config{}, &Error{"POLICY_FILE", err.Error()}
		}
	}
	if c.DataMapFile != "" {
		m, err := datamap.Load(c.DataMapFile)
		var perr *datamap.Error
		switch {
		case errors.As(err, &perr):
			return Config{}, &Error{"DATA_MAP_FILE", fmt.Sprintf("the data map has %d mistake(s):\n%s", len(perr.Problems), perr.Error())}
		case err != nil:
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				err = pathErr.Err
			}
			return Config{}, &Error{"DATA_MAP_FILE", fmt.Sprintf("cannot read %s: %v", c.DataMapFile, err)}
		}
		c.DataMap = m
	}
	if c.AutoGather, err = parseAutoGather(r.str("AUTO_GATHER", ""), c.DataMap != nil); err != nil {
		return Config{}, &Error{"AUTO_GATHER", err.Error()}
	}
	if days := r.str("PROMISED_DAYS", ""); days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return Config{}, &Error{"PROMISED_DAYS", fmt.Sprintf("want a positive whole number, got %q", days)}
		}
		p := deadline.Period{Value: n, Unit: deadline.Unit(r.str("PROMISED_UNIT", string(deadline.CalendarDays)))}
		if err := p.Validate(); err != nil {
			return Config{}, &Error{"PROMISED_UNIT", err.Error()}
		}
		c.Promise = &p
	}
	from := r.str("MAIL_FROM", "")
	if from == "" {
		host, _ := url.Parse(c.BaseURL)
		from = c.OrgName + " <no-reply@" + host.Hostname() + ">"
	}
	if err := checkAddress(from, true); err != nil {
		return Config{}, &Error{"MAIL_FROM", err.Error()}
	}
	c.MailFrom = from
	if c.PrivacyContact != "" {
		if err := checkAddress(c.PrivacyContact, false); err != nil {
			return Config{}, &Error{"PRIVACY_CONTACT_EMAIL", err.Error()}
		}
	}
	if strings.ContainsAny(c.OrgName, "\r\n") {
		return Config{}, &Error{"ORG_NAME", "must be one line"}
	}
	tz := r.str("TIMEZONE", "Asia/Almaty")
	if c.Location, err = time.LoadLocation(tz); err != nil {
		return Config{}, &Error{"TIMEZONE", fmt.Sprintf("unknown time zone %q (want an IANA name such as Asia/Almaty)", tz)}
	}
	if c.EnabledTypes, err = request.ParseTypes(r.str("ENABLED_TYPES", "")); err != nil {
		return Config{}, &Error{"ENABLED_TYPES", err.Error()}
	}
	if c.VerifyEmail, err = parseBool(r.str("VERIFY_EMAIL", "true")); err != nil {
		return Config{}, &Error{"VERIFY_EMAIL", err.Error()}
	}
	var identityErrs []error
	if c.IdentityCheck, identityErrs = request.ParseIdentityRule(r.str("IDENTITY_CHECK", request.DefaultIdentityRule)); identityErrs != nil {
		// Every mistake in the list on a line of its own.
		lines := make([]error, len(identityErrs))
		for i, e := range identityErrs {
			lines[i] = &Error{"IDENTITY_CHECK", e.Error()}
		}
		return Config{}, errors.Join(lines...)
	}
	if c.PauseWhileAwaiting, err = parseBool(r.str("PAUSE_WHILE_AWAITING", "false")); err != nil {
		return Config{}, &Error{"PAUSE_WHILE_AWAITING", err.Error()}
	}
	if c.ConfirmLinkTTL, err = parseDays(r.str("CONFIRM_LINK_TTL", "7d")); err != nil {
		return Config{}, &Error{"CONFIRM_LINK_TTL", err.Error()}
	}
	if c.DownloadLinkTTL, err = parseDays(r.str("DOWNLOAD_LINK_TTL", "7d")); err != nil {
		return Config{}, &Error{"DOWNLOAD_LINK_TTL", err.Error()}
	}
	c.ComplaintURL = r.str("COMPLAINT_URL", "https://eotinish.kz")
	if u, err := url.Parse(c.ComplaintURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Config{}, &Error{"COMPLAINT_URL", fmt.Sprintf("want an absolute http(s) URL, got %q", c.ComplaintURL)}
	}
	c.ComplaintText = map[request.Locale]string{}
	for _, l := range request.Locales() {
		name := "COMPLAINT_TEXT_" + strings.ToUpper(string(l))
		if v := r.str(name, ""); v != "" {
			if strings.ContainsAny(v, "\x00") || len(v) > 2000 {
				return Config{}, &Error{name, "must be text of at most 2000 characters"}
			}
			c.ComplaintText[l] = v
		}
	}
	limit := r.str("INTAKE_RATE_LIMIT", "10")
	if c.IntakeRateLimit, err = strconv.Atoi(limit); err != nil || c.IntakeRateLimit < 0 {
		return Config{}, &Error{"INTAKE_RATE_LIMIT", fmt.Sprintf("want a whole number of submissions per minute, 0 to switch off; got %q", limit)}
	}
	acks := r.str("ACKNOWLEDGEMENTS_PER_DAY", "5")
	if c.AcknowledgementsPerDay, err = strconv.Atoi(acks); err != nil || c.AcknowledgementsPerDay < 0 || c.AcknowledgementsPerDay > 1000 {
		return Config{}, &Error{"ACKNOWLEDGEMENTS_PER_DAY", fmt.Sprintf("want a whole number of acknowledgements per address and day from 1 to 1000, 0 to switch off; got %q", acks)}
	}
	workers := r.str("EMAIL_WORKERS", "20")
	if c.EmailWorkers, err = strconv.Atoi(workers); err != nil || c.EmailWorkers < 1 || c.EmailWorkers > 500 {
		return Config{}, &Error{"EMAIL_WORKERS", fmt.Sprintf("want a whole number from 1 to 500; got %q", workers)}
	}
	if c.TrustedProxies, err = parsePrefixes(r.str("TRUSTED_PROXIES", "")); err != nil {
		return Config{}, &Error{"TRUSTED_PROXIES", err.Error()}
	}
	if c.WebhookAllowPrivate, err = parseBool(r.str("WEBHOOK_ALLOW_PRIVATE", "false")); err != nil {
		return Config{}, &Error{"WEBHOOK_ALLOW_PRIVATE", err.Error()}
	}
	c.StaffLocale = request.Locale(r.str("STAFF_LOCALE", "ru"))
	if !c.StaffLocale.Valid() {
		return Config{}, &Error{"STAFF_LOCALE", fmt.Sprintf("want ru, kk or en, got %q", c.StaffLocale)}
	}
	if c.ReminderThresholds, err = reminder.ParseThresholds(r.str("REMINDER_THRESHOLDS", "7,3,1")); err != nil {
		return Config{}, &Error{"REMINDER_THRESHOLDS", err.Error()}
	}
	// Overdue requests are reminded once a day: a sweep must run every day.
	interval := r.str("REMINDER_INTERVAL", "1h")
	if c.ReminderInterval, err = time.ParseDuration(interval); err != nil || c.ReminderInterval < time.Second || c.ReminderInterval > 24*time.Hour {
		return Config{}, &Error{"REMINDER_INTERVAL", fmt.Sprintf("want a duration from 1s to 24h such as 1h or 30m, got %q", interval)}
	}
	if c.RetentionPeriod, err = parseAge(r.str("RETENTION_PERIOD", "3y")); err != nil {
		return Config{}, &Error{"RETENTION_PERIOD", err.Error()}
	}
	if c.FileRetention, err = parseAge(r.str("FILE_RETENTION", "120d")); err != nil {
		return Config{}, &Error{"FILE_RETENTION", err.Error()}
	}
	// Files are personal data too: the purge takes them with the rest, so a
	// longer file period would be a promise the purge breaks.
	if ref := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); c.FileRetention.Before(ref).Before(c.RetentionPeriod.Before(ref)) {
		return Config{}, &Error{"FILE_RETENTION", fmt.Sprintf("%s is longer than RETENTION_PERIOD (%s): files go with the personal data at the latest", c.FileRetention, c.RetentionPeriod)}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, &Error{"LOG_LEVEL", fmt.Sprintf("want debug, info, warn or error, got %q", c.LogLevel)}
	}
	if c.Inbound, err = loadInbound(&r, &c); err != nil {
		return Config{}, err
	}
	if r.err != nil {
		return Config{}, r.err
	}
	if _, err := c.DeadlinePolicy(c.DeadlinePreset); err != nil {
		v := "POLICY_FILE"
		if c.Policy == nil {
			v = "DEADLINE_PRESET"
		}
		return Config{}, &Error{v, err.Error()}
	}
	return c, nil
}

// reader fetches variables, remembering the first failure.
type reader struct {
	env Env
	err error
}

func (r *reader) str(name, def string) string {
	if v, ok := r.env(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// secret reads NAME, or the file named by NAME_FILE (Docker and Kubernetes
// secrets), refusing both at once so there is no doubt which one wins.
func (r *reader) secret(name string) string {
	v := r.str(name, "")
	path := r.str(name+"_FILE", "")
	if path == "" {
		return v
	}
	if v != "" {
		r.fail(&Error{name, "set either " + name + " or " + name + "_FILE, not both"})
		return ""
	}
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names this file (*_FILE variables); reading it is the point
	if err != nil {
		r.fail(&Error{name + "_FILE", fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))})
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// checkMetricsAddr wants host:port with a real port that is not the
// public listener's: metrics and profiles must never share its address.
func checkMetricsAddr(addr, listen string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port such as 127.0.0.1:9090, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want a port from 1 to 65535, got %q", addr)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("want an IP address or localhost as the host, got %q", addr)
		}
	}
	if _, lport, _ := net.SplitHostPort(listen); lport == port {
		return fmt.Errorf("must not use LISTEN_ADDR's port %s: the public listener never serves metrics or profiles", port)
	}
	return nil
}

func baseURL(raw, listen string) (string, error) {
	if raw == "" {
		_, port, _ := net.SplitHostPort(listen)
		return "http://localhost:" + port, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want an absolute http(s) URL such as https://privacy.example.kz, got %q", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("must not have a query or fragment, got %q", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func checkAddress(s string, allowName bool) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("must be one line")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("not an email address: %q", s)
	}
	if !allowName && a.Name != "" {
		return fmt.Errorf("want a bare address such as privacy@example.kz, got %q", s)
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", s)
}

// parseDays accepts Go durations ("36h") and whole days ("7d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("want a positive duration such as 7d or 48h, got %q", s)
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			addr, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("not an address or CIDR range: %q", part)
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("not an address or CIDR range: %q", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// DeadlinePolicy builds the deadline policy of a preset with the operator's
// promise and policy file applied.
func (c Config) DeadlinePolicy(preset string) (*deadline.Policy, error) {
	var opts []deadline.Option
	if c.Promise != nil {
		opts = append(opts, deadline.WithPromise(*c.Promise))
	}
	if c.Policy != nil {
		opts = append(opts, deadline.WithPolicyFile(c.Policy))
	}
	return deadline.NewPolicy(preset, c.Location, opts...)
}

// parseAutoGather reads AUTO_GATHER: the types gathered without staff
// asking, comma-separated, among those a gathering answers (access,
// portability); "" or "off" for none. It needs a data map.
func parseAutoGather(v string, haveMap bool) ([]request.Type, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "off" {
		return nil, nil
	}
	if !haveMap {
		return nil, errors.New("needs DATA_MAP_FILE: there is nothing to gather from without a data map")
	}
	var out []request.Type
	for _, part := range strings.Split(v, ",") {
		t := request.Type(strings.TrimSpace(part))
		switch {
		case t != request.Access && t != request.Portability:
			return nil, fmt.Errorf("%q cannot be gathered by itself (want access, portability or both, comma-separated; or off)", t)
		case slices.Contains(out, t):
			return nil, fmt.Errorf("%q is named twice", t)
		}
		out = append(out, t)
	}
	return out, nil
}
