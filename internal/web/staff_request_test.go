package web

import (
	"bytes"
	"testing"
)

func TestResponseFilesAreRecognisedByTheirContent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"answer.pdf", []byte("%PDF-1.7\n1 0 obj <<>> endobj\n"), "application/pdf"},
		{"scan.jpg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, "image/jpeg"},
		{"scan.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image/png"},
		{"export.zip", append([]byte("PK\x03\x04\x14\x00\x00\x00"), bytes.Repeat([]byte{0}, 30)...), "application/zip"},
		{"empty.zip", append([]byte("PK\x05\x06"), bytes.Repeat([]byte{0}, 18)...), ""},
		{"data.json", []byte(`{"courses":[1,2]}`), "application/json"},
		{"data.txt", []byte(`[{"name":"Айгерим"}]`), "application/json"},
		{"data.csv", []byte("name;course\nАйгерим;Python\n"), "text/csv"},
		{"DATA.CSV", []byte("a,b\n1,2\n"), "text/csv"},
		{"notes.txt", []byte("just some text"), ""},
		{"broken.csv", []byte("a,b\n1,2,3\n"), ""},
		{"fake.pdf", []byte("MZ\x90\x00\x03\x00\x00\x00"), ""},
		{"page.html", []byte("<html><script>alert(1)</script></html>"), ""},
		{"latin1.csv", []byte("a,b\n\xe9,\xe8\n"), ""},
		{"empty", nil, ""},
	} {
		if got := sniffResponseFile(tc.name, tc.content); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
