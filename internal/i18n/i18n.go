// Package i18n holds the translation catalogs (Russian, Kazakh, English) and
// chooses the language of each visitor.
package i18n

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	goi18ntemplate "github.com/nicksnyder/go-i18n/v2/i18n/template"
	"golang.org/x/text/language"

	"rightsdesk/internal/request"
)

// Catalog is every message in every supported language, loaded once.
type Catalog struct {
	bundle   *goi18n.Bundle
	printers map[request.Locale]*Printer
	keys     map[request.Locale]map[string]bool
	matcher  language.Matcher
}

// ForRuleSet returns the catalog as a deployment under a rule set ("kz",
// "gdpr", ...) reads it: a message "<key>.<set>", where the catalogs have
// one, stands in for "<key>" — the law's own terms for the request types,
// its wording of a right. Other rule sets read the plain messages.
func (c *Catalog) ForRuleSet(set string) *Catalog {
	out := *c
	out.printers = make(map[request.Locale]*Printer, len(c.printers))
	for l, p := range c.printers {
		v := *p
		v.variant, v.keys = set, c.keys[l]
		out.printers[l] = &v
	}
	return &out
}

// Load reads every <locale>/*.toml for each supported locale from fsys.
func Load(fsys fs.FS) (*Catalog, error) {
	bundle := goi18n.NewBundle(language.Russian)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{bundle: bundle, printers: map[request.Locale]*Printer{}, keys: map[request.Locale]map[string]bool{}}
	var tags []language.Tag
	for _, l := range request.Locales() {
		names, err := fs.Glob(fsys, string(l)+"/*.toml")
		if err != nil || len(names) == 0 {
			return nil, fmt.Errorf("no catalog for %s", l)
		}
		keys := map[string]bool{}
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("read catalog %s: %w", name, err)
			}
			// go-i18n takes the language from the file name's last part.
			mf, err := bundle.ParseMessageFileBytes(b, strings.TrimSuffix(path.Base(name), ".toml")+"."+string(l)+".toml")
			if err != nil {
				return nil, fmt.Errorf("parse catalog %s: %w", name, err)
			}
			for _, m := range mf.Messages {
				if keys[m.ID] {
					return nil, fmt.Errorf("catalog %s: %q is defined twice", name, m.ID)
				}
				keys[m.ID] = true
			}
		}
		c.keys[l] = keys
		c.printers[l] = &Printer{locale: l, localizer: goi18n.NewLocalizer(bundle, string(l))}
		tags = append(tags, language.MustParse(string(l)))
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Printer returns the printer for a locale (Russian for an unknown one).
func (c *Catalog) Printer(l request.Locale) *Printer {
	if p, ok := c.printers[l]; ok {
		return p
	}
	return c.printers[request.Russian]
}

// Negotiate picks the best supported locale for an Accept-Language header,
// Russian when nothing matches.
func (c *Catalog) Negotiate(acceptLanguage string) request.Locale {
	return c.NegotiateOr(acceptLanguage, request.Russian)
}

// NegotiateOr is Negotiate with fallback for a header that asks for none of
// the catalog's languages (or no header); an invalid fallback is Russian.
func (c *Catalog) NegotiateOr(acceptLanguage string, fallback request.Locale) request.Locale {
	if !fallback.Valid() {
		fallback = request.Russian
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return fallback
	}
	_, idx, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return fallback
	}
	return request.Locales()[idx]
}

// Keys lists the message ids of a locale, sorted (for catalog tests).
func (c *Catalog) Keys(l request.Locale) []string {
	out := make([]string, 0, len(c.keys[l]))
	for k := range c.keys[l] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Printer translates into one language.
type Printer struct {
	locale    request.Locale
	localizer *goi18n.Localizer
	// variant is the rule set whose "<key>.<variant>" messages stand in
	// for "<key>"; keys are the locale's message ids.
	variant string
	keys    map[string]bool
}

// Locale is the printer's language code.
func (p *Printer) Locale() request.Locale { return p.locale }

// Missing marks a message that is not in the catalog; tests look for it.
const Missing = "⟦missing:"

// T translates key; pairs are template data as name, value, name, value...
func (p *Printer) T(key string, pairs ...any) string {
	s, _ := p.localize(key, nil, pairs)
	return s
}

// Lookup translates key like T, and says whether the catalog has it: for
// text that has a translation only sometimes, with a fallback otherwise.
func (p *Printer) Lookup(key string, pairs ...any) (string, bool) {
	return p.localize(key, nil, pairs)
}

// Or translates key when the catalog has it, and otherwise returns
// fallback as it is (a legal reference the catalogs do not word).
func (p *Printer) Or(key, fallback string) string {
	if s, ok := p.localize(key, nil, nil); ok {
		return s
	}
	return fallback
}

// N translates key with plural forms chosen by count (available as .Count).
func (p *Printer) N(key string, count int, pairs ...any) string {
	s, _ := p.localize(key, count, append(pairs, "Count", count))
	return s
}

// localize translates key; false, with the Missing marker, when the catalog
// has no such message.
func (p *Printer) localize(key string, count any, pairs []any) (string, bool) {
	var data map[string]any
	if len(pairs) > 0 {
		data = make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			name, _ := pairs[i].(string)
			data[name] = pairs[i+1]
		}
	}
	if p.variant != "" && p.keys[key+"."+p.variant] {
		key += "." + p.variant
	}
	s, err := p.localizer.Localize(&goi18n.LocalizeConfig{MessageID: key, TemplateData: data, PluralCount: count, TemplateParser: messageParser})
	if err != nil || s == "" {
		return Missing + key + "⟧", false
	}
	return s, true
}

// messageParser parses the catalogs' messages with numberCases, once per
// message. go-i18n parses a message again on every use when it is given
// functions (LocalizeConfig.Funcs), since it cannot know they stay the same;
// these do, so the parsed message is kept. A digest of a thousand requests
// used to parse three messages per line, twice (issue 16's reminder sweep).
var messageParser goi18ntemplate.Parser = cachedParser{&goi18ntemplate.TextParser{Funcs: numberCases}}

// cachedParser is a TextParser whose parses go-i18n may keep.
type cachedParser struct{ *goi18ntemplate.TextParser }

// Cacheable implements goi18ntemplate.Parser: the functions never change.
func (cachedParser) Cacheable() bool { return true }

// Params translates a message whose parameters come as a map (field errors).
func (p *Printer) Params(key string, params map[string]any) string {
	pairs := make([]any, 0, 2*len(params))
	for k, v := range params {
		pairs = append(pairs, k, v)
	}
	return p.T(key, pairs...)
}

// Date writes a calendar date the way the language writes it: "22 декабря
// 2026 г.", "2026 жылғы 22 желтоқсан", "22 December 2026".
func (p *Printer) Date(t time.Time) string {
	month := p.T(fmt.Sprintf("date.month.%d", int(t.Month())))
	return strings.TrimSpace(p.T("date.format", "Day", t.Day(), "Month", month, "Year", t.Year()))
}

// DateBy writes a deadline phrase: "не позднее 22 декабря 2026 года",
// "2026 жылғы 22 желтоқсанға дейін", "by 22 December 2026". Kazakh needs the
// month in the dative here, so it is a phrase of its own, not a date.
func (p *Printer) DateBy(t time.Time) string {
	month := p.T(fmt.Sprintf("date.month_to.%d", int(t.Month())))
	return strings.TrimSpace(p.T("date.by", "Day", t.Day(), "Month", month, "Year", t.Year()))
}

// DateTime writes a date and a 24-hour time.
func (p *Printer) DateTime(t time.Time) string {
	return p.T("date.datetime", "Date", p.Date(t), "Time", t.Format("15:04"))
}
