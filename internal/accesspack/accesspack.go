// Package accesspack builds the access package: a ZIP file with everything
// the operator's systems hold about one person — a page to read in the
// requester's language (what is held, in which category, for what purpose,
// kept how long), data.json with every row (the machine-readable copy
// portability asks for) and one CSV file per collection — and a Summary
// for staff to review before it is sent.
//
// Rows are streamed from the source into the archive as they are read:
// memory holds one row (and a few rows of preview) at a time, whatever the
// number of rows. The source is read twice, once for the CSV files and once
// for data.json; a connector.Reading serves both passes from one snapshot.
package accesspack

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"strconv"
	"time"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/spreadsheet"
)

// Source streams a person's rows of a collection, the same rows on every
// call (connector.Reading is one).
type Source interface {
	Rows(ctx context.Context, c *datamap.Collection, fn func(connector.Row) error) (int64, error)
}

// Builder writes access packages. Make one with New and share it.
type Builder struct {
	page *template.Template
}

// New parses the page template (templates/accesspack/index.html) from
// files, web.Files in production.
func New(files fs.FS) (*Builder, error) {
	t, err := template.ParseFS(files, "templates/accesspack/index.html")
	if err != nil {
		return nil, fmt.Errorf("accesspack: %w", err)
	}
	return &Builder{page: t}, nil
}

// Input is what one package is built from.
type Input struct {
	Map    *datamap.Map
	Source Source
	// Printer is the requester's language.
	Printer *i18n.Printer
	// Org is the operator's name (ORG_NAME).
	Org string
	// Now is when the package is built, shown in Location.
	Now      time.Time
	Location *time.Location
}

// PreviewRows is how many rows of each collection the summary and the page
// show.
const PreviewRows = 3

// Summary is what staff review before sending a package.
type Summary struct {
	Systems []SystemSummary `json:"systems"`
	// Rows is the total over every collection.
	Rows int64 `json:"rows"`
}

// SystemSummary is one system's part of a package.
type SystemSummary struct {
	Name        string              `json:"name"`
	Collections []CollectionSummary `json:"collections"`
}

// CollectionSummary is one collection's part of a package.
type CollectionSummary struct {
	Name   string   `json:"name"`
	Rows   int64    `json:"rows"`
	File   string   `json:"file"`
	Fields []string `json:"fields"`
	// Preview is the first rows, as text.
	Preview [][]string `json:"preview"`
}

// CSVPath is where a collection's rows are in the archive.
func CSVPath(c *datamap.Collection) string {
	return "csv/" + c.System.Name + "/" + c.Name + ".csv"
}

// Write builds the package for the source's person into w and returns its
// summary. On error, what was written to w is no usable archive.
func (b *Builder) Write(ctx context.Context, w io.Writer, in Input) (Summary, error) {
	if in.Printer == nil {
		return Summary{}, ErrNoPrinter
	}
	if in.Location == nil {
		in.Location = time.UTC
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	// The fastest deflate: the package is built while staff wait, and rows
	// of a table repeat enough to compress well at any level.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	sum := Summary{Systems: []SystemSummary{}}
	counts := map[*datamap.Collection]int64{}

	// Pass 1: one CSV per collection, with the counts and the preview.
	for _, s := range in.Map.Systems {
		if !s.Kind.SQL() {
			continue
		}
		ss := SystemSummary{Name: s.Name, Collections: []CollectionSummary{}}
		for _, c := range s.Collections {
			cs, err := writeCSV(ctx, zw, in, c)
			if err != nil {
				return Summary{}, err
			}
			counts[c] = cs.Rows
			sum.Rows += cs.Rows
			ss.Collections = append(ss.Collections, cs)
		}
		sum.Systems = append(sum.Systems, ss)
	}
	// Pass 2: data.json, every row of every collection.
	if err := writeJSON(ctx, zw, in, counts); err != nil {
		return Summary{}, err
	}
	// The page, from the map and the counts.
	if err := b.writePage(zw, in, sum); err != nil {
		return Summary{}, err
	}
	if err := zw.Close(); err != nil {
		return Summary{}, fmt.Errorf("accesspack: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, fmt.Errorf("accesspack: %w", err)
	}
	return sum, nil
}

func writeCSV(ctx context.Context, zw *zip.Writer, in Input, c *datamap.Collection) (CollectionSummary, error) {
	cs := CollectionSummary{Name: c.Name, File: CSVPath(c), Fields: make([]string, len(c.Fields)), Preview: [][]string{}}
	for i, f := range c.Fields {
		cs.Fields[i] = f.Name
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: cs.File, Method: zip.Deflate, Modified: in.Now})
	if err != nil {
		return cs, fmt.Errorf("accesspack: %w", err)
	}
	// A byte-order mark: without it Excel reads UTF-8 as the local code page.
	if _, err := io.WriteString(f, "\uFEFF"); err != nil {
		return cs, fmt.Errorf("accesspack: %w", err)
	}
	cw := csv.NewWriter(f)
	cw.UseCRLF = true
	header := make([]string, len(c.Fields))
	for i, fl := range c.Fields {
		header[i] = spreadsheet.Cell(fieldLabel(in.Printer, fl))
	}
	if err := cw.Write(header); err != nil {
		return cs, fmt.Errorf("accesspack: %w", err)
	}
	record := make([]string, len(c.Fields))
	n, err := in.Source.Rows(ctx, c, func(row connector.Row) error {
		if len(cs.Preview) < PreviewRows {
			shown := make([]string, len(row))
			for i, v := range row {
				shown[i] = text(v)
			}
			cs.Preview = append(cs.Preview, shown)
		}
		for i, v := range row {
			record[i] = spreadsheet.Cell(text(v))
		}
		return cw.Write(record)
	})
	if err != nil {
		return cs, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return cs, fmt.Errorf("accesspack: %w", err)
	}
	cs.Rows = n
	return cs, nil
}

// text is a value as a CSV cell and a preview shows it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// writeJSON streams data.json:
//
//	{"generated_at": "…", "systems": [{"name": "lms", "collections":
//	  [{"name": "students", "fields": [{"name","category","purpose"}…],
//	    "rows": [{"email": …}, …]}]}]}
func writeJSON(ctx context.Context, zw *zip.Writer, in Input, counts map[*datamap.Collection]int64) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "data.json", Method: zip.Deflate, Modified: in.Now})
	if err != nil {
		return fmt.Errorf("accesspack: %w", err)
	}
	jw := &jsonWriter{w: f}
	jw.raw(`{"generated_at":`)
	jw.value(in.Now.In(in.Location).Format(time.RFC3339))
	jw.raw(`,"systems":[`)
	firstSys := true
	for _, s := range in.Map.Systems {
		if !s.Kind.SQL() {
			continue
		}
		if !firstSys {
			jw.raw(",")
		}
		firstSys = false
		jw.raw(`{"name":`)
		jw.value(s.Name)
		jw.raw(`,"collections":[`)
		for ci, c := range s.Collections {
			if ci > 0 {
				jw.raw(",")
			}
			type field struct {
				Name     string `json:"name"`
				Category string `json:"category"`
				Purpose  string `json:"purpose"`
			}
			fields := make([]field, len(c.Fields))
			for i, fl := range c.Fields {
				fields[i] = field{fl.Name, string(fl.Category), fl.Purpose}
			}
			jw.raw(`{"name":`)
			jw.value(c.Name)
			jw.raw(`,"fields":`)
			jw.value(fields)
			jw.raw(`,"rows":[`)
			keys := make([][]byte, len(c.Fields))
			for i, fl := range c.Fields {
				keys[i], _ = json.Marshal(fl.Name) // a string always marshals
			}
			var n int64
			var buf []byte
			_, err := in.Source.Rows(ctx, c, func(row connector.Row) error {
				buf = buf[:0]
				if n > 0 {
					buf = append(buf, ',')
				}
				n++
				buf = append(buf, '{')
				for i, v := range row {
					if i > 0 {
						buf = append(buf, ',')
					}
					buf = append(buf, keys[i]...)
					buf = append(buf, ':')
					var err error
					if buf, err = appendJSON(buf, v); err != nil {
						return err
					}
				}
				buf = append(buf, '}')
				jw.bytes(buf)
				return jw.err
			})
			if err != nil {
				return err
			}
			if n != counts[c] {
				// Both passes read one snapshot: a difference is a bug to
				// stop on, never a package to send.
				return fmt.Errorf("accesspack: %s gave %d rows for the CSV and %d for the JSON", c, counts[c], n)
			}
			jw.raw("]}")
		}
		jw.raw("]}")
	}
	jw.raw("]}\n")
	if jw.err != nil {
		return fmt.Errorf("accesspack: %w", jw.err)
	}
	return nil
}

// jsonWriter writes a JSON document piece by piece, keeping the first error.
type jsonWriter struct {
	w   io.Writer
	err error
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = io.WriteString(j.w, s)
	}
}

func (j *jsonWriter) bytes(b []byte) {
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

// appendJSON appends a row's value (connector.Row's types) as JSON, the
// common types without reflection: a package has many rows.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

func (j *jsonWriter) value(v any) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = err
		return
	}
	_, j.err = j.w.Write(b)
}

func fieldLabel(p *i18n.Printer, f *datamap.Field) string {
	if l := f.Label.In(string(p.Locale())); l != "" {
		return l
	}
	return f.Name
}

// Period writes a period in the requester's language: "5 лет", "5 жыл".
func Period(p *i18n.Printer, d datamap.Period) string {
	key := map[string]string{"y": "datamap.period.years", "m": "datamap.period.months", "d": "datamap.period.days"}[d.Unit]
	return p.N(key, d.N)
}

type pageField struct{ Label, Purpose, Kept string }

type pageCategory struct {
	Label  string
	Fields []pageField
}

type pageSection struct {
	Title, Rows, File string
	Header            []string
	Preview           [][]string
}

func (b *Builder) writePage(zw *zip.Writer, in Input, sum Summary) error {
	p := in.Printer
	lang := string(p.Locale())
	byCategory := map[datamap.Category][]pageField{}
	rows := map[string]int64{}
	previews := map[string]CollectionSummary{}
	for _, ss := range sum.Systems {
		for _, cs := range ss.Collections {
			rows[ss.Name+"."+cs.Name] = cs.Rows
			previews[ss.Name+"."+cs.Name] = cs
		}
	}
	var sections []pageSection
	for _, c := range in.Map.Collections {
		n := rows[c.String()]
		cs := previews[c.String()]
		title := c.Label.In(lang)
		if title == "" {
			title = c.Name
		}
		sec := pageSection{Title: title, Rows: p.N("accesspack.rows", int(n)), File: p.T("accesspack.sections.file", "File", cs.File), Preview: cs.Preview}
		for _, f := range c.Fields {
			sec.Header = append(sec.Header, fieldLabel(p, f))
		}
		sections = append(sections, sec)
		if n == 0 {
			continue // what is held about this person, not what could be
		}
		for _, f := range c.Fields {
			kept := p.T("accesspack.kept.until_erasure")
			switch {
			case f.Erase == datamap.EraseKeep:
				kept = p.T("accesspack.kept.exempt", "Period", Period(p, f.KeepFor), "Reason", in.Map.Reasons[f.Reason].In(lang))
			case c.Retention != nil:
				kept = p.T("accesspack.kept.retention", "Period", Period(p, *c.Retention))
			}
			byCategory[f.Category] = append(byCategory[f.Category], pageField{
				Label: fieldLabel(p, f), Purpose: in.Map.Purposes[f.Purpose].In(lang), Kept: kept,
			})
		}
	}
	var cats []pageCategory
	for _, c := range datamap.Categories() {
		if fs := byCategory[c]; len(fs) > 0 {
			cats = append(cats, pageCategory{Label: p.T(c.LabelKey()), Fields: fs})
		}
	}
	data := map[string]any{
		"Lang":          lang,
		"Title":         p.T("accesspack.title", "Org", in.Org),
		"Generated":     p.T("accesspack.generated", "Date", p.Date(in.Now.In(in.Location))),
		"Intro":         p.T("accesspack.intro", "Org", in.Org),
		"Nothing":       p.T("accesspack.nothing", "Org", in.Org),
		"Categories":    cats,
		"HeldTitle":     p.T("accesspack.held.title"),
		"HeldField":     p.T("accesspack.held.field"),
		"HeldPurpose":   p.T("accesspack.held.purpose"),
		"HeldKept":      p.T("accesspack.held.kept"),
		"FilesTitle":    p.T("accesspack.files.title"),
		"FilesJSON":     p.T("accesspack.files.json"),
		"FilesCSV":      p.T("accesspack.files.csv"),
		"Sections":      sections,
		"SectionsTitle": p.T("accesspack.sections.title"),
		"PreviewTitle":  p.T("accesspack.sections.preview"),
		"SectionNone":   p.T("accesspack.sections.none"),
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "index.html", Method: zip.Deflate, Modified: in.Now})
	if err != nil {
		return fmt.Errorf("accesspack: %w", err)
	}
	if err := b.page.Execute(f, data); err != nil {
		return fmt.Errorf("accesspack: page: %w", err)
	}
	return nil
}

// ErrNoPrinter is returned when Input has no Printer.
var ErrNoPrinter = errors.New("accesspack: Input.Printer is required")
