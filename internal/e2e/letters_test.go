package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/inbound"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// TestOfficerTriagesALetterInTheBrowser: a Kazakh letter that asks for
// deletion waits in the Triage tab; the officer reads it on its page
// (which passes axe), changes its type to access and it goes on as new.
func TestOfficerTriagesALetterInTheBrowser(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "officer@school.example.kz", "Гүлнар Офицер", auth.Admin)
	body := "Сәлеметсіз бе!\r\nМенің дербес деректерімді жоюыңызды сұраймын.\r\nАйгерім"
	raw := []byte("From: Aigerim <aigerim.n@gmail.example.kz>\r\nTo: privacy@school.example.kz\r\n" +
		"Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Деректерді жою")) + "?=\r\n" +
		"Date: " + inst.Clock.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <e2e1@gmail.example.kz>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(body)) + "\r\n")
	letter, err := inbound.Read(raw, inbound.Envelope{Source: inbound.SourceSMTP, ReceivedAt: inst.Clock.Now()}, inst.App.Inbound.Read)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := inst.App.Inbound.Sink.Deliver(context.Background(), letter); err != nil || out != inbound.Stored {
		t.Fatalf("deliver: %v, %v", out, err)
	}
	var ref string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT reference FROM requests`).Scan(&ref); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	signIn(t, ctx, inst, "officer@school.example.kz")
	open(t, ctx, inst.URL+"/staff?tab=triage")
	if rows := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.queue tbody tr").length`)); rows != 1 {
		t.Errorf("the Triage tab lists %d letters, want 1", rows)
	}
	testkit.Axe(t, ctx)
	run(t, ctx,
		chromedp.Click(`//table//a[normalize-space()="`+ref+`"]`),
		chromedp.WaitVisible(chromedp.CSS("#triage")),
	)
	if got := text(t, ctx, "pre.letter-text"); !strings.Contains(got, "дербес деректерімді жоюыңызды сұраймын") {
		t.Errorf("the letter on its page: %q", got)
	}
	testkit.Axe(t, ctx)
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#triage-type"), "access"),
		chromedp.SetValue(chromedp.CSS("#triage-scope"), "information"),
		chromedp.Click(`//div[@id="triage"]//button[normalize-space()="Подтвердить тип"]`),
		chromedp.WaitVisible(timelineStep("Тип подтверждён")),
	)
	if r := inst.Request(t, ref); r.Status != request.New || r.Type != request.Access || r.AccessScope != "information" {
		t.Errorf("after triage in the browser: %s %s %s, want new, access, information", r.Status, r.Type, r.AccessScope)
	}
	testkit.Axe(t, ctx)
}
