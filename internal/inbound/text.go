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
// dropped. The result is text, never markup. It runs in time linear in
// the input.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var out textBuffer
	skip := 0 // depth inside script, style, head, title
	var links []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return CleanText(string(out.b))
		case html.TextToken:
			if skip > 0 {
				continue
			}
			raw := z.Raw()
			// Whitespace in HTML is one space, except between blocks.
			text := strings.Join(strings.FieldsFunc(string(z.Text()), unicode.IsSpace), " ")
			if text == "" {
				out.space()
				continue
			}
			if len(raw) > 0 && unicode.IsSpace(rune(raw[0])) {
				out.space()
			}
			out.b = append(out.b, text...)
			if len(raw) > 0 && unicode.IsSpace(rune(raw[len(raw)-1])) {
				out.space()
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
				out.trimSpace()
				out.b = append(out.b, '\n')
			case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
				atom.Blockquote, atom.Pre, atom.Ul, atom.Ol, atom.Hr, atom.Section, atom.Article,
				atom.Header, atom.Footer:
				out.newlines(2)
			case atom.Div, atom.Table, atom.Tr:
				out.newlines(1)
			case atom.Td, atom.Th:
				if !end && len(out.b) > 0 && out.b[len(out.b)-1] != '\n' {
					out.trimSpace()
					out.b = append(out.b, '\t')
				}
			case atom.Li:
				if !end {
					out.newlines(1)
					out.b = append(out.b, "- "...)
				}
			case atom.A:
				switch {
				case !end:
					href := ""
					if hasAttr {
						href = strings.TrimSpace(attr(z, "href"))
					}
					links = append(links, href)
				case len(links) > 0:
					href := links[len(links)-1]
					links = links[:len(links)-1]
					// A link whose words are its address is written once.
					tail := out.b[max(0, len(out.b)-len(href)-2):]
					if (strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://")) && !strings.Contains(string(tail), href) {
						out.trimSpace()
						out.b = append(out.b, " <"+href+">"...)
					}
				}
			case atom.Img:
				if alt := strings.TrimSpace(attr(z, "alt")); alt != "" {
					out.b = append(out.b, "["+alt+"]"...)
				}
			}
		}
	}
}

// textBuffer is the text HTMLToText writes, edited only at its end.
type textBuffer struct{ b []byte }

// space writes one space, unless the text is empty or ends in whitespace.
func (t *textBuffer) space() {
	if n := len(t.b); n > 0 && t.b[n-1] != ' ' && t.b[n-1] != '\n' && t.b[n-1] != '\t' {
		t.b = append(t.b, ' ')
	}
}

func (t *textBuffer) trimSpace() {
	for n := len(t.b); n > 0 && (t.b[n-1] == ' ' || t.b[n-1] == '\t'); n-- {
		t.b = t.b[:n-1]
	}
}

// newlines ends the text with at least n line breaks (none at the start).
func (t *textBuffer) newlines(n int) {
	t.trimSpace()
	if len(t.b) == 0 {
		return
	}
	have := 0
	for i := len(t.b) - 1; i >= 0 && t.b[i] == '\n' && have < n; i-- {
		have++
	}
	for ; have < n; have++ {
		t.b = append(t.b, '\n')
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
