// Package operator knows the operators one deployment serves (issue 15):
// each an organisation with its own public address, name, contact, sender,
// rules and time zone. The per-operator settings are today's environment
// names; an operator's entry in OPERATORS_FILE sets them for that operator
// alone, and config.Load reads them, so that every setting has one parser
// whether it comes from the environment or from the file.
//
// With no OPERATORS_FILE the environment is the one operator, "default": a
// single-operator deployment is what it was before there could be several.
package operator

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"rightsdesk/internal/config"
)

// DefaultSlug names the operator of a deployment without an operators file,
// and the one every request of a database from before operators belongs to.
const DefaultSlug = "default"

// DefaultID is the default operator's row in the operators table.
const DefaultID int64 = 1

// Operator is one organisation the deployment serves.
type Operator struct {
	// ID is the operator's row in the database; 0 until the set has been
	// recorded there (store.Store.RecordOperators).
	ID   int64
	Slug string
	// Host is BASE_URL's host (with its port, if it names one), lower case;
	// PathPrefix its path ("" at the root of the host, else "/prefix").
	Host, PathPrefix string
	// Config is the operator's whole configuration: the environment with
	// the operator's own keys over it.
	Config config.Config
}

// Settings are the environment names an operator's entry may set. The rest
// of the environment (the database, the listener, SMTP, the encryption keys)
// belongs to the deployment.
var settings = []string{
	"BASE_URL", "ORG_NAME", "PRIVACY_CONTACT_EMAIL", "MAIL_FROM",
	"DEADLINE_PRESET", "POLICY_FILE", "PROMISED_DAYS", "PROMISED_UNIT",
	"ENABLED_TYPES", "TIMEZONE", "VERIFY_EMAIL", "IDENTITY_CHECK",
	"PAUSE_WHILE_AWAITING", "CONFIRM_LINK_TTL", "DOWNLOAD_LINK_TTL",
	"COMPLAINT_URL", "COMPLAINT_TEXT_RU", "COMPLAINT_TEXT_KK", "COMPLAINT_TEXT_EN",
	"STAFF_LOCALE", "REMINDER_THRESHOLDS", "ACKNOWLEDGEMENTS_PER_DAY",
	"DATA_MAP_FILE", "AUTO_GATHER", "DEFAULT_LOCALE", "LOGO_FILE", "BRAND_COLOR",
	// The operator's mailbox (issue 15 stage 2): the IMAP mailbox polled for
	// it, the listener's addresses that are its own, its reply address. The
	// listener itself (INBOUND_SMTP_ADDR, its host name and certificate) is
	// the deployment's: one port for every operator.
	"INBOUND_IMAP_URL", "INBOUND_IMAP_URL_FILE", "INBOUND_SMTP_ACCEPT",
	"INBOUND_REPLY_TO", "INBOUND_PLUS_ADDRESSING",
}

// listenerSettings are the deployment's listener, read by each operator
// that takes mail on it (has INBOUND_SMTP_ACCEPT) and hidden from the rest.
var listenerSettings = []string{
	"INBOUND_SMTP_ADDR", "INBOUND_SMTP_HOSTNAME", "INBOUND_SMTP_TLS_CERT_FILE", "INBOUND_SMTP_TLS_KEY_FILE",
}

// Settings returns the environment names an operator's entry may set.
func Settings() []string { return slices.Clone(settings) }

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// Set is the operators of a deployment, in the order the file lists them.
type Set struct {
	ops []*Operator
}

// All returns the operators in the order of the file.
func (s *Set) All() []*Operator { return slices.Clone(s.ops) }

// Len is how many operators the deployment serves.
func (s *Set) Len() int { return len(s.ops) }

// BySlug finds an operator by its slug.
func (s *Set) BySlug(slug string) (*Operator, bool) {
	for _, op := range s.ops {
		if op.Slug == slug {
			return op, true
		}
	}
	return nil, false
}

// Resolve finds the operator a request arrived for: the one whose BASE_URL
// host is the request's and whose path prefix, the longest that fits, the
// path starts with. ok is false for an address no operator has (the caller
// answers 404).
func (s *Set) Resolve(host, path string) (op *Operator, ok bool) {
	host = strings.ToLower(host)
	for _, o := range s.ops {
		if o.Host != host || !underPrefix(path, o.PathPrefix) {
			continue
		}
		if op == nil || len(o.PathPrefix) > len(op.PathPrefix) {
			op = o
		}
	}
	return op, op != nil
}

func underPrefix(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// newOperator reads one operator's configuration from env.
func newOperator(slug string, env config.Env) (*Operator, error) {
	cfg, err := config.Load(env)
	if err != nil {
		return nil, err
	}
	cfg.Slug = slug
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		// config.Load has checked BASE_URL already.
		return nil, &config.Error{Var: "BASE_URL", Msg: err.Error()}
	}
	return &Operator{Slug: slug, Host: strings.ToLower(u.Host), PathPrefix: strings.TrimSuffix(u.Path, "/"), Config: cfg}, nil
}

// Single is the deployment of one operator, the environment's.
func Single(cfg config.Config) (*Set, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("BASE_URL: %w", err)
	}
	return &Set{ops: []*Operator{{Slug: DefaultSlug, Host: strings.ToLower(u.Host), PathPrefix: strings.TrimSuffix(u.Path, "/"), Config: cfg}}}, nil
}

// Load reads OPERATORS_FILE when env names one, else makes the environment
// the one operator "default". Every mistake in the file is one line of the
// error, naming the operator and the key.
func Load(env config.Env) (*Set, error) {
	// The deployment's own settings first: a mistake there is one line, not
	// one per operator.
	path, _ := env("OPERATORS_FILE")
	path = strings.TrimSpace(path)
	deployment := env
	if path != "" {
		// Every INBOUND_* setting is read with an operator's own (its
		// mailbox and addresses): checked there, once per operator.
		deployment = withoutInbound(env)
	}
	cfg, err := config.Load(deployment)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return Single(cfg)
	}
	entries, err := readFile(path)
	if err != nil {
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: err.Error()}
	}
	return build(entries, env)
}

// Problems are the mistakes of an operators file, one a line.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("OPERATORS_FILE: %d mistake(s):\n  %s", len(p), strings.Join(p, "\n  "))
}

// build checks every entry and reads its configuration over env.
func build(entries []entry, env config.Env) (*Set, error) {
	var problems Problems
	if len(entries) == 0 {
		problems = append(problems, "operators: the list is empty (remove OPERATORS_FILE to serve the environment's one operator)")
	}
	set := &Set{}
	slugs := map[string]int{}
	addresses := map[string]string{}
	var names []string // of set.ops, for the lines
	for i, e := range entries {
		name := fmt.Sprintf("operator %d", i+1)
		switch {
		case e.slug == "":
			problems = append(problems, name+": slug: missing")
		case !slugPattern.MatchString(e.slug):
			problems = append(problems, fmt.Sprintf("%s: slug: %q is not lower-case letters, digits and hyphens (at most 40, starting with a letter or digit)", name, e.slug))
		default:
			name = fmt.Sprintf("operator %q", e.slug)
			if first, dup := slugs[e.slug]; dup {
				problems = append(problems, fmt.Sprintf("%s: slug: already used by operator %d", name, first))
			}
			slugs[e.slug] = i + 1
		}
		for _, p := range e.problems {
			problems = append(problems, name+": "+p)
		}
		op, err := newOperator(e.slug, operatorEnv(e.values, env))
		if err != nil {
			for _, line := range errorLines(err) {
				problems = append(problems, name+": "+line)
			}
			continue
		}
		address := op.Host + op.PathPrefix
		if other, dup := addresses[address]; dup {
			problems = append(problems, fmt.Sprintf("%s: BASE_URL: %s is already %s's address", name, op.Config.BaseURL, other))
		}
		addresses[address] = name
		for i, earlier := range set.ops {
			if p := sharedMail(op.Config.Inbound, earlier.Config.Inbound); p != "" {
				problems = append(problems, name+": "+p+" "+names[i])
			}
		}
		names = append(names, name)
		set.ops = append(set.ops, op)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return set, nil
}

// operatorEnv is the environment an operator's configuration is read
// from: its entry's values over env, the deployment's listener hidden from
// an operator that takes no mail on it (no INBOUND_SMTP_ACCEPT of its own
// nor in the environment), so that the listener is not required to accept
// mail for every operator.
func operatorEnv(values map[string]string, env config.Env) config.Env {
	own := overlay(values, env)
	if v, ok := own("INBOUND_SMTP_ACCEPT"); ok && strings.TrimSpace(v) != "" {
		return own
	}
	return func(name string) (string, bool) {
		if slices.Contains(listenerSettings, name) {
			return "", false
		}
		return own(name)
	}
}

// withoutInbound is env without its INBOUND_* settings.
func withoutInbound(env config.Env) config.Env {
	return func(name string) (string, bool) {
		if strings.HasPrefix(name, "INBOUND_") {
			return "", false
		}
		return env(name)
	}
}

// overlay is env with values over it.
func overlay(values map[string]string, env config.Env) config.Env {
	return func(name string) (string, bool) {
		if v, ok := values[name]; ok {
			return v, true
		}
		return env(name)
	}
}

// errorLines splits a configuration error into its lines (config.Load
// joins several for some variables).
func errorLines(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var lines []string
		for _, e := range joined.Unwrap() {
			lines = append(lines, errorLines(e)...)
		}
		return lines
	}
	return strings.Split(err.Error(), "\n")
}
