package mail_test

import (
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/web"
)

func newComposer(tb testing.TB) (*mail.Composer, *time.Location) {
	tb.Helper()
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		tb.Fatal(err)
	}
	catalog, err := web.Catalog()
	if err != nil {
		tb.Fatal(err)
	}
	c, err := mail.NewComposer(web.Files, catalog, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return c, loc
}

// ackData is what request.Intake gives the acknowledgement.
func ackData(ref string, due time.Time) map[string]any {
	return map[string]any{
		"Org": "Школа <A&B>", "Reference": ref, "Type": "erasure", "DueAt": due,
		"StatusURL": "https://desk.example.kz/s/" + request.SecretPlaceholder(request.SecretStatus),
		"Verify":    true, "OnBehalf": false,
		"ConfirmURL": "https://desk.example.kz/confirm/" + request.SecretPlaceholder(request.SecretConfirm),
		"ConfirmBy":  due.Add(-20 * 24 * time.Hour),
	}
}

func TestEveryEmailRendersInEveryLanguage(t *testing.T) {
	c, loc := newComposer(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, loc)
	for _, kind := range c.Kinds() {
		for _, l := range request.Locales() {
			data := ackData("RD-7K3M-9QX2-P", now.AddDate(0, 1, 0))
			for k, v := range map[string]any{
				"StaffURL": "https://desk.example.kz/staff/requests/RD-7K3M-9QX2-P", "DownloadBy": now.AddDate(0, 0, 7),
				"DownloadURL": "https://desk.example.kz/d/x", "Name": "Ерлан", "Inviter": "Админ", "Role": "agent",
				"Reason": "identity_not_confirmed", "Response": "Ответ", "Message": "Нужен документ", "ComplaintURL": "https://eotinish.kz",
				"HomeURL": "https://desk.example.kz", "ResendURL": "https://desk.example.kz/status", "QueueURL": "https://desk.example.kz/staff", "URL": "https://desk.example.kz/x",
				"Text": "Текст", "Items": []any{}, "Count": 0,
			} {
				data[k] = v
			}
			subject, text, html, err := c.Compose(kind, l, data)
			if err != nil {
				t.Errorf("%s/%s: %v", kind, l, err)
				continue
			}
			for part, s := range map[string]string{"subject": subject, "text": text, "html": html} {
				if strings.TrimSpace(s) == "" || strings.Contains(s, i18n.Missing) || strings.Contains(s, "<no value>") {
					t.Errorf("%s/%s: %s is empty or has a missing message or value:\n%s", kind, l, part, s)
				}
			}
		}
	}
}

func TestEachAcknowledgementCarriesItsOwnReferenceAndDates(t *testing.T) {
	c, loc := newComposer(t)
	due := time.Date(2026, 4, 1, 23, 59, 59, 0, loc)
	_, firstText, _, err := c.Compose("acknowledgement", request.English, ackData("RD-AAAA-AAAA-A", due))
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := c.Compose("acknowledgement", request.English, ackData("RD-BBBB-BBBB-B", due))
	if err != nil {
		t.Fatal(err)
	}
	if text != strings.ReplaceAll(firstText, "RD-AAAA-AAAA-A", "RD-BBBB-BBBB-B") {
		t.Errorf("two acknowledgements differ in more than the reference:\n%s\n---\n%s", firstText, text)
	}
	for part, s := range map[string]string{"subject": subject, "text": text, "html": html} {
		if !strings.Contains(s, "RD-BBBB-BBBB-B") || strings.Contains(s, "RD-AAAA") {
			t.Errorf("%s does not carry its own reference:\n%s", part, s)
		}
	}
	if !strings.Contains(text, "by 1 April 2026") || !strings.Contains(text, "by 12 March 2026") {
		t.Errorf("text lacks the due date or the confirmation deadline:\n%s", text)
	}
	if !strings.Contains(html, "Школа &lt;A&amp;B&gt;") || !strings.Contains(html, `href="https://desk.example.kz/confirm/__RDSECRET_confirm__"`) {
		t.Errorf("html lacks the escaped organisation or the confirmation link:\n%s", html)
	}

	// A later submission is due later: its email says so.
	_, text, _, err = c.Compose("acknowledgement", request.English, ackData("RD-CCCC-CCCC-C", due.AddDate(0, 0, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "by 2 April 2026") || !strings.Contains(text, "RD-CCCC-CCCC-C") {
		t.Errorf("the next day's acknowledgement:\n%s", text)
	}
}

func TestStaffNoticeLinksToItsOwnRequest(t *testing.T) {
	c, loc := newComposer(t)
	for _, ref := range []string{"RD-AAAA-AAAA-A", "RD-BBBB-BBBB-B"} {
		_, text, html, err := c.Compose("staff_new", request.Russian, map[string]any{
			"Org": "Школа", "Reference": ref, "Type": "access", "DueAt": time.Date(2026, 4, 1, 23, 59, 59, 0, loc),
			"StaffURL": "https://desk.example.kz/staff/requests/" + ref, "Verify": false, "OnBehalf": true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "https://desk.example.kz/staff/requests/"+ref) || !strings.Contains(html, `href="https://desk.example.kz/staff/requests/`+ref+`"`) {
			t.Errorf("%s: notice does not link to its request:\n%s\n%s", ref, text, html)
		}
	}
}
