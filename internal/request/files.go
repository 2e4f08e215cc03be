package request

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
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

// Limits on the files people send: a requester's (proof of authority,
// replies, letters' attachments) and staff's response files.
const (
	MaxUploadSize   = 10 << 20
	MaxUploadFiles  = 5
	MaxResponseFile = 25 << 20
)

// fileKinds are every kind of file rightsdesk accepts, recognised by their
// content: a name or a browser's Content-Type proves nothing. A binary
// kind is known by its first bytes; a text kind is plain text (textual)
// that parses as what it claims to be. Requesters send documents and
// scans; staff send those and the machine-readable formats an access or
// portability answer needs.
var fileKinds = []struct {
	contentType string
	magic       string                           // binary kinds
	parses      func(name string, b []byte) bool // text kinds
	requester   bool                             // a requester may send it (staff may send every kind)
}{
	{contentType: "application/pdf", magic: "%PDF-", requester: true},
	{contentType: "image/jpeg", magic: "\xFF\xD8\xFF", requester: true},
	{contentType: "image/png", magic: "\x89PNG\r\n\x1A\n", requester: true},
	{contentType: "application/zip", magic: "PK\x03\x04"}, // a local file header: an archive with something in it
	{contentType: "application/json", parses: func(_ string, b []byte) bool { return json.Valid(b) }},
	{contentType: "text/csv", parses: func(name string, b []byte) bool {
		if !strings.EqualFold(path.Ext(name), ".csv") {
			return false
		}
		_, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		return err == nil
	}},
}

// SniffFile returns the content type of a file of purpose (FileProof,
// FileRequester or FileResponse) named name, from its content, or "" when
// it is not a kind that purpose accepts.
func SniffFile(purpose, name string, content []byte) string {
	for _, k := range fileKinds {
		if !k.requester && purpose != FileResponse {
			continue
		}
		switch {
		case k.magic != "" && bytes.HasPrefix(content, []byte(k.magic)):
			return k.contentType
		case k.parses != nil && textual(content) && k.parses(name, content):
			return k.contentType
		}
	}
	return ""
}

// textual reports content a browser takes for plain text and nothing
// else: valid UTF-8 without the bytes the MIME Sniffing standard calls
// binary data (control characters other than tab, line feed, form feed,
// carriage return and escape), and not markup: its first character that is
// not a space is no "<", so it never renders as a page.
func textual(content []byte) bool {
	if !utf8.Valid(content) {
		return false
	}
	for _, c := range content {
		if c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F) {
			return false
		}
	}
	start := bytes.TrimLeft(bytes.TrimPrefix(content, []byte("\uFEFF")), " \t\n\f\r")
	return !bytes.HasPrefix(start, []byte("<"))
}

// ResponseFile accepts a file staff send with an answer: at most
// MaxResponseFile bytes (ErrResponseFileTooLarge) of a kind SniffFile
// accepts for a response (ErrResponseFileType).
func ResponseFile(u Upload) (File, error) {
	if len(u.Content) > MaxResponseFile {
		return File{}, ErrResponseFileTooLarge
	}
	ct := SniffFile(FileResponse, u.Name, u.Content)
	if len(u.Content) == 0 || ct == "" {
		return File{}, ErrResponseFileType
	}
	return newFile(FileResponse, u, ct), nil
}

// Errors of a response file.
var (
	ErrResponseFileType     = errors.New("response file type not accepted")
	ErrResponseFileTooLarge = errors.New("response file too large")
)

// newFile is an accepted upload of content type ct, ready to store.
func newFile(purpose string, u Upload, ct string) File {
	sum := sha256.Sum256(u.Content)
	return File{
		Purpose: purpose, Name: SafeFileName(u.Name), ContentType: ct,
		Size: int64(len(u.Content)), SHA256: sum[:], Content: u.Content,
	}
}

// CheckUploads accepts up to MaxUploadFiles files of a requester (purpose
// FileProof or FileRequester) of at most maxSize bytes each (MaxUploadSize
// when 0) whose content is a kind a requester may send (SniffFile): PDF,
// JPEG or PNG. Problems are reported on field as message keys.
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
		ct := SniffFile(purpose, u.Name, u.Content)
		if ct == "" {
			verr.Add(field, "error.file_type", map[string]any{"Name": SafeFileName(u.Name)})
			continue
		}
		files = append(files, newFile(purpose, u, ct))
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
