package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/testkit"
)

// staffEvent is one row of the event log about staff accounts.
type staffEvent struct {
	Kind    string
	Actor   string
	ActorID int64
	Data    map[string]any
}

func staffEvents(t *testing.T, inst *apptest.Instance, kind string) []staffEvent {
	t.Helper()
	rows, err := inst.Pool.Query(context.Background(), `
		SELECT kind, actor, coalesce(actor_id, 0), data FROM events
		WHERE request_id IS NULL AND kind = $1 ORDER BY id`, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []staffEvent
	for rows.Next() {
		var e staffEvent
		if err := rows.Scan(&e.Kind, &e.Actor, &e.ActorID, &e.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func dataID(e staffEvent, key string) int64 {
	f, _ := e.Data[key].(float64)
	return int64(f)
}

func signInForm(token, email, password string) url.Values {
	return url.Values{"_csrf": {token}, "email": {email}, "password": {password}}
}

// signedOut reports whether c is sent to the sign-in page from /staff.
func signedOut(t *testing.T, inst *apptest.Instance, c *http.Client) bool {
	t.Helper()
	resp, _ := inst.Get(t, c, "/staff")
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/staff/login?next=")
}

func cliEnv(inst *apptest.Instance, extra map[string]string) func(string) (string, bool) {
	vars := map[string]string{
		"DATABASE_URL":   inst.Pool.Config().ConnString(),
		"ENCRYPTION_KEY": testkit.EncryptionKey,
		"LOG_LEVEL":      "error",
		"ORG_NAME":       "Онлайн-школа",
	}
	maps.Copy(vars, extra)
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

func runCLI(inst *apptest.Instance, stdin string, args ...string) (int, string, string) {
	return runCLIWith(inst, nil, stdin, args...)
}

// runCLIWith runs a command with env on top of the instance's.
func runCLIWith(inst *apptest.Instance, env map[string]string, stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	ctx := app.WithStdin(context.Background(), strings.NewReader(stdin))
	code := app.Main(ctx, args, cliEnv(inst, env), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUserAddCreatesAnAccountThatSignsIn(t *testing.T) {
	inst := apptest.Start(t, nil)
	args := []string{"user", "add", "--email", "Aida@School.example.kz", "--name", "Аида Сейтова", "--role", "admin"}

	code, _, stderr := runCLI(inst, "short pw\n", args...)
	if code != 1 || !strings.Contains(stderr, "password too short") {
		t.Errorf("weak password: exit %d, %q", code, stderr)
	}
	if n := inst.Count(t, `SELECT count(*) FROM staff`); n != 0 {
		t.Fatalf("a weak password created %d accounts", n)
	}
	code, stdout, stderr := runCLI(inst, apptest.StaffPassword+"\n", args...)
	if code != 0 || !strings.Contains(stdout, "created admin Aida@School.example.kz") {
		t.Fatalf("user add: exit %d, %q %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(inst, apptest.StaffPassword+"\n", "user", "add", "--email", "aida@school.example.kz", "--name", "Другая", "--role", "agent")
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("duplicate (other letter case): exit %d, %q", code, stderr)
	}
	code, _, _ = runCLI(inst, apptest.StaffPassword+"\n", "user", "add", "--email", "x@example.kz", "--name", "X", "--role", "owner")
	if code != 1 {
		t.Errorf("unknown role: exit %d", code)
	}
	code, _, stderr = runCLI(inst, "", "user", "add", "--email", "x@example.kz", "--name", "X", "--role", "agent")
	if code != 1 || !strings.Contains(stderr, "no password") {
		t.Errorf("empty standard input: exit %d, %q", code, stderr)
	}
	code, stdout, _ = runCLI(inst, "", "user", "list")
	if code != 0 || !strings.Contains(stdout, "Aida@School.example.kz") || !strings.Contains(stdout, "admin") {
		t.Errorf("user list: exit %d, %q", code, stdout)
	}
	if code, stdout, _ := runCLI(inst, "", "help", "user"); code != 0 || !strings.Contains(stdout, "--role admin|agent|auditor") {
		t.Errorf("help user: exit %d, %q", code, stdout)
	}

	// The account works, by any letter case of its address.
	c := inst.SignIn(t, "aida@school.example.kz")
	resp, page := inst.Get(t, c, "/staff")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Открытые запросы") || !strings.Contains(page, "Аида Сейтова") {
		t.Errorf("staff home after sign-in: %d", resp.StatusCode)
	}
	created := staffEvents(t, inst, "staff_created")
	if len(created) != 1 || created[0].Actor != "system" || created[0].Data["via"] != "cli" {
		t.Errorf("creation event: %+v", created)
	}
}

func TestWrongEmailAndWrongPasswordGetTheSameAnswer(t *testing.T) {
	inst := apptest.Start(t, nil)
	admin := inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	c := apptest.Client(t)
	token := inst.StaffToken(t, c)

	respPw, wrongPassword := inst.Post(t, c, "/staff/login", signInForm(token, "admin@school.example.kz", "not the password at all"))
	respEmail, unknownEmail := inst.Post(t, c, "/staff/login", signInForm(token, "nobody@school.example.kz", "not the password at all"))
	if respPw.StatusCode != respEmail.StatusCode || respPw.StatusCode != http.StatusOK {
		t.Errorf("status: wrong password %d, unknown email %d", respPw.StatusCode, respEmail.StatusCode)
	}
	same := strings.ReplaceAll(mainOf(unknownEmail), "nobody@", "admin@")
	if mainOf(wrongPassword) != same || !strings.Contains(wrongPassword, "Неверный адрес электронной почты или пароль") {
		t.Error("a wrong password and an unknown email must get the same page")
	}
	for _, r := range []*http.Response{respPw, respEmail} {
		for _, ck := range r.Cookies() {
			if ck.Name == "rd_staff" && ck.Value != "" {
				t.Error("a failed sign-in got a session cookie")
			}
		}
	}

	resp, _ := inst.Post(t, c, "/staff/login", url.Values{
		"_csrf": {token}, "email": {"admin@school.example.kz"}, "password": {apptest.StaffPassword}, "next": {"/staff/users"},
	})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/staff/users" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "rd_staff" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/staff" || session.Secure {
		t.Errorf("session cookie: %+v", session)
	}
	if n := inst.Count(t, `SELECT count(*) FROM sessions WHERE token = $1`, session.Value); n != 0 {
		t.Error("the sessions table holds the cookie's token itself, not its hash")
	}
	// A redirect after sign-in stays on this site: a next that would leave
	// it lands on the queue.
	c2 := apptest.Client(t)
	resp, _ = inst.Post(t, c2, "/staff/login", url.Values{
		"_csrf": {inst.StaffToken(t, c2)}, "email": {"admin@school.example.kz"}, "password": {apptest.StaffPassword}, "next": {"//evil.example/"},
	})
	if resp.Header.Get("Location") != "/staff" {
		t.Errorf("next=//evil.example/ redirected to %q, want the queue /staff", resp.Header.Get("Location"))
	}

	failed := staffEvents(t, inst, "staff_signin_failed")
	if len(failed) != 2 || dataID(failed[0], "staff_id") != admin.ID || failed[0].Data["reason"] != "bad_password" ||
		dataID(failed[1], "staff_id") != 0 || failed[1].Data["reason"] != "unknown" {
		t.Errorf("failure events: %+v", failed)
	}
	ok := staffEvents(t, inst, "staff_signed_in")
	if len(ok) != 2 || ok[0].Actor != "staff" || ok[0].ActorID != admin.ID {
		t.Errorf("sign-in events: %+v", ok)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE data::text LIKE '%@%'`); n != 0 {
		t.Errorf("%d events hold an email address", n)
	}
}

func TestSignInIsThrottledPerAccountAndPerAddress(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "aruzhan@school.example.kz", "Аружан", auth.Agent)
	inst.AddStaff(t, "bolat@school.example.kz", "Болат", auth.Agent)
	c := apptest.Client(t)
	token := inst.StaffToken(t, c)

	for i := 0; i < 5; i++ {
		inst.Post(t, c, "/staff/login", signInForm(token, "aruzhan@school.example.kz", "wrong password "+string(rune('a'+i))))
	}
	resp, page := inst.Post(t, c, "/staff/login", signInForm(token, "aruzhan@school.example.kz", apptest.StaffPassword))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Слишком много неудачных попыток") {
		t.Fatalf("sixth attempt on one account: %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another account from the same address is not held up by it.
	inst.SignIn(t, "bolat@school.example.kz")
	// Nor is the account once its lock (a minute, the first time) is over.
	inst.Clock.Advance(time.Minute)
	inst.SignIn(t, "aruzhan@school.example.kz")

	// Twenty failures from one address, across many emails, stop that
	// address (a day without failures has forgotten the earlier five).
	inst.Clock.Advance(25 * time.Hour)
	for i := 0; i < 20; i++ {
		email := "guess" + string(rune('a'+i)) + "@school.example.kz"
		if resp, _ := inst.Post(t, c, "/staff/login", signInForm(token, email, "wrong password here")); resp.StatusCode != http.StatusOK {
			t.Fatalf("failure %d answered %d", i+1, resp.StatusCode)
		}
	}
	if resp, _ := inst.Post(t, c, "/staff/login", signInForm(token, "bolat@school.example.kz", apptest.StaffPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 20 failures from the address: %d, want 429", resp.StatusCode)
	}
	inst.Clock.Advance(time.Minute)
	inst.SignIn(t, "bolat@school.example.kz")

	if n := len(staffEvents(t, inst, "staff_signin_failed")); n != 5+1+20+1 {
		t.Errorf("%d failure events, want every failed and refused attempt logged", n)
	}
}

var secretOnPage = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := auth.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPIsAskedForOnceEnabled(t *testing.T) {
	inst := apptest.Start(t, nil)
	me := inst.AddStaff(t, "dana@school.example.kz", "Дана", auth.Agent)
	c := inst.SignIn(t, "dana@school.example.kz")
	_, page := inst.Get(t, c, "/staff/account")
	token := apptest.CSRFToken(page)

	if resp, _ := inst.Post(t, c, "/staff/account/totp", url.Values{"_csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start enrolment: %d", resp.StatusCode)
	}
	_, page = inst.Get(t, c, "/staff/account")
	m := secretOnPage.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "otpauth://totp/") || !strings.Contains(page, "<svg") {
		t.Fatal("the account page shows no secret, otpauth URI or QR code")
	}
	secret := m[1]
	if resp, _ := inst.Post(t, c, "/staff/account/totp/confirm", url.Values{"_csrf": {token}, "code": {"000000"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("wrong confirmation code: %d", resp.StatusCode)
	}
	if resp, _ := inst.Post(t, c, "/staff/account/totp/confirm", url.Values{"_csrf": {token}, "code": {code(t, secret, inst.Clock.Now())}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	if _, page := inst.Get(t, c, "/staff/account"); !strings.Contains(page, "Двухфакторная аутентификация включена") {
		t.Error("no confirmation that the second factor is on")
	}

	// Now the password alone does not sign in.
	other := apptest.Client(t)
	resp, _ := inst.Post(t, other, "/staff/login", signInForm(inst.StaffToken(t, other), "dana@school.example.kz", apptest.StaffPassword))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/staff/login/code" {
		t.Fatalf("password step: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !signedOut(t, inst, other) {
		t.Fatal("signed in without the code")
	}
	_, codePage := inst.Get(t, other, "/staff/login/code")
	otherToken := apptest.CSRFToken(codePage)
	// The code used to confirm is spent, even inside its 30 seconds.
	if resp, page := inst.Post(t, other, "/staff/login/code", url.Values{"_csrf": {otherToken}, "code": {code(t, secret, inst.Clock.Now())}}); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Код неверный или уже использован") {
		t.Errorf("a used code: %d", resp.StatusCode)
	}
	inst.Clock.Advance(30 * time.Second)
	resp, _ = inst.Post(t, other, "/staff/login/code", url.Values{"_csrf": {otherToken}, "code": {code(t, secret, inst.Clock.Now())}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/staff" || signedOut(t, inst, other) {
		t.Fatalf("code step: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The code step does not wait for ever.
	late := apptest.Client(t)
	inst.Post(t, late, "/staff/login", signInForm(inst.StaffToken(t, late), "dana@school.example.kz", apptest.StaffPassword))
	inst.Clock.Advance(6 * time.Minute)
	_, latePage := inst.Get(t, late, "/staff/login")
	resp, _ = inst.Post(t, late, "/staff/login/code", url.Values{"_csrf": {apptest.CSRFToken(latePage)}, "code": {code(t, secret, inst.Clock.Now())}})
	if resp.Header.Get("Location") != "/staff/login" || !signedOut(t, inst, late) {
		t.Errorf("a code 6 minutes after the password: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Switching it off takes a fresh code.
	inst.Clock.Advance(30 * time.Second)
	_, page = inst.Get(t, other, "/staff/account")
	if resp, _ := inst.Post(t, other, "/staff/account/totp/disable", url.Values{"_csrf": {apptest.CSRFToken(page)}, "code": {"123456"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("disable with a wrong code: %d", resp.StatusCode)
	}
	inst.Clock.Advance(30 * time.Second)
	if resp, _ := inst.Post(t, other, "/staff/account/totp/disable", url.Values{"_csrf": {apptest.CSRFToken(page)}, "code": {code(t, secret, inst.Clock.Now())}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: %d", resp.StatusCode)
	}
	inst.SignIn(t, "dana@school.example.kz")

	for _, kind := range []string{"staff_totp_enabled", "staff_totp_disabled"} {
		if ev := staffEvents(t, inst, kind); len(ev) != 1 || ev[0].ActorID != me.ID {
			t.Errorf("%s events: %+v", kind, ev)
		}
	}
	ins := staffEvents(t, inst, "staff_signed_in")
	if len(ins) != 3 || ins[1].Data["method"] != "password+totp" {
		t.Errorf("sign-in events: %+v", ins)
	}
}

func TestSignOutAndSignOutEverywhere(t *testing.T) {
	inst := apptest.Start(t, nil)
	me := inst.AddStaff(t, "erlan@school.example.kz", "Ерлан", auth.Agent)
	laptop := inst.SignIn(t, "erlan@school.example.kz")
	phone := inst.SignIn(t, "erlan@school.example.kz")

	_, page := inst.Get(t, laptop, "/staff")
	resp, _ := inst.Post(t, laptop, "/staff/logout", url.Values{"_csrf": {apptest.CSRFToken(page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/staff/login" {
		t.Fatalf("sign out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !signedOut(t, inst, laptop) || signedOut(t, inst, phone) {
		t.Fatal("signing out must end this session and only this one")
	}

	laptop = inst.SignIn(t, "erlan@school.example.kz")
	_, page = inst.Get(t, phone, "/staff/account")
	if resp, _ := inst.Post(t, phone, "/staff/account/signout-everywhere", url.Values{"_csrf": {apptest.CSRFToken(page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", resp.StatusCode)
	}
	if !signedOut(t, inst, laptop) || !signedOut(t, inst, phone) {
		t.Error("sign out everywhere left a session alive")
	}
	inst.SignIn(t, "erlan@school.example.kz")

	if ev := staffEvents(t, inst, "staff_signed_out"); len(ev) != 1 || ev[0].ActorID != me.ID {
		t.Errorf("sign-out events: %+v", ev)
	}
	if ev := staffEvents(t, inst, "staff_sessions_ended"); len(ev) != 1 || ev[0].ActorID != me.ID || dataID(ev[0], "staff_id") != me.ID {
		t.Errorf("sessions-ended events: %+v", ev)
	}
}

func TestSessionsEndAfterIdleTimeAndAfterTwelveHours(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "gulnar@school.example.kz", "Гульнар", auth.Auditor)
	c := inst.SignIn(t, "gulnar@school.example.kz")
	inst.Clock.Advance(2*time.Hour + time.Minute)
	if !signedOut(t, inst, c) {
		t.Error("a session idle for over 2 hours is still alive")
	}
	c = inst.SignIn(t, "gulnar@school.example.kz")
	for i := 0; i < 12; i++ {
		inst.Clock.Advance(time.Hour)
		if signedOut(t, inst, c) {
			t.Fatalf("an active session ended after %d hours", i+1)
		}
	}
	inst.Clock.Advance(time.Hour)
	if !signedOut(t, inst, c) {
		t.Error("a session is alive 13 hours after sign-in")
	}
}

// sessionRows is every stored session's token and row version (xmin): it
// changes whenever a session's row is written.
func sessionRows(t *testing.T, inst *apptest.Instance) string {
	t.Helper()
	var rows string
	if err := inst.Pool.QueryRow(context.Background(),
		`SELECT coalesce(string_agg(token || ':' || xmin::text, ',' ORDER BY token), '') FROM sessions`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestAPageWritesItsSessionAtMostOnceAMinute(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "gulnar@school.example.kz", "Гульнар", auth.Auditor)
	c := inst.SignIn(t, "gulnar@school.example.kz")
	pages := []string{"/staff", "/staff/dashboard", "/staff?tab=all", "/staff/account"}
	for _, p := range pages {
		if resp, _ := inst.Get(t, c, p); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
	before := sessionRows(t, inst)
	for i, p := range pages {
		inst.Clock.Advance(10 * time.Second)
		inst.Get(t, c, p)
		if now := sessionRows(t, inst); now != before {
			t.Fatalf("page %d (%s), %d s after the last write, wrote the session: %q, then %q", i+1, p, 10*(i+1), before, now)
		}
	}
	inst.Clock.Advance(20 * time.Second) // a minute since the last write
	inst.Get(t, c, "/staff")
	written := sessionRows(t, inst)
	if written == before {
		t.Fatal("a page a minute after the last write did not write the session's last-seen time")
	}
	inst.Get(t, c, "/staff")
	if now := sessionRows(t, inst); now != written {
		t.Errorf("the page right after the write wrote again: %q, then %q", written, now)
	}
}

func TestTheIdleTimeoutCountsFromTheLastWrittenPage(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "gulnar@school.example.kz", "Гульнар", auth.Auditor)
	c := inst.SignIn(t, "gulnar@school.example.kz")
	// A page every 20 s for over 10 minutes keeps the session alive; its
	// last-seen time moves on a minute at a time (last written at 600 s, the
	// last page at 620 s).
	for range 31 {
		inst.Clock.Advance(20 * time.Second)
		if signedOut(t, inst, c) {
			t.Fatal("an active session ended")
		}
	}
	inst.Clock.Advance(2*time.Hour - 21*time.Second) // 2 h less 1 s after the last write
	if signedOut(t, inst, c) {
		t.Fatal("a session ended before 2 hours had passed since its last-seen time")
	}
	// A page within the minute is not written: the idle timeout counts from
	// the write before it, so it ends the session up to a minute early.
	inst.Clock.Advance(50 * time.Second)
	if signedOut(t, inst, c) {
		t.Fatal("an active session ended")
	}
	inst.Clock.Advance(2*time.Hour - 50*time.Second + time.Second)
	if !signedOut(t, inst, c) {
		t.Error("a session 2 hours and a second after its last-seen time is still alive")
	}
}

func TestDisablingAndRoleChangesApplyOnTheNextRequest(t *testing.T) {
	inst := apptest.Start(t, nil)
	admin := inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	agent := inst.AddStaff(t, "kairat@school.example.kz", "Кайрат", auth.Agent)
	ac := inst.SignIn(t, "admin@school.example.kz")
	kc := inst.SignIn(t, "kairat@school.example.kz")
	_, page := inst.Get(t, ac, "/staff/users")
	token := apptest.CSRFToken(page)
	path := func(action string) string { return "/staff/users/" + itoa(agent.ID) + "/" + action }

	if resp, body := inst.Get(t, kc, "/staff/users"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Нет доступа") {
		t.Fatalf("agent on the staff list: %d", resp.StatusCode)
	}
	inst.Post(t, ac, path("role"), url.Values{"_csrf": {token}, "role": {"auditor"}})
	if resp, _ := inst.Get(t, kc, "/staff/users"); resp.StatusCode != http.StatusOK {
		t.Errorf("after becoming auditor: %d on the staff list", resp.StatusCode)
	}
	_, kpage := inst.Get(t, kc, "/staff/users")
	if resp, _ := inst.Post(t, kc, path("disable"), url.Values{"_csrf": {apptest.CSRFToken(kpage)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor disabling an account: %d", resp.StatusCode)
	}

	inst.Post(t, ac, path("disable"), url.Values{"_csrf": {token}})
	if !signedOut(t, inst, kc) {
		t.Fatal("a disabled account is still signed in")
	}
	c := apptest.Client(t)
	resp, body := inst.Post(t, c, "/staff/login", signInForm(inst.StaffToken(t, c), "kairat@school.example.kz", apptest.StaffPassword))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Неверный адрес электронной почты или пароль") {
		t.Errorf("a disabled account signing in: %d", resp.StatusCode)
	}
	inst.Post(t, ac, path("enable"), url.Values{"_csrf": {token}})
	if !signedOut(t, inst, kc) {
		t.Error("enabling the account brought an old session back")
	}
	inst.SignIn(t, "kairat@school.example.kz")

	// An admin cannot lock themselves out.
	inst.Post(t, ac, "/staff/users/"+itoa(admin.ID)+"/disable", url.Values{"_csrf": {token}})
	if _, page := inst.Get(t, ac, "/staff/users"); !strings.Contains(page, "Свою роль и свою учётную запись изменить нельзя") {
		t.Error("no word on refusing to disable oneself")
	}

	for kind, want := range map[string]int{"staff_role_changed": 1, "staff_disabled": 1, "staff_enabled": 1} {
		ev := staffEvents(t, inst, kind)
		if len(ev) != want || ev[0].Actor != "staff" || ev[0].ActorID != admin.ID || dataID(ev[0], "staff_id") != agent.ID {
			t.Errorf("%s events: %+v", kind, ev)
		}
	}
	if ev := staffEvents(t, inst, "staff_role_changed"); ev[0].Data["from"] != "agent" || ev[0].Data["to"] != "auditor" {
		t.Errorf("role change event: %+v", ev[0].Data)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestEveryStaffRouteAnswersEveryRoleAsThePermissionTableSays walks the
// route table: a new staff route is tested by being added.
func TestEveryStaffRouteAnswersEveryRoleAsThePermissionTableSays(t *testing.T) {
	inst := apptest.Start(t, nil)
	accounts := map[auth.Role]string{}
	for _, r := range auth.Roles() {
		accounts[r] = string(r) + "@school.example.kz"
		inst.AddStaff(t, accounts[r], "Сотрудник "+string(r), r)
	}
	target := inst.AddStaff(t, "target@school.example.kz", "Цель", auth.Agent)
	fill := strings.NewReplacer(":id", itoa(target.ID), ":token", strings.Repeat("A", 43))

	staffRoutes := 0
	writes := 0
	for key, access := range inst.App.Web.RouteAccess() {
		method, path, _ := strings.Cut(key, " ")
		if !strings.HasPrefix(path, "/staff") {
			continue
		}
		if access == "public" {
			continue // sign-in and invitation pages
		}
		perm, ok := strings.CutPrefix(access, "staff:")
		if !ok || !contains(auth.Perms(), auth.Perm(perm)) {
			t.Errorf("%s: access %q names no known permission", key, access)
			continue
		}
		staffRoutes++
		if auth.Perm(perm).Writes() {
			writes++
			if auth.Can(auth.Auditor, auth.Perm(perm)) {
				t.Errorf("%s: an auditor may write", key)
			}
		}
		url := fill.Replace(path)
		for _, role := range []auth.Role{auth.Admin, auth.Agent, auth.Auditor, ""} {
			var c *http.Client
			if role == "" {
				c = apptest.Client(t)
			} else {
				c = inst.SignIn(t, accounts[role])
			}
			resp := call(t, inst, c, method, url, true)
			loc := resp.Header.Get("Location")
			toSignIn := resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/staff/login?next=")
			switch {
			case role == "":
				if !toSignIn {
					t.Errorf("%s anonymous: %d to %q, want 303 to sign-in", key, resp.StatusCode, loc)
				}
			case auth.Perm(perm) == auth.PermPlatform:
				// The deployment's flag, no role's: not advertised.
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s as %s: %d, want 404", key, role, resp.StatusCode)
				}
			case !auth.Can(role, auth.Perm(perm)):
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s as %s: %d, want 403", key, role, resp.StatusCode)
				}
			default:
				if resp.StatusCode == http.StatusForbidden || resp.StatusCode >= 500 || toSignIn {
					t.Errorf("%s as %s: %d to %q, want it allowed", key, role, resp.StatusCode, loc)
				}
			}
		}
		// A form without its token is refused, even to an admin.
		if method == http.MethodPost {
			if resp := call(t, inst, inst.SignIn(t, accounts[auth.Admin]), method, url, false); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s without CSRF token: %d, want 403", key, resp.StatusCode)
			}
		}
	}
	if staffRoutes < 10 || writes < 4 {
		t.Errorf("found %d staff routes, %d of them writes: is the route table read?", staffRoutes, writes)
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// call sends an empty request (a form with only its token, when withToken).
func call(t *testing.T, inst *apptest.Instance, c *http.Client, method, path string, withToken bool) *http.Response {
	t.Helper()
	if method == http.MethodGet {
		resp, _ := inst.Get(t, c, path)
		return resp
	}
	form := url.Values{}
	if withToken {
		form.Set("_csrf", inst.StaffToken(t, c))
	} else {
		inst.StaffToken(t, c) // the cookie half of the token is there; the form half is not
	}
	resp, _ := inst.Post(t, c, path, form)
	return resp
}

var passwordLink = regexp.MustCompile(`/staff/password/[A-Za-z0-9_-]{43}`)

func TestAnAdminInvitesAStaffMemberWhoSetsTheirPassword(t *testing.T) {
	inst := apptest.Start(t, nil)
	admin := inst.AddStaff(t, "admin@school.example.kz", "Айгуль Админова", auth.Admin)
	ac := inst.SignIn(t, "admin@school.example.kz")
	_, page := inst.Get(t, ac, "/staff/users")
	token := apptest.CSRFToken(page)

	resp, body := inst.Post(t, ac, "/staff/users", url.Values{"_csrf": {token}, "name": {"Nurlan"}, "email": {"not an email"}, "role": {"agent"}, "locale": {"en"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Введите адрес электронной почты") {
		t.Errorf("invalid invitation: %d", resp.StatusCode)
	}
	resp, _ = inst.Post(t, ac, "/staff/users", url.Values{"_csrf": {token}, "name": {"Nurlan"}, "email": {"nurlan@school.example.kz"}, "role": {"agent"}, "locale": {"en"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	if resp, body := inst.Post(t, ac, "/staff/users", url.Values{"_csrf": {token}, "name": {"Again"}, "email": {"NURLAN@school.example.kz"}, "role": {"agent"}, "locale": {"ru"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "уже есть") {
		t.Errorf("second invitation to the same address: %d", resp.StatusCode)
	}
	msgs := inst.SMTP.WaitForMessages(t, 1, 10*time.Second)
	m := msgs[0]
	link := passwordLink.FindString(m.Text)
	if len(m.To) != 1 || m.To[0] != "nurlan@school.example.kz" || link == "" || !strings.Contains(m.Subject, "Invitation") ||
		!strings.Contains(m.Text, "Айгуль Админова invites you") || !strings.Contains(m.HTML, link) {
		t.Fatalf("invitation email: to %v, subject %q, text %q", m.To, m.Subject, m.Text)
	}
	// The server accepts the message a moment before the delivery is recorded.
	waitFor(t, 10*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM emails WHERE kind = 'staff_invite' AND request_id IS NULL AND secrets IS NULL AND state = 'sent'`) == 1
	})
	emails, err := inst.App.Store.RecentEmails(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range emails {
		token := strings.TrimPrefix(link, "/staff/password/")
		if e.Kind == "staff_invite" && (strings.Contains(e.Text, token) || strings.Contains(e.HTML, token) || len(e.Secrets) > 0) {
			t.Error("the invitation's link is kept in the database after sending")
		}
	}

	c := apptest.Client(t)
	resp, page = inst.Get(t, c, link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "Set your password") {
		t.Fatalf("invitation page: %d", resp.StatusCode)
	}
	ptoken := apptest.CSRFToken(page)
	if resp, body := inst.Post(t, c, link, url.Values{"_csrf": {ptoken}, "password": {"short"}, "password2": {"short"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at least 12 characters") {
		t.Errorf("weak password: %d", resp.StatusCode)
	}
	if resp, _ := inst.Post(t, c, link, url.Values{"_csrf": {ptoken}, "password": {apptest.StaffPassword}, "password2": {apptest.StaffPassword + "!"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("mismatched passwords: %d", resp.StatusCode)
	}
	if resp, body := inst.Post(t, c, link, url.Values{"_csrf": {ptoken}, "password": {apptest.StaffPassword}, "password2": {apptest.StaffPassword}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password saved") {
		t.Fatalf("set password: %d", resp.StatusCode)
	}
	if resp, _ := inst.Get(t, c, link); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a used invitation: %d", resp.StatusCode)
	}
	nc := inst.SignIn(t, "nurlan@school.example.kz")
	if _, page := inst.Get(t, nc, "/staff"); !strings.Contains(page, `<html lang="en">`) {
		t.Error("the staff member's own language is not used")
	}

	inv := staffEvents(t, inst, "staff_invited")
	if len(inv) != 1 || inv[0].ActorID != admin.ID || inv[0].Data["role"] != "agent" {
		t.Errorf("invitation events: %+v", inv)
	}
	if set := staffEvents(t, inst, "staff_password_set"); len(set) != 1 || set[0].ActorID != dataID(inv[0], "staff_id") {
		t.Errorf("password events: %+v", set)
	}
}

func TestPasswordsAreRehashedWhenTheParametersChange(t *testing.T) {
	inst := apptest.Start(t, nil)
	st := inst.AddStaff(t, "old@school.example.kz", "Старый хеш", auth.Agent)
	weak, err := auth.HashPassword(apptest.StaffPassword, auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Pool.Exec(context.Background(), `UPDATE staff SET password_hash = $2 WHERE id = $1`, st.ID, weak); err != nil {
		t.Fatal(err)
	}
	inst.SignIn(t, "old@school.example.kz")
	if n := inst.Count(t, `SELECT count(*) FROM staff WHERE id = $1 AND password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'`, st.ID); n != 1 {
		t.Error("the old hash was not replaced at sign-in")
	}
	inst.SignIn(t, "old@school.example.kz")
}

func TestStaffPagesRenderInEveryLanguage(t *testing.T) {
	inst := apptest.Start(t, nil)
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	for _, lang := range []string{"ru", "kk", "en"} {
		c := inst.SignIn(t, "admin@school.example.kz")
		inst.Get(t, c, "/lang/"+lang)
		_, page := inst.Get(t, c, "/staff/account")
		inst.Post(t, c, "/staff/account/totp", url.Values{"_csrf": {apptest.CSRFToken(page)}})
		for _, p := range []string{"/staff", "/staff/users", "/staff/account", "/staff/password/" + strings.Repeat("A", 43)} {
			resp, page := inst.Get(t, c, p)
			if resp.StatusCode >= 500 || !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: %d, wrong language or error", lang, p, resp.StatusCode)
			}
			if i := strings.Index(page, "missing:"); i >= 0 {
				t.Errorf("%s %s: untranslated %s", lang, p, page[i:min(len(page), i+60)])
			}
		}
		anon := apptest.Client(t)
		inst.Get(t, anon, "/lang/"+lang)
		if _, page := inst.Get(t, anon, "/staff/login"); strings.Contains(page, "missing:") || !strings.Contains(page, `<html lang="`+lang+`">`) {
			t.Errorf("%s sign-in page: wrong language or untranslated", lang)
		}
	}
}
