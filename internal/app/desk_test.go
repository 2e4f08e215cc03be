package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/request"
)

func addStaff(t *testing.T, inst *apptest.Instance, name, email, role, locale string) int64 {
	t.Helper()
	var id int64
	err := inst.Pool.QueryRow(context.Background(), `INSERT INTO staff (email, name, role, locale, created_at, updated_at)
		VALUES ($1, $2, $3, $4, now(), now()) RETURNING id`, email, name, role, locale).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var anyLink = regexp.MustCompile(`http://\S+/(s|d)/[A-Za-z0-9_-]{43}`)

// lastMailTo waits for an email to addr whose subject contains part and
// returns it with its status (/s/) and download (/d/) links.
func lastMailTo(t *testing.T, inst *apptest.Instance, addr, part string) (subject, text, status, download string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msgs := inst.SMTP.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if m.To[0] == addr && strings.Contains(m.Subject, part) {
				for _, l := range anyLink.FindAllString(m.Text, -1) {
					if strings.Contains(l, "/s/") {
						status = l
					} else {
						download = l
					}
				}
				return m.Subject, m.Text, status, download
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no email to %s about %q", addr, part)
	return
}

func TestStaffWorkARequestFromAssignmentToDownload(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := context.Background()
	desk := inst.App.Desk
	officer := addStaff(t, inst, "Гульнара Сапарова", "gulnara@school.example.kz", "admin", "ru")
	agent := addStaff(t, inst, "Daniyar", "daniyar@school.example.kz", "agent", "en")
	ref, _ := filed(t, inst, request.Access, "kk")
	requester := "aigerim.access.kk@example.kz"
	setStatus(t, inst, ref, "new")

	if _, err := desk.Assign(ctx, ref, request.ByStaff(officer), agent); err != nil {
		t.Fatal(err)
	}
	if subj, _, _, _ := lastMailTo(t, inst, "daniyar@school.example.kz", ref); subj != "Request "+ref+" is assigned to you" {
		t.Errorf("assignment email in the assignee's language: %q", subj)
	}
	if _, err := desk.Assign(ctx, ref, request.ByStaff(officer), 999999); !errors.Is(err, request.ErrUnknownStaff) {
		t.Errorf("assigning to nobody known: %v", err)
	}
	if _, err := desk.Complete(ctx, ref, request.ByStaff(agent), request.Completion{Response: ""}); !errors.Is(err, request.ErrTextRequired) {
		t.Errorf("completing without a response: %v", err)
	}
	if _, err := desk.Start(ctx, ref, request.ByStaff(agent)); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Start(ctx, ref, request.ByStaff(agent)); !errors.Is(err, request.ErrTransitionNotAllowed) {
		t.Errorf("starting twice: %v", err)
	}

	if _, err := desk.AskForInformation(ctx, ref, request.ByStaff(agent), "Жеке куәліктің көшірмесін жіберіңізші."); err != nil {
		t.Fatal(err)
	}
	_, text, statusLink, _ := lastMailTo(t, inst, requester, "ақпарат қажет")
	if !strings.Contains(text, "Жеке куәліктің көшірмесін жіберіңізші.") || statusLink == "" {
		t.Fatalf("information request email lacks the question or a link:\n%s", text)
	}
	c := browser(t)
	resp, page := get(t, c, statusLink)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Жеке куәліктің көшірмесін жіберіңізші.") || !strings.Contains(page, "Бізге сізден ақпарат қажет") {
		t.Fatalf("the link in the email does not show the question (%d)", resp.StatusCode)
	}
	body, ctype := multipartReply(t, formToken(t, page), "Жібердім", map[string][]byte{"id.pdf": pdf})
	if resp, _ := postMultipart(t, c, statusLink+"/reply", body, ctype); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	// The assignee, not the privacy contact, hears of the reply.
	lastMailTo(t, inst, "daniyar@school.example.kz", "Reply from the requester")

	before := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND due_at = '2026-04-01 23:59:59+05'`, ref)
	r, err := desk.Extend(ctx, ref, request.ByStaff(agent), "Деректер үш жүйеде сақталған")
	if err != nil || before != 1 {
		t.Fatalf("extend: %v (due before matched: %d)", err, before)
	}
	if got := r.DueAt.In(inst.Config.Location).Format(time.DateTime); got != "2026-05-01 23:59:59" {
		t.Errorf("extended to %s, want 2026-05-01 23:59:59", got)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND extensions = 1 AND original_due_at = '2026-04-01 23:59:59+05'`, ref); n != 1 {
		t.Error("the original due date was not kept")
	}
	_, text, _, _ = lastMailTo(t, inst, requester, "ұзартылды")
	if !strings.Contains(text, "2026 жылғы 1 мамырға дейін") || !strings.Contains(text, "Деректер үш жүйеде сақталған") {
		t.Errorf("extension email lacks the new date or the reason:\n%s", text)
	}
	if _, page := get(t, c, statusLink); !strings.Contains(page, "Жауап беру мерзімі ұзартылды: 2026 жылғы 1 мамырға дейін жауап береміз. Себебі: Деректер үш жүйеде сақталған") {
		t.Error("the status page's history does not give the new date and the reason")
	}
	if _, err := desk.Extend(ctx, ref, request.ByStaff(agent), "again"); !errors.Is(err, request.ErrNoExtensionLeft) {
		t.Errorf("second extension: %v", err)
	}

	// A copy of the data leaves only once staff have recorded who the
	// requester is (IDENTITY_CHECK's default).
	export := &request.Upload{Name: "data.json", Content: []byte(`{"courses":2}`)}
	if _, err := desk.Complete(ctx, ref, request.ByStaff(agent), request.Completion{Response: "Деректеріңіздің көшірмесі қоса беріліп отыр.", File: export}); !errors.Is(err, request.ErrIdentityCheckMissing) {
		t.Fatalf("completing an access copy without an identity check: %v", err)
	}
	if _, err := desk.RecordIdentityCheck(ctx, ref, request.ByStaff(agent), request.IdentityVideoCall, "Жеке куәлік бейнебайланыста көрсетілді"); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Complete(ctx, ref, request.ByStaff(agent), request.Completion{Response: "Деректеріңіздің көшірмесі қоса беріліп отыр.", File: export}); err != nil {
		t.Fatal(err)
	}
	_, text, _, download := lastMailTo(t, inst, requester, "сұрауыңызға жауап")
	if download == "" || !strings.Contains(text, "Деректеріңіздің көшірмесі қоса беріліп отыр.") {
		t.Fatalf("completion email lacks the response or the download link:\n%s", text)
	}
	resp, err = http.Get(download)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64)
	n, _ := resp.Body.Read(got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got[:n]) != `{"courses":2}` || !strings.Contains(resp.Header.Get("Content-Disposition"), "data.json") {
		t.Fatalf("download: %d %q %q", resp.StatusCode, got[:n], resp.Header.Get("Content-Disposition"))
	}
	// The status page says the link went by email, with its last day, and
	// serves no file itself.
	_, page = get(t, c, statusLink)
	sendLink := regexp.MustCompile(`action="(/s/[^"]+/files/\d+/link)"`).FindStringSubmatch(page)
	if sendLink == nil || !strings.Contains(page, "2026 жылғы 9 наурызға дейін") || strings.Contains(page, "/d/") || strings.Contains(page, `{"courses":2}`) {
		t.Fatal("the status page does not say the download link was emailed, with its last day, and offer a new one")
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`); n != 1 {
		t.Errorf("%d downloads logged, want 1", n)
	}
	inst.Clock.Advance(7*24*time.Hour + time.Minute)
	// The expired page speaks the request's language.
	resp, page = get(t, c, download)
	if resp.StatusCode != http.StatusGone || !strings.Contains(page, "Сілтеменің мерзімі өтті") {
		t.Errorf("expired download: %d", resp.StatusCode)
	}
	if _, page = get(t, c, statusLink); !strings.Contains(page, "жүктеп алу сілтемесінің мерзімі өтті") || !strings.Contains(page, "Поштаға жаңа сілтеме жіберу") {
		t.Error("the status page does not say how to get the file again")
	}
	// A fresh link, on request, goes to the mailbox; the browser is only
	// told so.
	resp, page = post(t, c, inst.URL+sendLink[1], url.Values{"_csrf": {formToken(t, page)}})
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(page, "/d/") {
		t.Fatalf("asking for a new download link: %d", resp.StatusCode)
	}
	if _, page = get(t, c, inst.URL+resp.Header.Get("Location")); !strings.Contains(page, "Жүктеп алуға жаңа сілтемені сұрауда көрсетілген мекенжайға жібердік.") || strings.Contains(page, "/d/") {
		t.Error("the status page does not say the new link was emailed")
	}
	_, text, _, fresh := lastMailTo(t, inst, requester, "жүктеп алу сілтемесі")
	if fresh == "" || fresh == download || !strings.Contains(text, "2026 жылғы 16 наурызға дейін") {
		t.Fatalf("the new download link email:\n%s", text)
	}
	if resp, body := get(t, c, fresh); resp.StatusCode != http.StatusOK || body != `{"courses":2}` {
		t.Errorf("download through the new link: %d %q", resp.StatusCode, body)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'file_downloaded'`); n != 2 {
		t.Errorf("%d downloads logged, want 2", n)
	}
	if _, err := desk.Reject(ctx, ref, request.ByStaff(agent), request.Rejection{Reason: "excessive", Text: "x"}); !errors.Is(err, request.ErrTransitionNotAllowed) {
		t.Errorf("rejecting a completed request: %v", err)
	}

	// Every staff action names the member of staff behind it.
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.actor = 'staff' AND e.actor_id IS NULL`, ref); n != 0 {
		t.Errorf("%d staff events without their actor", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.actor_id = $2 AND e.kind IN ('started', 'information_requested', 'extended', 'completed')`, ref, agent); n != 4 {
		t.Errorf("%d of the agent's 4 actions logged with their id", n)
	}
}

func TestRejectionGivesTheGroundAndHowToComplain(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"COMPLAINT_TEXT_EN": "Complain to our DPO first: dpo@school.example.kz."})
	ctx := context.Background()
	agent := addStaff(t, inst, "Daniyar", "daniyar@school.example.kz", "agent", "en")
	ref, _ := filed(t, inst, request.Erasure, "ru")
	setStatus(t, inst, ref, "in_progress")
	if _, err := inst.App.Desk.Reject(ctx, ref, request.ByStaff(agent), request.Rejection{Reason: "made_up", Text: "x"}); !errors.Is(err, request.ErrReasonRequired) {
		t.Errorf("unknown ground: %v", err)
	}
	r, err := inst.App.Desk.Reject(ctx, ref, request.ByStaff(agent), request.Rejection{Reason: "legal_exemption", Text: "Сведения об успеваемости храним 5 лет по закону об образовании."})
	if err != nil || r.Status != request.Rejected {
		t.Fatalf("reject: %v %s", err, r.Status)
	}
	subj, text, status, _ := lastMailTo(t, inst, "aigerim.erasure.ru@example.kz", "Решение")
	for _, want := range []string{"Основание: закон позволяет не выполнять такой запрос.", "Сведения об успеваемости", "E-Otinish", "https://eotinish.kz"} {
		if !strings.Contains(text, want) {
			t.Errorf("rejection email %q lacks %q", subj, want)
		}
	}
	if _, page := get(t, browser(t), status); !strings.Contains(page, "Отказано") {
		t.Error("the status page does not show the refusal")
	}
	// The operator's own complaint text replaces the built-in one in its language only.
	enRef, _ := filed(t, inst, request.Erasure, "en")
	setStatus(t, inst, enRef, "in_progress")
	if _, err := inst.App.Desk.Reject(ctx, enRef, request.ByStaff(agent), request.Rejection{Reason: "no_data", Text: "We hold nothing about you."}); err != nil {
		t.Fatal(err)
	}
	_, text, _, _ = lastMailTo(t, inst, "aigerim.erasure.en@example.kz", "Decision")
	if !strings.Contains(text, "Complain to our DPO first") || strings.Contains(text, "E-Otinish") {
		t.Errorf("English rejection does not use the operator's text:\n%s", text)
	}
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND outcome_reason = 'legal_exemption' AND closed_at IS NOT NULL`, ref); n != 1 {
		t.Error("the outcome was not recorded")
	}
}

func TestExtensionAfterTheDeadlineIsRefused(t *testing.T) {
	inst := apptest.Start(t, nil)
	agent := addStaff(t, inst, "Daniyar", "daniyar@school.example.kz", "agent", "en")
	ref, _ := filed(t, inst, request.Erasure, "ru")
	setStatus(t, inst, ref, "in_progress")
	inst.Clock.Advance(31 * 24 * time.Hour)
	if _, err := inst.App.Desk.Extend(context.Background(), ref, request.ByStaff(agent), "late"); !errors.Is(err, request.ErrDeadlinePassed) {
		t.Errorf("extension after the deadline: %v", err)
	}
}

func TestPausedClockMovesTheDeadlineByTheDaysWaited(t *testing.T) {
	for _, pause := range []bool{true, false} {
		t.Run(map[bool]string{true: "paused", false: "running"}[pause], func(t *testing.T) {
			inst := apptest.Start(t, map[string]string{"PAUSE_WHILE_AWAITING": map[bool]string{true: "true", false: "false"}[pause]})
			ctx := context.Background()
			agent := addStaff(t, inst, "Daniyar", "daniyar@school.example.kz", "agent", "en")
			ref, _ := filed(t, inst, request.Access, "ru")
			setStatus(t, inst, ref, "in_progress")
			inst.Clock.Advance(5 * 24 * time.Hour) // 7 March
			if _, err := inst.App.Desk.AskForInformation(ctx, ref, request.ByStaff(agent), "Пришлите, пожалуйста, номер договора."); err != nil {
				t.Fatal(err)
			}
			_, _, statusLink, _ := lastMailTo(t, inst, "aigerim.access.ru@example.kz", "Нужна информация")
			inst.Clock.Advance(4 * 24 * time.Hour) // the requester answers on 11 March
			c := browser(t)
			_, page := get(t, c, statusLink)
			body, ctype := multipartReply(t, formToken(t, page), "Договор № 4411", nil)
			if resp, _ := postMultipart(t, c, statusLink+"/reply", body, ctype); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("reply: %d", resp.StatusCode)
			}
			want := "2026-04-01" // 30 days from 2 March
			if pause {
				want = "2026-04-05" // and the 4 days spent waiting
			}
			var due time.Time
			if err := inst.Pool.QueryRow(ctx, `SELECT due_at FROM requests WHERE reference = $1 AND paused_at IS NULL`, ref).Scan(&due); err != nil {
				t.Fatal(err)
			}
			if got := due.In(inst.Config.Location).Format(time.DateOnly); got != want {
				t.Errorf("due %s, want %s", got, want)
			}
			if pause {
				if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'requester_replied' AND data->>'clock_resumed' = 'true'`); n != 1 {
					t.Error("the restart of the clock was not logged")
				}
			}
		})
	}
}

func TestAPolicyChangeMovesNoDateUntilAnAdminRecomputesWithAReason(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := context.Background()
	admin := addStaff(t, inst, "Гульнара", "gulnara@school.example.kz", "admin", "ru")
	ref, _ := filed(t, inst, request.ConsentWithdrawal, "ru")
	setStatus(t, inst, ref, "in_progress")

	// The operator switches to the kz preset: the stored date stays.
	policy, err := inst.Config.DeadlinePolicy("kz")
	if err != nil {
		t.Fatal(err)
	}
	desk := *inst.App.Desk
	desk.Deadlines = policy
	var due time.Time
	var rule string
	read := func() {
		if err := inst.Pool.QueryRow(ctx, `SELECT due_at, deadline_rule FROM requests WHERE reference = $1`, ref).Scan(&due, &rule); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if due.In(inst.Config.Location).Format(time.DateOnly) != "2026-04-01" || rule != "default.calendar_30d" {
		t.Fatalf("before: %s %s", due, rule)
	}
	if _, err := desk.Recompute(ctx, ref, request.ByStaff(admin), ""); !errors.Is(err, request.ErrReasonRequired) {
		t.Errorf("recompute without a reason: %v", err)
	}
	if _, err := desk.Recompute(ctx, ref, request.ByStaff(admin), "Перешли на сроки закона РК"); err != nil {
		t.Fatal(err)
	}
	read()
	// 15 working days after Monday 2 March 2026 in Kazakhstan: 3-6 March (4),
	// 8 March falls on a Sunday so Monday 9 March is off, 10-13 (8), 16-20
	// (13), Nauryz and its moved days close 21-25 March, 26 (14), 27 (15).
	if got := due.In(inst.Config.Location).Format(time.DateOnly); got != "2026-03-27" || rule != "kz.consent_withdrawal" {
		t.Errorf("after: %s %s, want 2026-03-27 kz.consent_withdrawal", got, rule)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'deadline_recomputed' AND actor_id = $1
		AND NOT data ? 'reason' AND data->>'old_rule' = 'default.calendar_30d'`, admin); n != 1 {
		t.Error("the recomputation was not logged with the old rule (and its reason beside the log)")
	}
	if texts := inst.EventTexts(t, "deadline_recomputed"); !slices.Equal(texts, []string{"Перешли на сроки закона РК"}) {
		t.Errorf("the recomputation's reason: %q", texts)
	}
}

func TestAdminRecomputesADeadlineFromTheRequestPage(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "admin@school.example.kz", "Айгуль", "admin")
	inst.AddStaff(t, "agent@school.example.kz", "Daniyar", "agent")
	ref, _ := filed(t, inst, request.Erasure, "ru")
	setStatus(t, inst, ref, "in_progress")
	page := "/staff/requests/" + ref

	agent := inst.SignIn(t, "agent@school.example.kz")
	_, body := inst.Get(t, agent, page)
	if strings.Contains(body, page+"/recompute") {
		t.Error("an agent is offered the recomputation")
	}
	if resp, _ := inst.Post(t, agent, page+"/recompute", url.Values{"_csrf": {apptest.CSRFToken(body)}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent recomputing: %d", resp.StatusCode)
	}

	admin := inst.SignIn(t, "admin@school.example.kz")
	_, body = inst.Get(t, admin, page)
	if !strings.Contains(body, page+"/recompute") {
		t.Fatal("an admin is not offered the recomputation")
	}
	token := apptest.CSRFToken(body)
	if resp, body := inst.Post(t, admin, page+"/recompute", url.Values{"_csrf": {token}, "reason": {"  "}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Укажите причину пересчёта.") {
		t.Errorf("without a reason: %d", resp.StatusCode)
	}
	if resp, _ := inst.Post(t, admin, page+"/recompute", url.Values{"_csrf": {token}, "reason": {"Проверка после обновления"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("recompute: %d", resp.StatusCode)
	}
	if texts := inst.EventTexts(t, "deadline_recomputed"); !slices.Equal(texts, []string{"Проверка после обновления"}) {
		t.Errorf("the recomputation was not logged with its reason: %q", texts)
	}
}
