package inbound

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// CleanText makes a letter's text safe to show and store: valid UTF-8 in
// NFC, LF line ends, no control characters but tab and newline, no format
// characters (the bidi overrides and isolates that make text display in
// another order than it reads, zero-width characters), no trailing spaces,
// at most two empty lines in a row, none at either end.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte('\n')
		case r == '\u00A0':
			b.WriteByte(' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	out := lines[:0]
	blank := 0
	for _, line := range lines {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			blank++
			if blank > 2 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, line)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// cleanLine makes a header value one safe line of at most max bytes.
func cleanLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, norm.NFC.String(s))
	s = strings.Join(strings.Fields(s), " ")
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// HTMLToText renders an HTML letter as plain text: the words a reader sees,
// paragraphs and line breaks kept, list items marked, a link's address
// after its words, tables a row a line; scripts, styles and the head
// dropped. The result is text, never markup.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	skip := 0 // depth inside script, style, head, title
	var links []string
	newline := func(n int) {
		s := b.String()
		have := len(s) - len(strings.TrimRight(s, "\n"))
		if len(s) == 0 {
			return
		}
		for ; have < n; have++ {
			b.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return CleanText(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := string(z.Text())
			// Whitespace in HTML is one space, except between blocks.
			text = strings.Join(strings.FieldsFunc(text, unicode.IsSpace), " ")
			if text == "" {
				if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, " ") {
					b.WriteByte(' ')
				}
				continue
			}
			if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, " ") &&
				unicode.IsSpace(rune(z.Raw()[0])) {
				b.WriteByte(' ')
			}
			b.WriteString(text)
			if raw := z.Raw(); len(raw) > 0 && unicode.IsSpace(rune(raw[len(raw)-1])) {
				b.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			end := tt == html.EndTagToken
			switch a {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if end && skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch a {
			case atom.Br:
				trimSpace(&b)
				b.WriteByte('\n')
			case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
				atom.Blockquote, atom.Pre, atom.Table, atom.Ul, atom.Ol, atom.Hr, atom.Section, atom.Article,
				atom.Header, atom.Footer:
				trimSpace(&b)
				if a == atom.Div || a == atom.Table {
					newline(1)
				} else {
					newline(2)
				}
			case atom.Tr:
				trimSpace(&b)
				newline(1)
			case atom.Td, atom.Th:
				if !end {
					if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
						trimSpace(&b)
						b.WriteString("\t")
					}
				}
			case atom.Li:
				if !end {
					trimSpace(&b)
					newline(1)
					b.WriteString("- ")
				}
			case atom.A:
				if !end && hasAttr {
					links = append(links, attr(z, "href"))
				} else if end && len(links) > 0 {
					href := links[len(links)-1]
					links = links[:len(links)-1]
					if u := strings.TrimSpace(href); (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) &&
						!strings.Contains(b.String()[max(0, b.Len()-len(u)-2):], u) {
						trimSpace(&b)
						b.WriteString(" <" + u + ">")
					}
				} else if !end {
					links = append(links, "")
				}
			case atom.Img:
				if alt := strings.TrimSpace(attr(z, "alt")); alt != "" {
					b.WriteString("[" + alt + "]")
				}
			}
		}
	}
}

func trimSpace(b *strings.Builder) {
	s := b.String()
	if t := strings.TrimRight(s, " \t"); len(t) != len(s) {
		b.Reset()
		b.WriteString(t)
	}
}

// attr returns the value of the named attribute of the tokenizer's current
// tag (call it right after TagName).
func attr(z *html.Tokenizer, name string) string {
	for {
		k, v, more := z.TagAttr()
		if string(k) == name {
			return string(v)
		}
		if !more {
			return ""
		}
	}
}
