package e2e

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// TestAgentGathersReviewsAndSendsTheAccessPackageInTheBrowser walks the
// request page's data map section as an agent would: the gathering waits
// for the identity check, the agent gathers, reviews the draft package's
// counts and preview, and completes with it; the requester's download is
// the package.
func TestAgentGathersReviewsAndSendsTheAccessPackageInTheBrowser(t *testing.T) {
	srv := testkit.LMSPostgres(t)
	inst := apptest.Start(t, map[string]string{
		"DATA_MAP_FILE":           testkit.RepoFile("deploy", "datamaps", "lms-example.yaml"),
		"LMS_DATABASE_URL":        srv.Reader,
		"LMS_DATABASE_CHANGE_URL": srv.Changer,
		"LMS_ERASURE_HASH_KEY":    testkit.LMSHashKey,
	})
	const agentEmail = "daniyar@school.example.kz"
	inst.AddStaff(t, agentEmail, "Данияр Агентов", auth.Agent)
	target := fileRequest(t, inst, request.Access, "ru", "aigerim@example.kz")
	setStatus(t, inst, target.Reference, "new")

	ctx := browser(t)
	signIn(t, ctx, inst, agentEmail)
	open(t, ctx, inst.URL+"/staff/requests/"+target.Reference)
	if got := text(t, ctx, "#fulfil-blocked"); !strings.Contains(got, "личность заявителя не установлена") {
		t.Errorf("before the identity check the section reads %q", got)
	}
	if get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("gather") !== null`)) {
		t.Error("Gather data is offered before the identity check")
	}
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#identity-method-select"), "video_call"),
		chromedp.SendKeys(chromedp.CSS("#identity-note"), "Удостоверение показано по видеосвязи"),
		chromedp.Click(`//section[@id="identity"]//button[normalize-space()="Отметить проверку"]`),
		chromedp.WaitVisible(chromedp.CSS("#identity-method")),
	)
	run(t, ctx,
		chromedp.Click(`//form[@id="gather"]//button[normalize-space()="Собрать данные"]`),
		chromedp.WaitVisible(chromedp.CSS("#fulfil-steps")),
	)
	deadline := time.Now().Add(20 * time.Second)
	for inst.Count(t, `SELECT count(*) FROM fulfilments WHERE package_at IS NOT NULL`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the package was not built")
		}
		time.Sleep(50 * time.Millisecond)
	}
	open(t, ctx, inst.URL+"/staff/requests/"+target.Reference)
	if got := text(t, ctx, "#fulfil-steps"); !strings.Contains(got, "lms") || !strings.Contains(got, "Готово") || !strings.Contains(got, "Журнал входов: 2 записи") {
		t.Errorf("the steps read %q", got)
	}
	pkg := text(t, ctx, "#fulfil-package")
	for _, want := range []string{"personal-data-" + target.Reference + ".zip", "Сертификаты — 1 запись", "LMS-2025-000117", "Оплаты — 2 записи"} {
		if !strings.Contains(pkg, want) {
			t.Errorf("the package's review lacks %q:\n%s", want, pkg)
		}
	}
	if strings.Contains(pkg, "Данияр Кенжебеков") {
		t.Error("the review shows another student")
	}
	testkit.Axe(t, ctx)

	response := "Ваши данные — в приложенном архиве."
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#complete-response"), response),
		chromedp.Click(chromedp.CSS("#complete-package")),
		chromedp.Click(`//div[@id="complete"]//button[normalize-space()="Посмотреть письмо"]`),
		chromedp.WaitVisible(chromedp.CSS("#preview-text")),
	)
	if previewed := text(t, ctx, "#preview-text"); !strings.Contains(previewed, response) || !strings.Contains(previewed, "/d/••••••") {
		t.Errorf("the preview lacks the response or the download link:\n%s", previewed)
	}
	testkit.Axe(t, ctx)
	run(t, ctx,
		chromedp.Click(`//div[@id="complete"]//button[normalize-space()="Отправить"]`),
		chromedp.WaitVisible(timelineStep("Завершён: ответ отправлен")),
	)
	_, links := mailAbout(t, inst, target.Email, "Ответ на ваш запрос")
	if links.Download == "" {
		t.Fatal("the answer carries no download link")
	}
	b := []byte(fetch(t, links.Download))
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the download is no ZIP: %v", err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if !names["data.json"] || !names["csv/lms/students.csv"] {
		t.Errorf("the download holds %v", names)
	}
}
