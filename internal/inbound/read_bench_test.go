package inbound

import (
	"strings"
	"testing"
)

// BenchmarkReadKazakhLetter reads a typical person's letter end to end.
func BenchmarkReadKazakhLetter(b *testing.B) {
	raw := kazakhErasureLetter()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Read(raw, Envelope{}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadLargeHTMLLetter reads a letter whose HTML fills the text
// limit with small tags: rendering must stay linear in its size.
func BenchmarkReadLargeHTMLLetter(b *testing.B) {
	html := strings.Repeat("<td>Прошу удалить </td><br> ", MaxTextSize/40)
	raw := letter("From: a@b.kz\nSubject: x\nContent-Type: text/html; charset=utf-8", html)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Read(raw, Envelope{}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadLetterWithFiveScans reads a reply with five 2 MB PDFs.
func BenchmarkReadLetterWithFiveScans(b *testing.B) {
	var files [][2]string
	for i := 0; i < 5; i++ {
		files = append(files, [2]string{"scan.pdf", string(pdf(2 << 20))})
	}
	raw := multipartLetter(files...)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Read(raw, Envelope{}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
