package request

import (
	"bytes"
	"encoding/base64"
	"errors"
	"mime"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fuzz targets for everything in this package that reads what people send:
// submissions, references, tokens and uploaded files. scripts/fuzz runs
// each for a bounded time; `go test` runs their seeds as ordinary tests.

// singleLineLimits are the single-line fields of a submission and the most
// characters each may hold once accepted (MaxLength, which the limits test
// checks against the validator, the form and the API document).
func singleLineLimits(s *Submission) map[string]struct {
	value string
	max   int
} {
	return map[string]struct {
		value string
		max   int
	}{
		"full_name":    {s.FullName, MaxLength("full_name")},
		"email":        {s.Email, MaxLength("email")},
		"phone":        {s.Phone, MaxLength("phone")},
		"account_id":   {s.AccountID, MaxLength("account_id")},
		"subject_name": {s.SubjectName, MaxLength("subject_name")},
	}
}

func FuzzSubmissionValidate(f *testing.F) {
	f.Add("erasure", "Ерлан Сапаров", "erlan@example.kz", "+7 701 123 45 67", "", "Удалите аккаунт", "", "", false, "", "")
	f.Add("rectification", "Ерлан\r\nBcc: evil@example.com", "erlan@example.kz\r\nBcc: x@y", "", "id-1", "", "Фамилия: Сапаров", "", true, "Айгерим", "parent")
	f.Add("access", "<script>alert(1)</script>", "a@b.kz", "", "", "\x00", "", "", false, "", "")
	f.Add("objection", "Ерла\u0306н", "erlan@example.kz", "(7) 123-45", "", "", "", "маркетинг", false, "", "")
	f.Add("consent_withdrawal", " \u202eнаворпаС ", "erlan@example.kz", "", "", "a\u2028b", "", "рассылки", true, "", "guardian")
	f.Add("portability", "\xff\xfe", "\xc3\x28@example.kz", "", "", "", "", "", false, "", "")
	f.Add("restriction", strings.Repeat("я", 201), "e@x.kz", "", strings.Repeat("1", 201), strings.Repeat("x", 5001), "", strings.Repeat("y", 2001), false, "", "")
	v := NewValidator(AllTypes())
	f.Fuzz(func(t *testing.T, typ, name, email, phone, account, details, correction, processing string, onBehalf bool, subject, relationship string) {
		s := Submission{
			Type: Type(typ), FullName: name, Email: email, Phone: phone, AccountID: account,
			Details: details, Locale: Russian, OnBehalf: onBehalf, SubjectName: subject,
			Relationship: Relationship(relationship), Consent: true, AccessScope: "copy",
			Correction: correction, Processing: processing,
		}
		s.Normalize()
		again := s
		again.Normalize()
		if again.FullName != s.FullName || again.Details != s.Details || again.Email != s.Email {
			t.Fatalf("Normalize is not idempotent: %+v then %+v", s, again)
		}
		if err := v.Validate(&s); err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) == 0 {
				t.Fatalf("Validate failed without naming a field: %v", err)
			}
			return
		}
		// An accepted submission is safe to store, show and put in a header.
		for field, f := range singleLineLimits(&s) {
			if !utf8.ValidString(f.value) {
				t.Errorf("%s accepted with invalid UTF-8: %q", field, f.value)
			}
			if n := utf8.RuneCountInString(f.value); n > f.max {
				t.Errorf("%s accepted with %d characters (max %d)", field, n, f.max)
			}
			if strings.ContainsFunc(f.value, func(r rune) bool {
				return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || isBidiControl(r)
			}) {
				t.Errorf("%s accepted with a control character: %q", field, f.value)
			}
			if !norm.NFC.IsNormalString(f.value) || strings.TrimSpace(f.value) != f.value {
				t.Errorf("%s accepted unnormalised: %q", field, f.value)
			}
		}
		for field, f := range map[string]struct {
			value string
			max   int
		}{"details": {s.Details, MaxLength("details")}, "correction": {s.Correction, MaxLength("correction")}, "processing": {s.Processing, MaxLength("processing")}} {
			if !utf8.ValidString(f.value) || utf8.RuneCountInString(f.value) > f.max {
				t.Errorf("%s accepted too long or invalid: %d characters", field, utf8.RuneCountInString(f.value))
			}
			if strings.ContainsFunc(f.value, func(r rune) bool {
				return (unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t') || r == 0 || isBidiControl(r)
			}) {
				t.Errorf("%s accepted with a control character: %q", field, f.value)
			}
		}
		if !s.Type.Valid() || s.Email == "" || s.FullName == "" {
			t.Errorf("accepted without type, name or email: %+v", s)
		}
	})
}

var referenceShape = regexp.MustCompile(`^RD-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

func FuzzParseReference(f *testing.F) {
	f.Add("RD-7K4M-9QXT-2HV5")
	f.Add("rd 7k4m 9qxt 2hv5")
	f.Add("RD-OOOO-IIII-LLLL")
	f.Add("RD—7K4M–9QXT-2HV5")
	f.Add("RDRD-7K4M-9QXT-2HV5")
	f.Add("RD-7K4M-9QXT-2HV5\x00")
	f.Add("' OR 1=1 --")
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("ParseReference(%q): unexpected error %v", s, err)
			}
			return
		}
		// Whatever was accepted comes out in the one canonical form, with
		// a check symbol that holds, and parses to itself.
		if !referenceShape.MatchString(ref) {
			t.Fatalf("ParseReference(%q) = %q: not canonical", s, ref)
		}
		body := strings.ReplaceAll(ref[3:], "-", "")
		if body[11] != checkSymbol(body[:11]) {
			t.Fatalf("ParseReference(%q) = %q: check symbol does not hold", s, ref)
		}
		if again, err := ParseReference(ref); err != nil || again != ref {
			t.Fatalf("ParseReference(%q) = %q, %v: not a fixed point", ref, again, err)
		}
	})
}

func FuzzReferenceRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789a"), 0, byte(3))
	f.Add(bytes.Repeat([]byte{0xff}, 11), 11, byte(31))
	f.Fuzz(func(t *testing.T, random []byte, pos int, delta byte) {
		if len(random) < referenceChars {
			return
		}
		ref, err := NewReference(bytes.NewReader(random))
		if err != nil {
			t.Fatal(err)
		}
		for _, typed := range []string{ref, strings.ToLower(ref), strings.ReplaceAll(ref, "-", ""), " " + strings.ReplaceAll(ref, "-", " ") + " "} {
			if got, err := ParseReference(typed); err != nil || got != ref {
				t.Fatalf("ParseReference(%q) = %q, %v; want %q", typed, got, err, ref)
			}
		}
		// Any one symbol changed for another is caught by the check symbol.
		body := []byte(strings.ReplaceAll(ref[3:], "-", ""))
		i := ((pos % len(body)) + len(body)) % len(body)
		old := strings.IndexByte(crockford, body[i])
		d := int(delta)%31 + 1
		body[i] = crockford[(old+d)%32]
		if got, err := ParseReference(string(body)); err == nil {
			t.Fatalf("%s with symbol %d changed parsed as %q", ref, i, got)
		}
	})
}

func FuzzWellFormedToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n")
	f.Add("../../../../../../../../../../etc/passwd.xx")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, s string) {
		if !WellFormedToken(s) {
			return
		}
		// A well-formed token is exactly what NewToken makes: 43 symbols of
		// the URL-safe alphabet, 32 bytes once decoded; nothing else may
		// reach a lookup or a redirect.
		if len(s) != 43 || strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			t.Fatalf("WellFormedToken(%q) = true", s)
		}
		if b, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(b) != 32 {
			t.Fatalf("WellFormedToken(%q) = true, decodes to %d bytes, %v", s, len(b), err)
		}
	})
}

func FuzzNewToken(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0}, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, random []byte) {
		tok, err := NewToken(bytes.NewReader(random))
		if len(random) < 32 {
			if err == nil {
				t.Fatal("a token from fewer than 32 random bytes")
			}
			return
		}
		if err != nil || !WellFormedToken(tok.Plain) || !bytes.Equal(tok.Hash, HashToken(tok.Plain)) {
			t.Fatalf("NewToken = %+v, %v", tok, err)
		}
	})
}

func FuzzSafeFileName(f *testing.F) {
	for _, name := range []string{
		"scan.pdf", "../../etc/passwd", `..\..\windows\win.ini`, "/", ".", "..", ".htaccess",
		" . hidden.pdf", "a\x00b.pdf", "report\u202egpj.exe", "\u2028x", "\xff\xfe.pdf",
		strings.Repeat("я", 130) + " .pdf", `"quoted".pdf`, "C:\\fakepath\\паспорт.jpg",
	} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := SafeFileName(name)
		switch {
		case got == "":
			t.Fatalf("SafeFileName(%q) is empty", name)
		case strings.ContainsAny(got, "/\\\x00\""):
			t.Fatalf("SafeFileName(%q) = %q holds a separator, NUL or quote", name, got)
		case strings.HasPrefix(got, "."):
			t.Fatalf("SafeFileName(%q) = %q starts with a dot", name, got)
		case !utf8.ValidString(got):
			t.Fatalf("SafeFileName(%q) = %q is not UTF-8", name, got)
		case utf8.RuneCountInString(got) > 120:
			t.Fatalf("SafeFileName(%q) is %d characters long", name, utf8.RuneCountInString(got))
		case strings.TrimSpace(got) != got:
			t.Fatalf("SafeFileName(%q) = %q has surrounding space", name, got)
		case strings.ContainsFunc(got, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }):
			t.Fatalf("SafeFileName(%q) = %q holds a control or format character", name, got)
		}
		if again := SafeFileName(got); again != got {
			t.Fatalf("SafeFileName is not idempotent: %q -> %q -> %q", name, got, again)
		}
		if cd := mime.FormatMediaType("attachment", map[string]string{"filename": got}); cd == "" {
			t.Fatalf("SafeFileName(%q) = %q cannot be put in Content-Disposition", name, got)
		}
	})
}

func FuzzCheckUploads(f *testing.F) {
	f.Add("scan.pdf", []byte("%PDF-1.7\n"), "../x.png", []byte("\x89PNG\r\n\x1a\n"), int64(0))
	f.Add("x.html", []byte("<html><script>alert(1)</script>"), "y.jpg", []byte{0xff, 0xd8, 0xff, 0xe0}, int64(4))
	f.Add("", []byte{}, "big.pdf", []byte("%PDF-"), int64(1))
	f.Fuzz(func(t *testing.T, name1 string, content1 []byte, name2 string, content2 []byte, maxSize int64) {
		if ct := SniffFile(FileRequester, name1, content1); ct != "" {
			ok := (ct == "application/pdf" && bytes.HasPrefix(content1, []byte("%PDF-"))) ||
				(ct == "image/jpeg" && bytes.HasPrefix(content1, []byte{0xff, 0xd8, 0xff})) ||
				(ct == "image/png" && bytes.HasPrefix(content1, []byte("\x89PNG\r\n\x1a\n")))
			if !ok {
				t.Fatalf("SniffFile(%q) = %q", content1, ct)
			}
		}
		uploads := []Upload{{Name: name1, Content: content1}, {Name: name2, Content: content2}}
		verr := &ValidationError{}
		files := CheckUploads("files", FileRequester, uploads, maxSize, verr)
		limit := maxSize
		if limit <= 0 {
			limit = MaxUploadSize
		}
		if len(files)+len(verr.Fields) == 0 {
			t.Fatal("two uploads gave neither files nor an error")
		}
		for _, file := range files {
			if file.ContentType == "" || file.Size == 0 || file.Size > limit || file.Name != SafeFileName(file.Name) || len(file.SHA256) != 32 {
				t.Fatalf("accepted %+v", File{Name: file.Name, ContentType: file.ContentType, Size: file.Size})
			}
		}
	})
}
