package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
)

// Composer renders emails from the embedded templates in the recipient's
// language. Templates are parsed once, at start.
//
// The two emails of every submission (see memoKinds) are also remembered
// once rendered: executing the templates, whose translations go through
// reflective calls, cost a fifth of the portal's CPU under intake load,
// while their text only changes with the type, the dates and the flags.
type Composer struct {
	html    map[string]*htmltemplate.Template
	text    map[string]*texttemplate.Template
	catalog *i18n.Catalog
	loc     *time.Location

	memoMu sync.Mutex
	memo   map[string]composed

	// repliesRead says replies to the requester's emails reach the
	// request (ReadReplies): their footer says so.
	repliesRead bool
}

// ReadReplies makes the footer of the emails to requesters say that a
// reply reaches their request, instead of that replies are not read. Call
// it while wiring, before the first Compose.
func (c *Composer) ReadReplies(on bool) { c.repliesRead = on }

// memoKinds are the kinds Compose remembers: the emails of every submission.
// Their data is the organisation, the reference, the type, the dates, the
// flags and links holding no secret, never free text from a person, so the
// memo holds no personal data beyond references.
var memoKinds = map[string]bool{"acknowledgement": true, "staff_new": true}

// memoLimit bounds the memo; a day's submissions need a few dozen entries
// (kinds x languages x types x flags x due dates), so a full memo is simply
// started afresh.
const memoLimit = 256

// referenceSlot stands for the reference in a remembered email. It is
// letters and digits only, so every escaper leaves it as it is, as it leaves
// a reference (see slotReference).
const referenceSlot = "RDREFSLOTX7Q9Z4K"

type composed struct{ subject, text, html string }

// NewComposer parses templates/email/<kind>.{html,txt} from fsys for every
// kind that has both.
func NewComposer(fsys fs.FS, catalog *i18n.Catalog, loc *time.Location) (*Composer, error) {
	c := &Composer{
		html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{},
		catalog: catalog, loc: loc, memo: map[string]composed{},
	}
	layout, err := htmltemplate.ParseFS(fsys, "templates/email/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse email layout: %w", err)
	}
	names, err := fs.Glob(fsys, "templates/email/*.txt")
	if err != nil {
		return nil, fmt.Errorf("list email templates: %w", err)
	}
	for _, name := range names {
		kind := strings.TrimSuffix(path.Base(name), ".txt")
		t, err := texttemplate.ParseFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		c.text[kind] = t
		h, err := htmltemplate.Must(layout.Clone()).ParseFS(fsys, "templates/email/"+kind+".html")
		if err != nil {
			return nil, fmt.Errorf("parse %s.html: %w", kind, err)
		}
		c.html[kind] = h
	}
	return c, nil
}

// Kinds lists the email kinds the composer knows.
func (c *Composer) Kinds() []string {
	out := make([]string, 0, len(c.text))
	for k := range c.text {
		out = append(out, k)
	}
	return out
}

// Compose renders the subject and both bodies of an email. data may hold
// Type (a request type, translated here), DueAt, ConfirmBy and DownloadBy
// (written as deadline phrases DueByText, ConfirmByText and DownloadByText in
// the operator's time zone) and anything the template uses.
func (c *Composer) Compose(kind string, locale request.Locale, data map[string]any) (subject, text, html string, err error) {
	if _, ok := c.html[kind]; !ok || c.text[kind] == nil {
		return "", "", "", fmt.Errorf("no email template %q", kind)
	}
	p := c.catalog.Printer(locale)
	if key, ref, ok := c.memoKey(kind, p.Locale(), data); ok {
		c.memoMu.Lock()
		m, hit := c.memo[key]
		c.memoMu.Unlock()
		if !hit {
			m, err = c.render(kind, p, slotReference(data, ref), true)
			if err != nil {
				return "", "", "", err
			}
			c.memoMu.Lock()
			if len(c.memo) >= memoLimit {
				clear(c.memo)
			}
			c.memo[key] = m
			c.memoMu.Unlock()
		}
		return strings.ReplaceAll(m.subject, referenceSlot, ref), strings.ReplaceAll(m.text, referenceSlot, ref),
			strings.ReplaceAll(m.html, referenceSlot, ref), nil
	}
	m, err := c.render(kind, p, data, false)
	return m.subject, m.text, m.html, err
}

// render executes the templates. scalarOnly leaves out the time values once
// they are written as phrases: a remembered email may depend on nothing the
// memo key does not hold.
func (c *Composer) render(kind string, p *i18n.Printer, data map[string]any, scalarOnly bool) (composed, error) {
	d := make(map[string]any, len(data)+10)
	for k, v := range data {
		if _, isTime := v.(time.Time); isTime && scalarOnly {
			continue
		}
		d[k] = v
	}
	d["L"] = p
	d["Lang"] = string(p.Locale())
	d["Footer"] = p.T("email.footer")
	if c.repliesRead && request.ToRequester(kind) {
		d["Footer"] = p.T("email.footer_replies")
	}
	if t, ok := data["Type"].(string); ok {
		d["TypeName"] = p.T("type." + t + ".name")
	}
	if lines, ok := data["Items"].([]DigestLine); ok {
		d["Items"] = wordDigest(p, lines)
	}
	for name, phrase := range map[string]string{"DueAt": "DueByText", "ConfirmBy": "ConfirmByText", "DownloadBy": "DownloadByText"} {
		if t, ok := data[name].(time.Time); ok {
			local := t.In(c.loc)
			d[phrase] = p.DateBy(local)
			if !scalarOnly {
				d[strings.TrimSuffix(name, "At")+"Local"] = local // DueLocal, ConfirmByLocal, DownloadByLocal
			}
		}
	}
	subject := p.T("email."+kind+".subject", "Reference", d["Reference"], "Type", d["TypeName"])
	d["Subject"] = subject

	var tb, hb bytes.Buffer
	if err := c.text[kind].Execute(&tb, d); err != nil {
		return composed{}, fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := c.html[kind].ExecuteTemplate(&hb, "layout", d); err != nil {
		return composed{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	return composed{subject: subject, text: tidyText(tb.String()), html: hb.String()}, nil
}

// memoKey says whether an email can come from the memo and under which key:
// only for memoKinds, when every value is a string, a bool, an int or a time
// (by the date its phrase shows) and the reference can stand in a slot.
func (c *Composer) memoKey(kind string, locale request.Locale, data map[string]any) (key, ref string, ok bool) {
	if !memoKinds[kind] {
		return "", "", false
	}
	ref, _ = data["Reference"].(string)
	if !slotSafe(ref) {
		return "", "", false
	}
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(string(locale))
	for _, k := range names {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		switch v := data[k].(type) {
		case string:
			if strings.Contains(v, referenceSlot) {
				return "", "", false
			}
			b.WriteString(strings.ReplaceAll(v, ref, referenceSlot))
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case int:
			b.WriteString(strconv.Itoa(v))
		case time.Time:
			// Templates see times only as deadline phrases (render).
			b.WriteString(v.In(c.loc).Format(time.DateOnly))
		default:
			return "", "", false
		}
	}
	return b.String(), ref, true
}

// slotSafe reports whether a reference is made only of characters that
// html/template leaves unchanged in text, attributes and URLs (references are
// upper-case Crockford base32 with dashes), so putting it in place of the
// slot gives the same bytes as rendering it.
func slotSafe(ref string) bool {
	if len(ref) < 4 {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if c := ref[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// slotReference replaces the reference, wherever it appears in a string
// value (the staff link holds it too), with the slot.
func slotReference(data map[string]any, ref string) map[string]any {
	out := make(map[string]any, len(data))
	for k, v := range data {
		if s, ok := v.(string); ok {
			v = strings.ReplaceAll(s, ref, referenceSlot)
		}
		out[k] = v
	}
	return out
}

// tidyText collapses the blank lines that template conditionals leave.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}
