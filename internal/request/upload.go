package request

import (
	"bytes"
	"crypto/sha256"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Upload is a file as a person sent it.
type Upload struct {
	Name    string
	Content []byte
}

// File is an accepted file, ready to store.
type File struct {
	ID          int64
	Purpose     string // proof, requester, response
	Name        string
	ContentType string
	Size        int64
	SHA256      []byte
	Content     []byte
}

// File purposes.
const (
	FileProof     = "proof"
	FileRequester = "requester"
	FileResponse  = "response"
)

// Limits on what a requester may upload.
const (
	MaxUploadSize  = 10 << 20
	MaxUploadFiles = 5
)

// The kinds of file a requester may send, recognised by their first bytes:
// a name or a browser's Content-Type proves nothing.
var signatures = []struct {
	contentType string
	magic       []byte
}{
	{"application/pdf", []byte("%PDF-")},
	{"image/jpeg", []byte{0xFF, 0xD8, 0xFF}},
	{"image/png", []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}},
}

// SniffContentType returns the content type of an acceptable upload, or "".
func SniffContentType(content []byte) string {
	for _, s := range signatures {
		if bytes.HasPrefix(content, s.magic) {
			return s.contentType
		}
	}
	return ""
}

// CheckUploads accepts up to MaxUploadFiles files of at most maxSize bytes
// each (MaxUploadSize when 0) whose content is PDF, JPEG or PNG. Problems
// are reported on field as message keys.
func CheckUploads(field, purpose string, uploads []Upload, maxSize int64, verr *ValidationError) []File {
	if maxSize <= 0 {
		maxSize = MaxUploadSize
	}
	if len(uploads) > MaxUploadFiles {
		verr.Add(field, "error.too_many_files", map[string]any{"Max": MaxUploadFiles})
		return nil
	}
	var files []File
	for _, u := range uploads {
		switch {
		case len(u.Content) == 0:
			verr.Add(field, "error.file_empty", map[string]any{"Name": SafeFileName(u.Name)})
			continue
		case int64(len(u.Content)) > maxSize:
			verr.Add(field, "error.file_too_large", map[string]any{"Name": SafeFileName(u.Name), "MaxMB": maxSize >> 20})
			continue
		}
		ct := SniffContentType(u.Content)
		if ct == "" {
			verr.Add(field, "error.file_type", map[string]any{"Name": SafeFileName(u.Name)})
			continue
		}
		sum := sha256.Sum256(u.Content)
		files = append(files, File{
			Purpose: purpose, Name: SafeFileName(u.Name), ContentType: ct,
			Size: int64(len(u.Content)), SHA256: sum[:], Content: u.Content,
		})
	}
	return files
}

// SafeFileName keeps the last element of a name, without control or format
// characters, path separators or leading dots, at most 120 characters:
// safe to show and to offer in Content-Disposition. It is idempotent.
func SafeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		// Format characters (Cf) include the bidi overrides that make
		// "report\u202egpj.exe" display as "reportexe.jpg".
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '/' || r == '"' || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, name)
	// Spaces and dots in any order: " . .x" must not keep a leading dot or
	// space, or a second pass would change the name again.
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	for utf8.RuneCountInString(name) > 120 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	name = strings.TrimRightFunc(name, unicode.IsSpace)
	if name == "" {
		return "file"
	}
	return name
}
