package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	texttemplate "text/template"
	"time"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
)

// Composer renders emails from the embedded templates in the recipient's
// language. Templates are parsed once, at start.
type Composer struct {
	html    map[string]*htmltemplate.Template
	text    map[string]*texttemplate.Template
	catalog *i18n.Catalog
	loc     *time.Location
}

// NewComposer parses templates/email/<kind>.{html,txt} from fsys for every
// kind that has both.
func NewComposer(fsys fs.FS, catalog *i18n.Catalog, loc *time.Location) (*Composer, error) {
	c := &Composer{html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{}, catalog: catalog, loc: loc}
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
// Type (a request type, translated here), DueAt and ConfirmBy (shown as
// dates in the operator's time zone) and anything the template uses.
func (c *Composer) Compose(kind string, locale request.Locale, data map[string]any) (subject, text, html string, err error) {
	ht, ok := c.html[kind]
	tt := c.text[kind]
	if !ok || tt == nil {
		return "", "", "", fmt.Errorf("no email template %q", kind)
	}
	p := c.catalog.Printer(locale)
	d := make(map[string]any, len(data)+8)
	for k, v := range data {
		d[k] = v
	}
	d["L"] = p
	d["Lang"] = string(p.Locale())
	if t, ok := data["Type"].(string); ok {
		d["TypeName"] = p.T("type." + t + ".name")
	}
	if t, ok := data["DueAt"].(time.Time); ok {
		d["DueLocal"] = t.In(c.loc)
	}
	if t, ok := data["ConfirmBy"].(time.Time); ok {
		d["ConfirmByLocal"] = t.In(c.loc)
	}
	if t, ok := data["DownloadBy"].(time.Time); ok {
		d["DownloadByLocal"] = t.In(c.loc)
	}
	subject = p.T("email."+kind+".subject", "Reference", d["Reference"], "Type", d["TypeName"])
	d["Subject"] = subject

	var tb, hb bytes.Buffer
	if err := tt.Execute(&tb, d); err != nil {
		return "", "", "", fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := ht.ExecuteTemplate(&hb, "layout", d); err != nil {
		return "", "", "", fmt.Errorf("render %s html: %w", kind, err)
	}
	return subject, tidyText(tb.String()), hb.String(), nil
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
