package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/request"
)

// A request worked from filing to answer, then left alone: after 120 days
// its files go, after three years its personal data, and what is left still
// makes sense to staff and tells a stranger with the old link nothing.
func TestRetentionDeletesFilesThenPurgesPersonalData(t *testing.T) {
	inst := apptest.Start(t, nil)
	ctx := context.Background()
	desk := inst.App.Desk
	officer := inst.AddStaff(t, "officer@school.example.kz", "Гульнара Сапарова", auth.Admin)
	ref, statusPath := filed(t, inst, request.Rectification, "ru")
	openRef, openStatusPath := filed(t, inst, request.Access, "kk")
	requester := "aigerim.rectification.ru@example.kz"
	setStatus(t, inst, ref, "new")

	if _, err := desk.Start(ctx, ref, request.ByStaff(officer.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.AskForInformation(ctx, ref, request.ByStaff(officer.ID), "Пришлите, пожалуйста, копию удостоверения."); err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	_, page := get(t, c, inst.URL+statusPath)
	body, ctype := multipartReply(t, formToken(t, page), "Вот удостоверение Нурланқызы", map[string][]byte{"udostoverenie_Nurlankyzy.pdf": pdf})
	if resp, _ := postMultipart(t, c, inst.URL+statusPath+"/reply", body, ctype); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	if _, err := desk.Extend(ctx, ref, request.ByStaff(officer.ID), "Данные Нурланқызы хранятся в трёх системах"); err != nil {
		t.Fatal(err)
	}
	r, err := inst.App.Store.RequestByReference(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.App.Store.AddNote(ctx, r.ID, officer.ID, "Звонила Айгерим, просила ускорить", inst.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	answer := &request.Upload{Name: "ispravleno.json", Content: []byte(`{"fixed":true}`)}
	if _, err := desk.Complete(ctx, ref, request.ByStaff(officer.ID), request.Completion{Response: "Фамилия исправлена на Нурланқызы.", File: answer}); err != nil {
		t.Fatal(err)
	}
	_, _, _, download := lastMailTo(t, inst, requester, "Ответ на ваш запрос")
	if download == "" {
		t.Fatal("no download link in the answer")
	}
	closed := inst.Clock.Now()
	sweep := func() jobs.RetentionResult {
		t.Helper()
		res, err := inst.App.Retention.Run(ctx, inst.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := sweep(); res != (jobs.RetentionResult{}) {
		t.Fatalf("a sweep on the day of closing did %+v", res)
	}

	// 119 days on: nothing yet.
	inst.Clock.Set(closed.AddDate(0, 0, 119))
	if res := sweep(); res != (jobs.RetentionResult{}) {
		t.Fatalf("a sweep before FILE_RETENTION did %+v", res)
	}
	// 121 days on: the files go, the rest stays.
	inst.Clock.Set(closed.AddDate(0, 0, 121))
	if res := sweep(); res.FilesRequests != 1 || res.FilesDeleted != 2 || res.Purged.Requests != 0 {
		t.Fatalf("the file sweep did %+v, want the reply's and the answer's file of one request", res)
	}
	if n := inst.Count(t, `SELECT count(*) FROM files WHERE content IS NOT NULL`); n != 0 {
		t.Errorf("%d files still hold content", n)
	}
	if resp, _ := get(t, c, download); resp.StatusCode == http.StatusOK {
		t.Error("the download link still works")
	}
	resp, page := get(t, c, inst.URL+statusPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Вот удостоверение Нурланқызы") {
		t.Fatalf("before the retention period the status page still shows the conversation (%d)", resp.StatusCode)
	}
	staff := inst.SignIn(t, "officer@school.example.kz")
	_, page = get(t, staff, inst.URL+"/staff/requests/"+ref)
	if !strings.Contains(page, "удалён по истечении срока хранения") || !strings.Contains(page, "Содержимое файлов удалено по истечении срока хранения") {
		t.Error("the staff page does not say the files were deleted")
	}
	if !strings.Contains(page, "Айгерим Нурланқызы") || strings.Contains(page, `id="purged"`) {
		t.Error("the file sweep purged more than the files")
	}

	// Three years less a day: still held. Three years and a day: purged.
	inst.Clock.Set(closed.AddDate(3, 0, -1))
	if res := sweep(); res != (jobs.RetentionResult{}) {
		t.Fatalf("a sweep before RETENTION_PERIOD did %+v", res)
	}
	inst.Clock.Set(closed.AddDate(3, 0, 1))
	res := sweep()
	if res.Purged.Requests != 1 || res.Purged.Messages == 0 || res.Purged.Emails == 0 || res.Purged.Notes != 1 || res.Purged.Events != 1 || res.Purged.Files != 2 {
		t.Fatalf("the purge did %+v", res)
	}
	if again := sweep(); again != (jobs.RetentionResult{}) {
		t.Errorf("a second run did %+v", again)
	}

	// The old status link now leads where any unknown link does: nothing
	// tells its holder that there ever was a request behind it.
	resp, page = get(t, c, inst.URL+statusPath)
	_, unknown := get(t, c, inst.URL+"/s/"+strings.Repeat("A", 43))
	if resp.StatusCode != http.StatusNotFound || mainOf(page) != mainOf(unknown) {
		t.Errorf("the purged request's status link: %d, want the not-valid page", resp.StatusCode)
	}
	// The open request, filed the same day, is untouched.
	if resp, page := get(t, c, inst.URL+openStatusPath); resp.StatusCode != http.StatusOK || !strings.Contains(page, openRef) {
		t.Errorf("the open request's status page: %d", resp.StatusCode)
	}
	if r := inst.Request(t, openRef); r.FullName != "Айгерим Нурланқызы" {
		t.Errorf("the open request was purged: %q", r.FullName)
	}

	staff = inst.SignIn(t, "officer@school.example.kz") // the earlier session has long expired
	resp, page = get(t, staff, inst.URL+"/staff/requests/"+ref)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("staff page of a purged request: %d", resp.StatusCode)
	}
	purgedOn := "Персональные данные удалены " + inst.App.Catalog.Printer("ru").DateTime(inst.Clock.Now().In(inst.Config.Location))
	if !strings.Contains(page, `id="purged"`) || !strings.Contains(page, purgedOn) {
		t.Errorf("the staff page does not say when the personal data was purged (want %q)", purgedOn)
	}
	for _, gone := range []string{"Айгерим", "Нурланқызы", "aigerim.", "student-4411", "+7 701", "udostoverenie", "ispravleno", "Прошу рассмотреть", "Звонила", "трёх системах"} {
		if strings.Contains(page, gone) {
			t.Errorf("the staff page still shows %q", gone)
		}
	}
	for _, kept := range []string{ref, "Исправление", "Персональные данные удалены по истечении срока хранения"} {
		if !strings.Contains(page, kept) {
			t.Errorf("the staff page lost %q", kept)
		}
	}
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.actor = 'system' AND e.kind IN ('files_deleted', 'personal_data_purged')`, ref); n != 2 {
		t.Errorf("%d retention events, want files_deleted and personal_data_purged", n)
	}
	if logs := inst.Logs(); strings.Contains(logs, "@example.kz") || strings.Contains(logs, "Айгерим") || strings.Contains(logs, ref) {
		t.Error("the logs name the requester or the request")
	}
}

// The worker the daily periodic job runs is wired to the store, the
// configured periods and the instance's clock.
func TestRetentionJobRunsInTheWorkers(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"RETENTION_PERIOD": "1y", "FILE_RETENTION": "30d"})
	ctx := context.Background()
	ref, _ := filed(t, inst, request.Erasure, "en")
	young, _ := filed(t, inst, request.Access, "en")
	for r, closed := range map[string]time.Time{ref: inst.Clock.Now().AddDate(-1, 0, -1), young: inst.Clock.Now().AddDate(0, -11, 0)} {
		if _, err := inst.Pool.Exec(ctx, `UPDATE requests SET status = 'completed', closed_at = $2 WHERE reference = $1`, r, closed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inst.App.Runner.Client().Insert(ctx, jobs.RetentionArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND purged_at IS NOT NULL AND personal IS NULL`, ref) == 1
	})
	if n := inst.Count(t, `SELECT count(*) FROM requests WHERE reference = $1 AND purged_at IS NULL AND personal IS NOT NULL`, young); n != 1 {
		t.Error("the job purged a request closed eleven months ago under RETENTION_PERIOD=1y")
	}
}
