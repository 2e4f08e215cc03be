package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

// apiCall sends one staff API call with key (none when "") and returns the
// status and the decoded JSON answer.
func apiCall(t *testing.T, inst *apptest.Instance, key, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, inst.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON (%d %s)", method, path, ct, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
	}
	return resp.StatusCode, out
}

// newAPIKey creates a key on the command line, as an operator would.
func newAPIKey(t *testing.T, inst *apptest.Instance, name string, role auth.Role) string {
	t.Helper()
	code, stdout, stderr := runCLI(inst, "", "apikey", "create", "--name", name, "--role", string(role))
	if code != 0 {
		t.Fatalf("apikey create: exit %d: %s", code, stderr)
	}
	return strings.TrimSpace(stdout)
}

func apiKeyID(t *testing.T, inst *apptest.Instance, name string) int64 {
	t.Helper()
	var id int64
	if err := inst.Pool.QueryRow(context.Background(), `SELECT id FROM api_keys WHERE name = $1`, name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func errorsOf(out map[string]any) map[string]any {
	m, _ := out["errors"].(map[string]any)
	return m
}

var keyOnPage = regexp.MustCompile(`<code class="secret" id="new-key">(rdk_[A-Za-z0-9_-]+)</code>`)

func TestAPIKeyFromTheCommandLineIsShownOnceAndStopsWhenRevoked(t *testing.T) {
	inst := apptest.Start(t, nil)
	code, stdout, stderr := runCLI(inst, "", "apikey", "create", "--name", "CRM sync", "--role", "agent")
	key := strings.TrimSpace(stdout)
	if code != 0 || !regexp.MustCompile(`^rdk_[A-Za-z0-9_-]{43}$`).MatchString(key) || !strings.Contains(stderr, "shown only now") {
		t.Fatalf("apikey create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, _ := runCLI(inst, "", "apikey", "create", "--name", "X", "--role", "owner"); code != 1 {
		t.Errorf("unknown role: exit %d", code)
	}
	if code, _, _ := runCLI(inst, "", "apikey", "create", "--role", "agent"); code != 2 {
		t.Errorf("no name: exit %d", code)
	}
	// Only the hash is stored.
	sum := sha256.Sum256([]byte(key))
	if n := inst.Count(t, `SELECT count(*) FROM api_keys WHERE key_hash = $1 AND prefix = $2`, sum[:], key[:10]); n != 1 {
		t.Fatalf("stored keys matching the hash: %d", n)
	}
	if n := inst.Count(t, `SELECT count(*) FROM api_keys k WHERE k::text LIKE '%' || $1 || '%'`, key[10:]); n != 0 {
		t.Error("the key itself is stored")
	}
	if n := inst.Count(t, `SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL`); n != 0 {
		t.Error("an unused key has a last use")
	}

	if status, out := apiCall(t, inst, key, "GET", "/api/v1/requests", ""); status != http.StatusOK {
		t.Fatalf("list with a fresh key: %d %v", status, out)
	}
	if n := inst.Count(t, `SELECT count(*) FROM api_keys WHERE last_used_at = $1`, inst.Clock.Now()); n != 1 {
		t.Error("using the key did not record its last use")
	}
	code, stdout, _ = runCLI(inst, "", "apikey", "list")
	if code != 0 || !strings.Contains(stdout, "CRM sync") || !strings.Contains(stdout, key[:10]) || strings.Contains(stdout, key) {
		t.Errorf("apikey list: exit %d, %q", code, stdout)
	}

	id := apiKeyID(t, inst, "CRM sync")
	code, stdout, _ = runCLI(inst, "", "apikey", "revoke", itoa(id))
	if code != 0 || !strings.Contains(stdout, "revoked") {
		t.Fatalf("apikey revoke: exit %d, %q", code, stdout)
	}
	status, out := apiCall(t, inst, key, "GET", "/api/v1/requests", "")
	if status != http.StatusUnauthorized || out["error"] == nil {
		t.Errorf("revoked key: %d %v, want 401 at once", status, out)
	}
	if code, _, stderr := runCLI(inst, "", "apikey", "revoke", itoa(id)); code != 1 || !strings.Contains(stderr, "already revoked") {
		t.Errorf("second revoke: exit %d, %q", code, stderr)
	}
	created, revoked := staffEvents(t, inst, "api_key_created"), staffEvents(t, inst, "api_key_revoked")
	if len(created) != 1 || created[0].Actor != "system" || created[0].Data["via"] != "cli" || dataID(created[0], "api_key_id") != id {
		t.Errorf("creation event: %+v", created)
	}
	if len(revoked) != 1 || dataID(revoked[0], "api_key_id") != id {
		t.Errorf("revocation event: %+v", revoked)
	}
}

func TestAPIKeyFromTheWorkspaceIsShownOnceAndRevokedThere(t *testing.T) {
	inst := apptest.Start(t, nil)
	admin := inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	c := inst.SignIn(t, "admin@school.example.kz")
	_, page := inst.Get(t, c, "/staff/apikeys")
	token := apptest.CSRFToken(page)

	resp, page := inst.Post(t, c, "/staff/apikeys", url.Values{"_csrf": {token}, "name": {""}, "role": {"auditor"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Укажите название") {
		t.Errorf("no name: %d", resp.StatusCode)
	}
	resp, page = inst.Post(t, c, "/staff/apikeys", url.Values{"_csrf": {token}, "name": {"Отчёты"}, "role": {"auditor"}})
	m := keyOnPage.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("create: %d, key on page: %v", resp.StatusCode, m != nil)
	}
	key := m[1]
	_, page = inst.Get(t, c, "/staff/apikeys")
	if strings.Contains(page, key) || !strings.Contains(page, "Отчёты") || !strings.Contains(page, key[:10]) {
		t.Error("the list must name the key and show its beginning, never the key again")
	}
	if status, _ := apiCall(t, inst, key, "GET", "/api/v1/requests", ""); status != http.StatusOK {
		t.Errorf("auditor key reads: %d", status)
	}
	if status, _ := apiCall(t, inst, key, "POST", "/api/v1/requests/RD-0000-0000/notes", `{"text":"x"}`); status != http.StatusForbidden {
		t.Errorf("auditor key writes: %d, want 403", status)
	}
	id := apiKeyID(t, inst, "Отчёты")
	resp, _ = inst.Post(t, c, "/staff/apikeys/"+itoa(id)+"/revoke", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if status, _ := apiCall(t, inst, key, "GET", "/api/v1/requests", ""); status != http.StatusUnauthorized {
		t.Errorf("revoked key: %d, want 401", status)
	}
	if ev := staffEvents(t, inst, "api_key_revoked"); len(ev) != 1 || ev[0].ActorID != admin.ID {
		t.Errorf("revocation event: %+v", ev)
	}
}

// TestEveryAPIRouteAnswersEveryKeyAsThePermissionTableSays walks the route
// table: a new API route is tested by being added.
func TestEveryAPIRouteAnswersEveryKeyAsThePermissionTableSays(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	ref, _ := filed(t, inst, request.Erasure, "ru")
	keys := map[auth.Role]string{}
	for _, r := range auth.Roles() {
		keys[r] = newAPIKey(t, inst, "key "+string(r), r)
	}
	revoked := newAPIKey(t, inst, "revoked", auth.Admin)
	runCLI(inst, "", "apikey", "revoke", itoa(apiKeyID(t, inst, "revoked")))
	// A signed-in admin's session cookie, sent along: cookies never count.
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	session := ""
	c := inst.SignIn(t, "admin@school.example.kz")
	u, _ := url.Parse(inst.URL + "/staff")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "rd_staff" {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}

	routes, writes := 0, 0
	for key, access := range inst.App.Web.RouteAccess() {
		perm, ok := strings.CutPrefix(access, "apikey:")
		// Open to anyone, but a key that is sent must be good and allowed.
		orPublic := false
		if p, open := strings.CutPrefix(access, "public+apikey:"); open {
			perm, ok, orPublic = p, true, true
		}
		if !ok {
			if strings.HasPrefix(key, "GET /api/") || strings.HasPrefix(key, "POST /api/") {
				if key != "POST /api/v1/requests" && key != "GET /api/v1/openapi.json" {
					t.Errorf("%s: an API route that takes no key (%q)", key, access)
				}
			}
			continue
		}
		if !slices.Contains(auth.Perms(), auth.Perm(perm)) {
			t.Errorf("%s: access %q names no known permission", key, access)
			continue
		}
		routes++
		if auth.Perm(perm).Writes() {
			writes++
			if auth.Can(auth.Auditor, auth.Perm(perm)) {
				t.Errorf("%s: an auditor may write", key)
			}
		}
		method, path, _ := strings.Cut(key, " ")
		path = strings.ReplaceAll(path, ":reference", ref)
		body := ""
		if method == http.MethodPost {
			body = "{}"
		}
		for _, who := range []string{"admin", "agent", "auditor", "none", "revoked", "malformed", "cookie"} {
			var status int
			var out map[string]any
			switch who {
			case "none":
				status, out = apiCall(t, inst, "", method, path, body)
			case "revoked":
				status, out = apiCall(t, inst, revoked, method, path, body)
			case "malformed":
				status, out = apiCall(t, inst, "rdk_not-a-key", method, path, body)
			case "cookie":
				status, out = apiCall(t, inst, "", method, path, body, "Cookie", "rd_staff="+session)
			default:
				status, out = apiCall(t, inst, keys[auth.Role(who)], method, path, body)
			}
			role := auth.Role(who)
			switch {
			case orPublic && (who == "none" || who == "cookie"):
				// No key: the public door, which refuses the empty body on its merits.
				if status != http.StatusUnprocessableEntity {
					t.Errorf("%s without a key: %d %v, want the public answer 422", key, status, out)
				}
			case !slices.Contains(auth.Roles(), role):
				if status != http.StatusUnauthorized || out["error"] == nil {
					t.Errorf("%s with %s key: %d %v, want 401", key, who, status, out)
				}
			case !auth.Can(role, auth.Perm(perm)):
				if status != http.StatusForbidden {
					t.Errorf("%s as %s: %d, want 403", key, who, status)
				}
			default:
				if status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500 {
					t.Errorf("%s as %s: %d %v, want it allowed", key, who, status, out)
				}
			}
		}
	}
	if routes < 5 || writes < 3 {
		t.Errorf("found %d API routes, %d of them writes: is the route table read?", routes, writes)
	}
	// Nothing the refused calls sent changed the request.
	if n := inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
		WHERE r.reference = $1 AND e.kind <> 'email_sent'`, ref); n != 1 {
		t.Errorf("%d events on the request after empty calls, want only its receipt", n)
	}
}

func TestAPITransitionsFollowTheWorkspaceRules(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	keyID := apiKeyID(t, inst, "CRM")
	ref, _ := filed(t, inst, request.Erasure, "ru")
	path := "/api/v1/requests/" + ref + "/transitions"
	events := func() int {
		// Deliveries log email_sent as they happen: those are not changes.
		return inst.Count(t, `SELECT count(*) FROM events e JOIN requests r ON r.id = e.request_id
			WHERE r.reference = $1 AND e.kind <> 'email_sent'`, ref)
	}
	move := func(body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, inst, key, "POST", path, body, "Accept-Language", "en")
	}

	// Bodies that are not a transition.
	if status, out := move(`{"to":"in_progress","bogus":1}`); status != http.StatusUnprocessableEntity || errorsOf(out)["bogus"] == nil {
		t.Errorf("unknown field: %d %v", status, out)
	}
	if status, _ := move(`{"to":`); status != http.StatusBadRequest {
		t.Errorf("malformed: %d", status)
	}
	if status, _ := move(`{"to":"in_progress"} {}`); status != http.StatusBadRequest {
		t.Errorf("trailing data: %d", status)
	}
	if status, out := move(`{"to":"withdrawn"}`); status != http.StatusUnprocessableEntity || errorsOf(out)["to"] == nil {
		t.Errorf("a state staff cannot choose: %d %v", status, out)
	}
	if status, out := move(`{"to":7}`); status != http.StatusUnprocessableEntity || errorsOf(out)["to"] == nil {
		t.Errorf("wrong type: %d %v", status, out)
	}
	if status, out := move(`{"to":"in_progress","note":"hello"}`); status != http.StatusUnprocessableEntity || errorsOf(out)["note"] == nil {
		t.Errorf("a note that would be dropped: %d %v", status, out)
	}
	if status, _ := apiCall(t, inst, key, "POST", "/api/v1/requests/RD-AAAA-AAAA/transitions", `{"to":"in_progress"}`); status != http.StatusNotFound {
		t.Errorf("unknown reference: %d", status)
	}
	if events() != 1 {
		t.Fatalf("refused bodies changed the request")
	}

	status, out := move(`{"to":"in_progress"}`)
	if status != http.StatusOK || out["status"] != "in_progress" || out["reference"] != ref {
		t.Fatalf("start: %d %v", status, out)
	}
	evs, _ := out["events"].([]any)
	last, _ := evs[len(evs)-1].(map[string]any)
	data, _ := last["data"].(map[string]any)
	if last["kind"] != "started" || last["actor"] != "staff" || last["actor_id"] != nil || last["actor_name"] != "API: CRM" ||
		data["api_key_id"] != float64(keyID) || last["from"] != "new" || last["to"] != "in_progress" {
		t.Errorf("start event: %v", last)
	}
	if status, out := move(`{"to":"awaiting_requester"}`); status != http.StatusUnprocessableEntity || errorsOf(out)["note"] == nil {
		t.Errorf("asking without a message: %d %v", status, out)
	}
	if status, out := move(`{"to":"awaiting_requester","note":"Please send a copy of your student card."}`); status != http.StatusOK || out["status"] != "awaiting_requester" {
		t.Fatalf("ask: %d %v", status, out)
	}
	if n := emailsOfKind(t, inst, ref, "information_requested"); n != 1 {
		t.Errorf("%d emails asking the requester, want 1", n)
	}
	if status, out := move(`{"to":"rejected","reason":"because","note":"No."}`); status != http.StatusUnprocessableEntity || errorsOf(out)["reason"] == nil {
		t.Errorf("rejection with an unknown ground: %d %v", status, out)
	}
	if status, out := move(`{"to":"completed","reason":"no_data","note":"Done."}`); status != http.StatusUnprocessableEntity || errorsOf(out)["reason"] == nil {
		t.Errorf("a ground on a completion: %d %v", status, out)
	}
	// Erasure needs a recorded identity check (IDENTITY_CHECK's default):
	// refused until the key records one, as in the workspace.
	before := events()
	if status, out := move(`{"to":"completed","note":"Your data was deleted."}`); status != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(out["error"]), "needs an identity check") || events() != before {
		t.Fatalf("completing without an identity check: %d %v", status, out)
	}
	identity := func(body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/identity", body, "Accept-Language", "en")
	}
	if status, out := identity(`{"method":"telepathy","note":"Sure."}`); status != http.StatusUnprocessableEntity || errorsOf(out)["method"] == nil {
		t.Errorf("an identity check by a method not on the list: %d %v", status, out)
	}
	if status, out := identity(`{"method":"video_call"}`); status != http.StatusUnprocessableEntity || errorsOf(out)["note"] == nil {
		t.Errorf("an identity check without a note: %d %v", status, out)
	}
	status, out = identity(`{"method":"video_call","note":"Student card shown on a call."}`)
	check, _ := out["identity_check"].(map[string]any)
	if status != http.StatusOK || check["state"] != "done" || check["method"] != "video_call" || check["by"] != "API: CRM" {
		t.Fatalf("identity check: %d %v", status, out)
	}
	if status, _ := identity(`{"method":"in_person","note":"Again."}`); status != http.StatusConflict {
		t.Errorf("a second identity check: %d", status)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'identity_checked' AND actor = 'staff' AND actor_id IS NULL
		AND (data->>'api_key_id')::bigint = $1 AND data->>'method' = 'video_call' AND NOT data::text LIKE '%Student%'`, keyID); n != 1 {
		t.Errorf("%d identity check events naming the key and the method, without the note", n)
	}
	if status, out := move(`{"to":"completed","note":"Your data was deleted."}`); status != http.StatusOK || out["status"] != "completed" {
		t.Fatalf("complete: %d %v", status, out)
	}
	before = events()
	status, out = move(`{"to":"in_progress"}`)
	if status != http.StatusConflict || out["error"] != "This cannot be done while the request is “Completed”." {
		t.Errorf("reopening a completed request: %d %v", status, out)
	}
	status, _ = move(`{"to":"rejected","reason":"no_data","note":"No."}`)
	if status != http.StatusConflict || events() != before || statusOf(t, inst, ref) != "completed" {
		t.Errorf("rejecting a completed request: %d; it must change nothing", status)
	}
	// The staff timeline names the key.
	inst.AddStaff(t, "auditor@school.example.kz", "Аудитор", auth.Auditor)
	_, page := inst.Get(t, inst.SignIn(t, "auditor@school.example.kz"), "/staff/requests/"+ref)
	if !strings.Contains(page, "API: CRM") {
		t.Error("the staff timeline does not name the API key behind the actions")
	}
}

func TestAPIAssignsAndNotes(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	key := newAPIKey(t, inst, "Helpdesk", auth.Admin)
	agent := inst.AddStaff(t, "aruzhan@school.example.kz", "Аружан", auth.Agent)
	ref, _ := filed(t, inst, request.Access, "kk")
	path := "/api/v1/requests/" + ref

	if status, out := apiCall(t, inst, key, "POST", path+"/assign", `{}`); status != http.StatusUnprocessableEntity || errorsOf(out)["staff_id"] == nil {
		t.Errorf("no staff_id: %d %v", status, out)
	}
	if status, out := apiCall(t, inst, key, "POST", path+"/assign", `{"staff_id":999999}`); status != http.StatusUnprocessableEntity || errorsOf(out)["staff_id"] == nil {
		t.Errorf("unknown staff member: %d %v", status, out)
	}
	status, out := apiCall(t, inst, key, "POST", path+"/assign", `{"staff_id":`+itoa(agent.ID)+`}`)
	assignee, _ := out["assignee"].(map[string]any)
	if status != http.StatusOK || assignee["id"] != float64(agent.ID) || assignee["name"] != "Аружан" {
		t.Fatalf("assign: %d %v", status, out)
	}
	lastMailTo(t, inst, "aruzhan@school.example.kz", ref)
	if status, out := apiCall(t, inst, key, "POST", path+"/assign", `{"staff_id":null}`); status != http.StatusOK || out["assignee"] != nil {
		t.Errorf("unassign: %d %v", status, out)
	}

	if status, out := apiCall(t, inst, key, "POST", path+"/notes", `{"text":"   "}`); status != http.StatusUnprocessableEntity || errorsOf(out)["text"] == nil {
		t.Errorf("empty note: %d %v", status, out)
	}
	status, out = apiCall(t, inst, key, "POST", path+"/notes", `{"text":"Called the parent; documents by Friday."}`)
	if status != http.StatusCreated || out["author"] != "API: Helpdesk" || out["text"] != "Called the parent; documents by Friday." {
		t.Fatalf("note: %d %v", status, out)
	}
	status, out = apiCall(t, inst, key, "GET", path, "")
	notes, _ := out["notes"].([]any)
	if status != http.StatusOK || len(notes) != 1 || out["email"] != "aigerim.access.kk@example.kz" || out["access_scope"] != "copy" {
		t.Errorf("detail: %d %v", status, out)
	}
	if n := inst.Count(t, `SELECT count(*) FROM events WHERE kind = 'note_added' AND actor = 'staff' AND actor_id IS NULL AND data ? 'api_key_id' AND NOT data::text LIKE '%Friday%'`); n != 1 {
		t.Errorf("note events naming the key and not the text: %d", n)
	}
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	_, page := inst.Get(t, inst.SignIn(t, "admin@school.example.kz"), "/staff/requests/"+ref)
	if !strings.Contains(page, "Called the parent") || !strings.Contains(page, "API: Helpdesk") {
		t.Error("a note added through the API is missing from the request page")
	}
	if status, _ := apiCall(t, inst, key, "GET", "/api/v1/requests/RD-AAAA-AAAA", ""); status != http.StatusNotFound {
		t.Errorf("unknown reference: %d", status)
	}
}

func TestAPIListPagesThroughEveryRequest(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false"})
	key := newAPIKey(t, inst, "Sync", auth.Auditor)
	var refs []string
	for i, typ := range []request.Type{request.Access, request.Erasure, request.Objection, request.Portability, request.Restriction, request.ConsentWithdrawal, request.Rectification} {
		ref, _ := filed(t, inst, typ, []string{"ru", "kk", "en"}[i%3])
		refs = append(refs, ref)
		inst.Clock.Advance(time.Hour) // distinct due dates
	}

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		q := "/api/v1/requests?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		status, out := apiCall(t, inst, key, "GET", q, "")
		if status != http.StatusOK {
			t.Fatalf("page: %d %v", status, out)
		}
		rows, _ := out["requests"].([]any)
		for _, r := range rows {
			seen = append(seen, r.(map[string]any)["reference"].(string))
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			if out["next_cursor"] != nil {
				t.Errorf("last page: next_cursor %v, want null", out["next_cursor"])
			}
			break
		}
		cursor = next
	}
	if !slices.Equal(seen, refs) {
		t.Errorf("walked %v, want every request by due date %v", seen, refs)
	}

	status, out := apiCall(t, inst, key, "GET", "/api/v1/requests?type=erasure,objection&status=new", "")
	if rows, _ := out["requests"].([]any); status != http.StatusOK || len(rows) != 2 {
		t.Errorf("filtered by type: %d %v", status, out)
	}
	status, out = apiCall(t, inst, key, "GET", "/api/v1/requests?q="+url.QueryEscape(refs[3]), "")
	if rows, _ := out["requests"].([]any); status != http.StatusOK || len(rows) != 1 {
		t.Errorf("search by reference: %d %v", status, out)
	}
	status, out = apiCall(t, inst, key, "GET", "/api/v1/requests?assignee=none&due_to=2026-03-31&tab=due_soon", "")
	if rows, _ := out["requests"].([]any); status != http.StatusOK || len(rows) != 0 {
		t.Errorf("nothing due within a week: %d %v", status, out)
	}
	for q, field := range map[string]string{
		"tab=mine": "tab", "tab=nope": "tab", "stauts=new": "stauts", "status=open": "status", "type=x": "type",
		"limit=0": "limit", "limit=201": "limit", "cursor=AAAA": "cursor", "due_from=tomorrow": "due_from", "assignee=me": "assignee",
	} {
		status, out := apiCall(t, inst, key, "GET", "/api/v1/requests?"+q, "")
		if status != http.StatusUnprocessableEntity || errorsOf(out)[field] == nil {
			t.Errorf("?%s: %d %v, want 422 naming %s", q, status, out, field)
		}
	}
}

func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	inst := apptest.Start(t, nil)
	resp, body := inst.Get(t, apptest.Client(t), "/api/v1/openapi.json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
		Comps   struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	access := inst.App.Web.RouteAccess()
	registered := map[string]bool{}
	for _, r := range inst.App.Web.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		key := strings.ToLower(r.Method) + " " + path
		registered[key] = true
		op, ok := doc.Paths[path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not in the OpenAPI document", r.Method, path)
			continue
		}
		security, _ := op["security"].([]any)
		needsKey := strings.HasPrefix(access[r.Method+" "+r.Path], "apikey:")
		mayKey := strings.HasPrefix(access[r.Method+" "+r.Path], "public+apikey:")
		switch {
		case mayKey:
			// Optional: an empty requirement (anyone) beside the key's.
			b, _ := json.Marshal(security)
			if string(b) != `[{},{"apiKey":[]}]` {
				t.Errorf("%s %s: the document's security %s does not say a key is optional", r.Method, path, b)
			}
		case needsKey != (len(security) > 0):
			t.Errorf("%s %s: the document's security %v does not match the route's access %q", r.Method, path, op["security"], access[r.Method+" "+r.Path])
		}
		if needsKey || mayKey {
			responses, _ := op["responses"].(map[string]any)
			if responses["401"] == nil || responses["403"] == nil {
				t.Errorf("%s %s: 401 and 403 undocumented", r.Method, path)
			}
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !registered[method+" "+path] {
				t.Errorf("the document has %s %s, which no route serves", strings.ToUpper(method), path)
			}
		}
	}
	if len(registered) < 7 {
		t.Errorf("only %d API routes found", len(registered))
	}
	// The intake's schema has exactly the fields the API decodes.
	var fields []string
	st := reflect.TypeFor[request.Submission]()
	for i := range st.NumField() {
		if name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			fields = append(fields, name)
		}
	}
	var documented []string
	for name := range doc.Comps.Schemas["Submission"].Properties {
		documented = append(documented, name)
	}
	slices.Sort(fields)
	slices.Sort(documented)
	if !slices.Equal(fields, documented) {
		t.Errorf("Submission schema has %v, the API decodes %v", documented, fields)
	}
}
