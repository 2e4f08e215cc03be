package request

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

var zipHeader = append([]byte("PK\x03\x04\x14\x00\x00\x00"), bytes.Repeat([]byte{0}, 30)...)

func TestFilesAreRecognisedByTheirContentAndPurpose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		content   []byte
		response  string // as staff's response file
		requester string // as a requester's upload
	}{
		{"answer.pdf", []byte("%PDF-1.7\n1 0 obj <<>> endobj\n"), "application/pdf", "application/pdf"},
		{"scan.jpg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, "image/jpeg", "image/jpeg"},
		{"scan.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image/png", "image/png"},
		{"export.zip", zipHeader, "application/zip", ""},
		{"empty.zip", append([]byte("PK\x05\x06"), bytes.Repeat([]byte{0}, 18)...), "", ""},
		{"data.json", []byte(`{"courses":[1,2]}`), "application/json", ""},
		{"data.txt", []byte(`[{"name":"Айгерим"}]`), "application/json", ""},
		{"data.csv", []byte("name;course\nАйгерим;Python\n"), "text/csv", ""},
		{"DATA.CSV", []byte("a,b\n1,2\n"), "text/csv", ""},
		{"bom.csv", []byte("\uFEFFa,b\n1,2\n"), "text/csv", ""},
		{"notes.txt", []byte("just some text"), "", ""},
		{"broken.csv", []byte("a,b\n1,2,3\n"), "", ""},
		{"fake.pdf", []byte("MZ\x90\x00\x03\x00\x00\x00"), "", ""},
		{"page.html", []byte("<html><script>alert(1)</script></html>"), "", ""},
		{"page.csv", []byte("  <html><script>alert(1)</script></html>"), "", ""},
		{"page.csv", []byte("\uFEFF<p>a</p>"), "", ""},
		{"binary.csv", []byte("a,b\n1,\x00\n"), "", ""},
		{"latin1.csv", []byte("a,b\n\xe9,\xe8\n"), "", ""},
		{"empty", nil, "", ""},
	} {
		if got := SniffFile(FileResponse, tc.name, tc.content); got != tc.response {
			t.Errorf("%s as a response: %q, want %q", tc.name, got, tc.response)
		}
		for _, purpose := range []string{FileRequester, FileProof} {
			if got := SniffFile(purpose, tc.name, tc.content); got != tc.requester {
				t.Errorf("%s from a requester (%s): %q, want %q", tc.name, purpose, got, tc.requester)
			}
		}
		// What rightsdesk accepts, a browser takes for the same: a binary
		// kind as that kind, a text kind as plain text, never as a page.
		got := SniffFile(FileResponse, tc.name, tc.content)
		detected := http.DetectContentType(tc.content)
		switch got {
		case "":
		case "application/json", "text/csv":
			if !strings.HasPrefix(detected, "text/plain") {
				t.Errorf("%s is accepted as %s but a browser sees %s", tc.name, got, detected)
			}
		default:
			if detected != got {
				t.Errorf("%s is accepted as %s but a browser sees %s", tc.name, got, detected)
			}
		}
	}
}

func TestAResponseFileIsAcceptedWithinItsSize(t *testing.T) {
	f, err := ResponseFile(Upload{Name: "../../мои данные.json", Content: []byte(`{"a":1}`)})
	if err != nil || f.Purpose != FileResponse || f.Name != "мои данные.json" || f.ContentType != "application/json" ||
		f.Size != 7 || len(f.SHA256) != 32 {
		t.Errorf("accepted %+v, %v", f, err)
	}
	big := append([]byte("%PDF-1.4\n"), make([]byte, MaxResponseFile)...)
	if _, err := ResponseFile(Upload{Name: "big.pdf", Content: big}); !errors.Is(err, ErrResponseFileTooLarge) {
		t.Errorf("a file over %d MB: %v", MaxResponseFile>>20, err)
	}
	if _, err := ResponseFile(Upload{Name: "big.pdf", Content: big[:MaxResponseFile]}); err != nil {
		t.Errorf("a file of exactly %d MB: %v", MaxResponseFile>>20, err)
	}
	if _, err := ResponseFile(Upload{Name: "a.txt", Content: []byte("text")}); !errors.Is(err, ErrResponseFileType) {
		t.Errorf("a text file: %v", err)
	}
}
