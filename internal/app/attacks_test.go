package app_test

// The attack corpus: known attacks on a rights portal, each sent through the
// real HTTP surface of a whole instance (PostgreSQL, SMTP, job workers) with
// the outcome expected of it. docs/security.md refers to these tests by name;
// a new attack belongs in one of the tables here.

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

// escapedHTML is s as html/template writes it in text: what a page must
// show for text typed by someone else.
func escapedHTML(s string) string {
	var b strings.Builder
	_ = htmltemplate.Must(htmltemplate.New("").Parse("{{.}}")).Execute(&b, s)
	return b.String()
}

// liveMarkup finds markup that would run or load something if a payload
// reached a page unescaped.
var liveMarkup = regexp.MustCompile(`(?i)<script|<img[^>]*onerror|<svg[^>]*onload|(href|src|action)="\s*javascript:|<iframe`)

// attackBody is a valid erasure request, made for someone else, with one
// field replaced.
func attackBody(t *testing.T, email, field string, value any) string {
	t.Helper()
	b := validBody(request.Erasure, "ru")
	b["email"] = email
	b["on_behalf"], b["subject_name"], b["relationship"] = true, "Алихан Беков", "parent"
	b[field] = value
	return encode(t, b)
}

// TestAttackHostileFieldsAreRefusedWithTheFieldNamed sends header injection,
// null bytes, overlong and invalid text and smuggled fields to the JSON
// intake and the form: each is refused with 422 naming the field, and
// nothing is stored or emailed.
func TestAttackHostileFieldsAreRefusedWithTheFieldNamed(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	for _, a := range []struct {
		name, field string
		value       any
	}{
		{"CR/LF in the name (Bcc header injection)", "full_name", "Ерлан\r\nBcc: victim@example.com"},
		{"bare LF in the name", "full_name", "Ерлан\nBcc: victim@example.com"},
		{"CR/LF in the email", "email", "erlan@example.kz\r\nBcc: victim@example.com"},
		{"a second address in the email", "email", "erlan@example.kz, victim@example.com"},
		{"a display name in the email", "email", "Ерлан <erlan@example.kz>"},
		{"percent-encoded CR/LF in the email", "email", "erlan@example.kz%0d%0abcc:victim@example.com"},
		{"Unicode line separator in the name", "full_name", "Ерлан\u2028Bcc: victim@example.com"},
		{"CR/LF in the person acted for", "subject_name", "Алихан\r\nBcc: victim@example.com"},
		{"null byte in the name", "full_name", "Ерлан\x00Сапаров"},
		{"null byte in the details", "details", "текст\x00текст"},
		{"null byte in the email", "email", "erlan\x00@example.kz"},
		{"terminal escape in the name", "full_name", "\x1b[2J\x1b[31mЕрлан"},
		{"bidi override in the name", "full_name", "Ерлан \u202eвоарапаС"},
		{"bidi isolate in the account id", "account_id", "id-\u2066evil\u2069"},
		{"name of 201 characters", "full_name", strings.Repeat("я", 201)},
		{"email of 255 characters", "email", strings.Repeat("a", 244) + "@example.kz"},
		{"details of 5001 characters", "details", strings.Repeat("ж", 5001)},
		{"account id of 201 characters", "account_id", strings.Repeat("1", 201)},
		{"markup in the phone", "phone", "+7 701 <script>"},
		{"a string for a boolean", "consent", "true"},
		{"an object for a string", "full_name", map[string]any{"$ne": ""}},
		{"an unknown field", "is_admin", true},
		{"the status smuggled in", "status", "completed"},
		{"the reference smuggled in", "reference", "RD-0000-0000-0000"},
	} {
		t.Run(a.name, func(t *testing.T) {
			code, out, _ := postJSON(t, inst, attackBody(t, "refused@example.kz", a.field, a.value))
			errs, _ := out["errors"].(map[string]any)
			if code != http.StatusUnprocessableEntity || errs[a.field] == nil {
				t.Errorf("status %d, errors %v; want 422 naming %s", code, out, a.field)
			}
		})
	}
	t.Run("invalid UTF-8 in the name", func(t *testing.T) {
		// encoding/json turns invalid bytes into U+FFFD; the validator
		// refuses that character, so nothing mangled is stored.
		body := strings.Replace(attackBody(t, "refused@example.kz", "full_name", "NAME"), "NAME", "\xff\xfeЕрлан", 1)
		if code, out, _ := postJSON(t, inst, body); code != http.StatusUnprocessableEntity || out["errors"].(map[string]any)["full_name"] == nil {
			t.Errorf("status %d, %v", code, out)
		}
	})
	t.Run("the same through the form", func(t *testing.T) {
		for name, value := range map[string]string{
			"CR/LF": "Ерлан\r\nBcc: victim@example.com", "null byte": "Ерлан\x00", "invalid UTF-8": "\xff\xfe",
			"bidi override": "\u202eЕрлан", "overlong": strings.Repeat("я", 201),
		} {
			c := browser(t)
			_, page := get(t, c, inst.URL+"/request/erasure")
			form := erasureForm(formToken(t, page))
			form.Set("full_name", value)
			resp, page := post(t, c, inst.URL+"/request/erasure", form)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `id="f-full_name-error"`) {
				t.Errorf("form with %s in the name: %d", name, resp.StatusCode)
			}
		}
	})
	if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("%d requests stored by refused submissions", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM emails`); n != 0 {
		t.Errorf("%d emails recorded for refused submissions", n)
	}
	for _, m := range inst.SMTP.Messages() {
		t.Errorf("an email went to %v", m.To)
	}
}

// TestAttackTextThatLooksDangerousIsStoredVerbatim sends SQL and template
// metacharacters, LIKE wildcards and Unicode tricks that are legitimate
// text: each is accepted (201) and shown to staff exactly as composed by
// normalisation (NFC), which proves every query takes it as a parameter.
func TestAttackTextThatLooksDangerousIsStoredVerbatim(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")
	for i, a := range []struct {
		name, field, value, shown string
	}{
		{"SQL quote and comment in the name", "full_name", `O'Brien"; DROP TABLE requests; --`, ""},
		{"SQL statement in the details", "details", "'); DELETE FROM events; --\nSELECT pg_sleep(10);", ""},
		{"tautology in the account id", "account_id", `1' OR '1'='1`, ""},
		{"LIKE wildcards and backslash", "account_id", `%_\%`, ""},
		{"dollar quoting and placeholders", "details", "$1 $$ $tag$ ?", ""},
		{"Go template actions", "details", `{{.}} {{template "base" .}} {{printf "%s" "x"}}`, ""},
		{"i18n template data", "full_name", `{{.Reference}} {{.Count}}`, ""},
		{"decomposed letters are composed (NFC)", "full_name", "Алексеи\u0306 Ёлкин", "Алексей Ёлкин"},
		{"CR/LF in a multi-line field becomes LF", "details", "строка 1\r\nстрока 2", "строка 1\nстрока 2"},
		{"fullwidth letters are kept (no NFKC)", "full_name", "Ｅｒｌａｎ", ""},
		{"zero-width space is kept", "full_name", "Ер\u200bлан", ""},
		{"Cyrillic lookalike in the account id is kept", "account_id", "аdmin", ""},
	} {
		t.Run(a.name, func(t *testing.T) {
			email := fmt.Sprintf("verbatim%d@example.kz", i)
			code, out, _ := postJSON(t, inst, attackBody(t, email, a.field, a.value))
			if code != http.StatusCreated {
				t.Fatalf("status %d, %v; want 201", code, out)
			}
			shown := a.shown
			if shown == "" {
				shown = a.value
			}
			ref := out["reference"].(string)
			resp, page := inst.Get(t, admin, "/staff/requests/"+ref)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, escapedHTML(shown)) {
				t.Errorf("the staff page (%d) does not show %q", resp.StatusCode, shown)
			}
			if a.shown != "" && strings.Contains(page, escapedHTML(a.value)) {
				t.Errorf("%q is shown unnormalised", a.value)
			}
		})
	}
	t.Run("search with SQL and wildcards finds nothing else", func(t *testing.T) {
		for _, q := range []string{`' OR '1'='1`, `%`, `_`, `\`, `%' --`, `RD-%`} {
			resp, page := inst.Get(t, admin, "/staff?q="+url.QueryEscape(q))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("search %q: %d", q, resp.StatusCode)
				continue
			}
			if strings.Contains(page, "verbatim0@example.kz") && strings.Contains(page, "verbatim1@example.kz") {
				t.Errorf("search %q lists every request", q)
			}
		}
	})
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'received'`); n != 12 {
		t.Errorf("%d received events, want 12: an SQL payload changed the log", n)
	}
}

// xssPayloads are classic script injections, each tried in every field a
// requester fills and staff read, and in the texts staff write and the
// requester reads.
var xssPayloads = []string{
	`<script>alert("rd")</script>`,
	`"><img src=x onerror=alert(1)>`,
	`<svg/onload=alert(1)>`,
	`</textarea><script>alert(1)</script>`,
	`<a href="javascript:alert(1)">click</a>`,
	`javascript:alert(1)`,
	`' onmouseover='alert(1)`,
	`<iframe src="https://evil.example"></iframe>`,
}

// TestAttackStoredXSSIsShownAsText submits every payload in every field
// shown to staff and requesters, replies with it and names a file after
// it; staff answer and note with it. Every page shows it escaped, never as
// live markup, and every page carries the no-script Content-Security-Policy.
func TestAttackStoredXSSIsShownAsText(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")

	checkPage := func(t *testing.T, what string, resp *http.Response, page, payload string) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", what, resp.StatusCode)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q", what, csp)
		}
		if m := liveMarkup.FindString(page); m != "" {
			t.Errorf("%s: live markup %q on the page", what, m)
		}
		if strings.ContainsAny(payload, `<>"'`) && strings.Contains(page, payload) {
			t.Errorf("%s: %q appears unescaped", what, payload)
		}
		if !strings.Contains(page, escapedHTML(payload)) {
			t.Errorf("%s: %q is not shown (escaped) at all", what, payload)
		}
	}

	for i, payload := range xssPayloads {
		for _, typ := range []request.Type{request.Rectification, request.Objection} {
			t.Run(fmt.Sprintf("%s/%d", typ, i), func(t *testing.T) {
				b := validBody(typ, "ru")
				b["email"] = fmt.Sprintf("xss%d.%s@example.kz", i, typ)
				for _, f := range []string{"full_name", "account_id", "details", "subject_name"} {
					b[f] = payload
				}
				if typ == request.Rectification {
					b["correction"] = payload
				} else {
					b["processing"] = payload
				}
				b["on_behalf"], b["relationship"] = true, "parent"
				code, out, _ := postJSON(t, inst, encode(t, b))
				if code != http.StatusCreated {
					t.Fatalf("submit: %d %v", code, out)
				}
				ref := out["reference"].(string)
				statusPath := mailedStatusPath(t, inst, b["email"].(string), ref)

				// The requester answers with the payload and a file named after it.
				c := browser(t)
				_, page := get(t, c, inst.URL+statusPath)
				body, ctype := multipartReply(t, formToken(t, page), payload, map[string][]byte{payload + ".pdf": pdf})
				if resp, _ := postMultipart(t, c, inst.URL+statusPath+"/reply", body, ctype); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("reply: %d", resp.StatusCode)
				}
				// Staff write it in a note and in a question to the requester.
				token := inst.StaffToken(t, admin)
				for _, step := range []struct {
					action string
					form   url.Values
				}{
					{"notes", url.Values{"note": {payload}}},
					{"start", url.Values{}},
					{"ask", url.Values{"message": {payload}}},
				} {
					action, form := step.action, step.form
					form.Set("_csrf", token)
					if resp, _ := inst.Post(t, admin, "/staff/requests/"+ref+"/"+action, form); resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("staff %s: %d", action, resp.StatusCode)
					}
				}

				resp, page := inst.Get(t, admin, "/staff/requests/"+ref)
				checkPage(t, "staff request page", resp, page, payload)
				resp, page = inst.Get(t, admin, "/staff?q="+url.QueryEscape(b["email"].(string)))
				checkPage(t, "staff queue", resp, page, b["full_name"].(string))
				resp, page = get(t, c, inst.URL+statusPath)
				checkPage(t, "status page", resp, page, payload)
			})
		}
	}
}

// proofForm sends the access form acting for someone, with proof files.
func proofForm(t *testing.T, inst *apptest.Instance, email string, files map[string][]byte) (*http.Response, string) {
	t.Helper()
	c := browser(t)
	_, page := get(t, c, inst.URL+"/request/access")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"_csrf": formToken(t, page), "locale": "ru", "full_name": "Асель Бекова", "email": email,
		"access_scope": "copy", "consent": "true", "on_behalf": "true", "subject_name": "Алихан Беков", "relationship": "parent"} {
		_ = w.WriteField(k, v)
	}
	for name, content := range files {
		// CreateFormFile would escape the name; a hostile client does not.
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="proof"; filename="` + name + `"`}
		h["Content-Type"] = []string{"application/octet-stream"}
		fw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(content)
	}
	_ = w.Close()
	return postMultipart(t, c, inst.URL+"/request/access", &buf, w.FormDataContentType())
}

// TestAttackUploadsAndBodiesAreBounded tries path traversal in file names,
// files of the wrong kind, too many and too large files, oversized
// multipart bodies, huge and deeply nested JSON and huge numbers of fields.
func TestAttackUploadsAndBodiesAreBounded(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")

	t.Run("path traversal in file names is stored as a bare safe name", func(t *testing.T) {
		names := map[string]string{
			"../../../../etc/passwd.pdf":      "passwd.pdf",
			`..\..\windows\system32\evil.pdf`: "evil.pdf",
			"/etc/shadow":                     "shadow",
			".htaccess":                       "htaccess",
			"report\u202egpj.exe":             "reportgpj.exe",
		}
		files := map[string][]byte{}
		for name := range names {
			files[name] = pdf
		}
		resp, page := proofForm(t, inst, "traversal@example.kz", files)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("form with proof: %d\n%s", resp.StatusCode, mainOf(page))
		}
		var ref string
		if err := inst.Pool.QueryRow(t.Context(), `SELECT reference FROM requests ORDER BY id DESC LIMIT 1`).Scan(&ref); err != nil {
			t.Fatal(err)
		}
		_, staffPage := inst.Get(t, admin, "/staff/requests/"+ref)
		var links [][]string
		seen := map[string]bool{}
		for _, l := range regexp.MustCompile(`href="(/staff/requests/[^"]+/files/\d+)" download>([^<]*)<`).FindAllStringSubmatch(staffPage, -1) {
			if !seen[l[1]] { // a proof file is listed with the proof and among all files
				seen[l[1]] = true
				links = append(links, l)
			}
		}
		if len(links) != len(names) {
			t.Fatalf("%d files on the staff page, want %d", len(links), len(names))
		}
		want := map[string]bool{}
		for _, safe := range names {
			want[safe] = true
		}
		for _, l := range links {
			if !want[l[2]] {
				t.Errorf("stored file name %q", l[2])
			}
			resp, _ := inst.Get(t, admin, l[1])
			_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			if err != nil || params["filename"] != l[2] || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("download of %q: Content-Disposition %q", l[2], resp.Header.Get("Content-Disposition"))
			}
		}
	})

	t.Run("a page disguised as a PDF is refused", func(t *testing.T) {
		resp, _ := proofForm(t, inst, "disguised@example.kz", map[string][]byte{"scan.pdf": []byte("<html><script>alert(1)</script>")})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%d, want 422", resp.StatusCode)
		}
	})

	t.Run("six files are refused", func(t *testing.T) {
		files := map[string][]byte{}
		for i := range 6 {
			files[fmt.Sprintf("p%d.pdf", i)] = pdf
		}
		if resp, _ := proofForm(t, inst, "many@example.kz", files); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%d, want 422", resp.StatusCode)
		}
	})

	t.Run("a file over 10 MB is refused", func(t *testing.T) {
		big := append(append([]byte{}, pdf...), bytes.Repeat([]byte("0"), request.MaxUploadSize)...)
		if resp, _ := proofForm(t, inst, "big@example.kz", map[string][]byte{"big.pdf": big}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%d, want 422", resp.StatusCode)
		}
	})

	t.Run("a multipart body over the limit is 413", func(t *testing.T) {
		files := map[string][]byte{}
		for i := range 6 {
			files[fmt.Sprintf("p%d.pdf", i)] = append(append([]byte{}, pdf...), bytes.Repeat([]byte("0"), 9<<20)...)
		}
		if resp, _ := proofForm(t, inst, "huge@example.kz", files); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%d, want 413", resp.StatusCode)
		}
	})

	t.Run("more multipart parts than the parser takes is refused", func(t *testing.T) {
		c := browser(t)
		_, page := get(t, c, inst.URL+"/request/erasure")
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("_csrf", formToken(t, page))
		for i := range 3000 {
			_ = w.WriteField(fmt.Sprintf("f%d", i), "x")
		}
		_ = w.Close()
		resp, _ := postMultipart(t, c, inst.URL+"/request/erasure", &buf, w.FormDataContentType())
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%d, want a 4xx", resp.StatusCode)
		}
	})

	t.Run("huge numbers of form fields are refused", func(t *testing.T) {
		c := browser(t)
		_, page := get(t, c, inst.URL+"/request/erasure")
		form := erasureForm(formToken(t, page))
		for i := range 20000 {
			form.Set(fmt.Sprintf("f%d", i), "")
		}
		resp, _ := post(t, c, inst.URL+"/request/erasure", form)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%d, want a 4xx", resp.StatusCode)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		var many strings.Builder
		many.WriteString(`{"type":"erasure"`)
		for i := range 20000 {
			fmt.Fprintf(&many, `,"f%d":1`, i)
		}
		many.WriteString("}")
		deep := `{"type":"erasure","details":` + strings.Repeat("[", 40000) + strings.Repeat("]", 40000) + "}"
		deepUnderLimit := `{"type":"erasure","details":` + strings.Repeat("[", 12000) + strings.Repeat("]", 12000) + "}"
		for _, a := range []struct {
			name, body string
			want       int
		}{
			{"20 000 fields (over 64 KB)", many.String(), http.StatusRequestEntityTooLarge},
			{"nested 40 000 deep (over 64 KB)", deep, http.StatusRequestEntityTooLarge},
			{"nested 12 000 deep (under 64 KB): over encoding/json's depth limit", deepUnderLimit, http.StatusBadRequest},
			{"one huge string", attackBody(t, "a@example.kz", "details", strings.Repeat("x", 1<<20)), http.StatusRequestEntityTooLarge},
			{"duplicate keys, the last one invalid", `{"type":"erasure","full_name":"Ерлан","full_name":"a\u0000b","email":"d@example.kz","consent":true}`, http.StatusUnprocessableEntity},
			{"a huge number for a boolean", `{"type":"erasure","full_name":"Ерлан","email":"d@example.kz","consent":1e999}`, http.StatusUnprocessableEntity},
		} {
			if code, out, _ := postJSON(t, inst, a.body); code != a.want {
				t.Errorf("%s: %d, want %d (%v)", a.name, code, a.want, out)
			}
		}
	})
}

// TestAttackForgeryRedirectsAndMethodConfusion covers cross-site request
// forgery, open redirects through ?next=, secret links tampered with, and
// requests that use the wrong method to change something.
func TestAttackForgeryRedirectsAndMethodConfusion(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	ref, statusPath := filed(t, inst, request.Erasure, "ru")
	before := inst.RequestState(t, ref)

	t.Run("CSRF", func(t *testing.T) {
		victim, attacker := browser(t), browser(t)
		_, page := get(t, victim, inst.URL+"/request/erasure")
		_, other := get(t, attacker, inst.URL+"/request/erasure")
		for _, a := range []struct {
			name   string
			form   url.Values
			header map[string]string
		}{
			{"no token", erasureForm(""), nil},
			{"another visitor's token", erasureForm(formToken(t, other)), nil},
			{"the right token from another site", erasureForm(formToken(t, page)), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		} {
			req, _ := http.NewRequest(http.MethodPost, inst.URL+"/request/erasure", strings.NewReader(a.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range a.header {
				req.Header.Set(k, v)
			}
			resp, err := victim.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("form, %s: %d, want 403", a.name, resp.StatusCode)
			}
		}
		// A signed-in admin's browser made to post a staff action.
		admin := inst.SignIn(t, "admin@school.example.kz")
		if resp, _ := inst.Post(t, admin, "/staff/requests/"+ref+"/start", url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff action without a token: %d, want 403", resp.StatusCode)
		}
		// A cross-site HTML form can send JSON only as text/plain.
		resp, err := http.Post(inst.URL+"/api/v1/requests", "text/plain", strings.NewReader(attackBody(t, "csrf@example.kz", "details", "x")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("JSON as text/plain: %d, want 415", resp.StatusCode)
		}
		// No CORS: another site's script cannot read or preflight the API.
		req, _ := http.NewRequest(http.MethodOptions, inst.URL+"/api/v1/requests", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight allowed: %v", resp.Header)
			}
		}
		if n := inst.Count(t, `SELECT count(*) FROM requests`); n != 1 {
			t.Errorf("%d requests, want only the first", n)
		}
		if got := inst.RequestState(t, ref); got != before {
			t.Errorf("the request changed under forged actions: %s, was %s", got, before)
		}
	})

	t.Run("open redirect through next", func(t *testing.T) {
		for _, next := range []string{
			"//evil.example", "///evil.example", `/\evil.example`, "https://evil.example", "http:evil.example",
			"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", "javascript:alert(1)",
			"%2F%2Fevil.example", " /x",
		} {
			resp, _ := get(t, browser(t), inst.URL+"/lang/en?next="+url.QueryEscape(next))
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
				t.Errorf("next=%q: %d to %q, want 303 to /", next, resp.StatusCode, loc)
			}
		}
		if resp, _ := get(t, browser(t), inst.URL+"/lang/en?next="+url.QueryEscape("/request/access?x=1")); resp.Header.Get("Location") != "/request/access?x=1" {
			t.Errorf("a path on this site is not kept: %q", resp.Header.Get("Location"))
		}
		// After signing in, too.
		c := apptest.Client(t)
		resp, _ := inst.Post(t, c, "/staff/login", url.Values{
			"_csrf": {inst.StaffToken(t, c)}, "email": {"admin@school.example.kz"}, "password": {apptest.StaffPassword}, "next": {"/\t/evil.example"},
		})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || strings.Contains(loc, "evil") || !strings.HasPrefix(loc, "/") {
			t.Errorf("sign-in with a hostile next: %d to %q", resp.StatusCode, loc)
		}
	})

	t.Run("tampered secret links", func(t *testing.T) {
		token := strings.TrimPrefix(statusPath, "/s/")
		for _, path := range []string{
			"/s/" + token[:42] + "%0A", "/s/" + strings.ToUpper(token), "/s/" + token + "A", "/s/" + token[:42],
			"/s/..%2F..%2Fetc%2Fpasswd", "/s/" + token + "%00", "/d/" + token, "/confirm/" + token, "/s/" + token + "/files/-1",
			"/s/" + token + "/files/99999999999999999999",
		} {
			resp, _ := get(t, browser(t), inst.URL+path)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
			}
		}
	})

	t.Run("method confusion", func(t *testing.T) {
		admin := inst.SignIn(t, "admin@school.example.kz")
		for _, a := range []struct{ method, path string }{
			{http.MethodPut, "/api/v1/requests"},
			{http.MethodDelete, statusPath},
			{http.MethodPatch, statusPath + "/withdraw"},
			{http.MethodTrace, "/"},
			{http.MethodGet, "/staff/requests/" + ref + "/start"},
			{http.MethodGet, "/staff/requests/" + ref + "/reject"},
		} {
			req, _ := http.NewRequest(a.method, inst.URL+a.path, nil)
			resp, err := admin.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 405 or 404", a.method, a.path, resp.StatusCode)
			}
		}
		// Opening the withdraw link only asks; a method override header is not obeyed.
		if resp, _ := get(t, browser(t), inst.URL+statusPath+"/withdraw"); resp.StatusCode != http.StatusOK {
			t.Errorf("withdraw page: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, inst.URL+statusPath, nil)
		req.Header.Set("X-HTTP-Method-Override", "POST")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		if got := inst.RequestState(t, ref); got != before {
			t.Errorf("a GET changed the request: %s, was %s", got, before)
		}
	})
}

// TestAttackStaffTextThatTheDatabaseCannotHoldIsCleaned sends a NUL, invalid
// UTF-8 and a terminal escape in every text staff type on the request page:
// the action is done with the text cleaned (request.StaffText), where it
// used to fail with a 500 from PostgreSQL.
func TestAttackStaffTextThatTheDatabaseCannotHoldIsCleaned(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	ref, _ := filed(t, inst, request.Erasure, "ru")
	d := openRequest(t, inst, "admin@school.example.kz", ref)
	for _, step := range []struct {
		action string
		form   url.Values
	}{
		{"notes", url.Values{"note": {"заметка\x00 с нулём"}}},
		{"notes", url.Values{"note": {"заметка \xff\xfe с мусором"}}},
		{"start", url.Values{}},
		{"extend", url.Values{"reason": {"причина\x00\x1b[31m"}}},
		{"ask", url.Values{"message": {"вопрос\x00?"}}},
	} {
		d.done(d.post(step.action, step.form))
	}
	_, page := d.get()
	for _, want := range []string{"заметка с нулём", "заметка \uFFFD с мусором", "причина[31m", "вопрос?"} {
		if !strings.Contains(page, escapedHTML(want)) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Contains(inst.Logs(), `"status":500`) {
		t.Error("an action failed with 500")
	}
}
