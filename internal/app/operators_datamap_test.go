package app_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// Each operator's data map is its own (issue 15): both maps name a system
// "lms", each on the operator's own server; gathering for one reads that
// one's server only.
func TestEachOperatorsGatheringReadsOnlyItsOwnSystems(t *testing.T) {
	webLMS, flexLMS := testkit.LMSPostgres(t), testkit.LMSPostgres(t)
	// The same student, told apart by the city each operator's system holds.
	for srv, city := range map[*testkit.LMSServer]string{&webLMS: "Webstapero-Qala", &flexLMS: "Flextok-Qala"} {
		if _, err := srv.DB.Exec(`UPDATE students SET city = $1 WHERE id = 1`, city); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile(testkit.RepoFile("deploy", "datamaps", "lms-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	webMap := testkit.RepoFile("deploy", "datamaps", "lms-example.yaml")
	flexMap := filepath.Join(t.TempDir(), "flextok.yaml")
	flexText := strings.NewReplacer("LMS_DATABASE_URL", "FLEXTOK_LMS_URL", "LMS_DATABASE_CHANGE_URL", "FLEXTOK_LMS_CHANGE_URL").Replace(string(example))
	if err := os.WriteFile(flexMap, []byte(flexText), 0o600); err != nil {
		t.Fatal(err)
	}
	file := issueOperatorsFile
	file = strings.Replace(file, "    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz\n", "    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz\n    DATA_MAP_FILE: "+webMap+"\n", 1)
	file += "    DATA_MAP_FILE: " + flexMap + "\n"
	d, srv, _ := operatorsFrom(t, file, map[string]string{
		"VERIFY_EMAIL": "false", "LMS_ERASURE_HASH_KEY": testkit.LMSHashKey,
		"LMS_DATABASE_URL": webLMS.Reader, "LMS_DATABASE_CHANGE_URL": webLMS.Changer,
		"FLEXTOK_LMS_URL": flexLMS.Reader, "FLEXTOK_LMS_CHANGE_URL": flexLMS.Changer,
	})

	body := encode(t, map[string]any{"type": "access", "access_scope": "copy", "full_name": "Айгерім Нұрланқызы",
		"email": "aigerim@example.kz", "locale": "ru", "consent": true})
	for _, c := range []struct{ slug, host, own, other string }{
		{"webstapero", "privacy.webstapero.kz", "Webstapero-Qala", "Flextok-Qala"},
		{"flextok", "privacy.flextokxumare.kz", "Flextok-Qala", "Webstapero-Qala"},
	} {
		a, _ := d.App(c.slug)
		code, out := on(t, srv, c.host, http.MethodPost, "/api/v1/requests", body)
		if code != http.StatusCreated {
			t.Fatalf("%s: intake %d: %s", c.slug, code, out)
		}
		ref := between(out, `"reference":"`, `"`)
		pkg := gathered(t, a, ref)
		if !strings.Contains(pkg, c.own) || strings.Contains(pkg, c.other) {
			t.Errorf("%s's package: holds its own system's %q: %v, the other's %q: %v",
				c.slug, c.own, strings.Contains(pkg, c.own), c.other, strings.Contains(pkg, c.other))
		}
	}
}

// gathered has an agent of a's operator check the identity and gather the
// request's data, and returns the access package's files, joined.
func gathered(t *testing.T, a *app.App, ref string) string {
	t.Helper()
	ctx := context.Background()
	agent, err := a.Auth.CreateWithPassword(ctx, auth.AccountInput{Email: "agent+" + strings.ToLower(ref) + "@example.kz", Name: "Агент",
		Role: string(auth.Agent), Locale: "ru", Password: apptest.StaffPassword})
	if err != nil {
		t.Fatal(err)
	}
	by := request.ByStaff(agent.ID)
	if _, err := a.Desk.RecordIdentityCheck(ctx, ref, by, request.IdentityVideoCall, "Удостоверение по видеосвязи"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Fulfil.Gather(ctx, ref, by); err != nil {
		t.Fatal(err)
	}
	r, err := a.Store.RequestByReference(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := a.Fulfil.StaffPackage(ctx, r, agent.ID)
		if err == nil {
			var all strings.Builder
			for _, content := range zipFiles(t, b) {
				all.WriteString(content)
			}
			return all.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no access package after 30 s: %v", ref, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
