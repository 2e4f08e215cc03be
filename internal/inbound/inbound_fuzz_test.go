package inbound

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"rightsdesk/internal/request"
)

// FuzzRead feeds the parser arbitrary letters: it never panics, and what it
// returns is always safe to show and to store.
func FuzzRead(f *testing.F) {
	for _, seed := range [][]byte{
		kazakhErasureLetter(), postfixDSN, eximDelayDSN, mailruBounce, russianBounce, gmailVacation,
		outlookOOF, newsletter, multipartLetter([2]string{"a.pdf", string(pdf(10))}, [2]string{"b.docx", "PK"}),
		letter("From: a@b.kz\nContent-Type: text/html; charset=koi8-r", "<p>x</p><script>y</script>"),
		[]byte("From: x\r\n\r\n"), []byte("\r\n"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		l, err := Read(raw, Envelope{Recipients: []string{"privacy@operator.kz"}}, Options{Mailboxes: []string{"privacy@operator.kz"}})
		if err != nil {
			if !IsRefused(err) {
				t.Fatalf("an error that is not a refusal: %v", err)
			}
			return
		}
		for name, s := range map[string]string{"text": l.Text, "reply": l.ReplyText, "subject": l.Subject} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not UTF-8: %q", name, s)
			}
			for _, r := range s {
				if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Cf, r) {
					t.Fatalf("%s keeps %U: %q", name, r, s)
				}
			}
		}
		if strings.ContainsAny(l.Subject, "\n\t") {
			t.Fatalf("subject is not one line: %q", l.Subject)
		}
		if len(l.Text) > MaxTextSize {
			t.Fatalf("text of %d bytes", len(l.Text))
		}
		if len(l.Attachments) > request.MaxUploadFiles {
			t.Fatalf("%d attachments", len(l.Attachments))
		}
		for _, a := range l.Attachments {
			if a.Size > request.MaxUploadSize || request.SniffFile(request.FileRequester, a.Name, a.Content) != a.ContentType || a.Name != request.SafeFileName(a.Name) {
				t.Fatalf("attachment %q %s %d breaks the form's rules", a.Name, a.ContentType, a.Size)
			}
		}
		if l.Hash != ContentHash(raw) || len(l.Hash) != 64 {
			t.Fatalf("hash %q", l.Hash)
		}
		if l.Class.Automatic() && l.Suggestion.Type != "" {
			t.Fatal("an automatic letter got a suggestion")
		}
		if l.Class.Kind == KindBounce && l.Class.Bounce == nil {
			t.Fatal("a bounce without its report")
		}
	})
}
