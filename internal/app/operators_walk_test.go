package app_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/testkit"
)

// operatorWorld is what one operator of the deployment holds, named by the
// ids the route table's parameters take.
type operatorWorld struct {
	slug, host string
	id         int64
	app        *app.App
	admin      auth.Staff
	member     auth.Staff // another member, the one user-management routes act on
	reference  string
	requestID  int64
	fileID     int64
	emailID    int64
	stepID     int64
	apiKeyID   int64
	apiKey     string
	apiKeyName string
	webhookID  int64
	webhookURL string
}

// hostClient is a browser of the deployment that asks for host: every
// connection goes to srv, the Host header and the cookie jar are host's.
func hostClient(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Listener.Addr().String()
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}},
	}
}

// send sends method to http://host+path with body, of contentType, and
// returns the answer's status and body.
func send(t *testing.T, c *http.Client, method, host, path, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+host+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// csrfOf is the double-submit token c holds for host.
func csrfOf(t *testing.T, c *http.Client, host string) string {
	t.Helper()
	send(t, c, http.MethodGet, host, "/staff/login", "", "")
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: host}) {
		if ck.Name == "_csrf" {
			return ck.Value
		}
	}
	t.Fatalf("%s: no CSRF cookie after the sign-in page", host)
	return ""
}

// signInOn signs email in on host's workspace.
func signInOn(t *testing.T, srv *httptest.Server, host, email string) *http.Client {
	t.Helper()
	c := hostClient(t, srv)
	form := url.Values{"_csrf": {csrfOf(t, c, host)}, "email": {email}, "password": {apptest.StaffPassword}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/staff/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || strings.HasPrefix(resp.Header.Get("Location"), "/staff/login") {
		t.Fatalf("sign in %s on %s: %d to %q", email, host, resp.StatusCode, resp.Header.Get("Location"))
	}
	return c
}

// settleDeployment waits until no job and no email of any operator is pending.
func settleDeployment(t *testing.T, pool *pgxpool.Pool, ops ...*operatorWorld) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending := 0
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			n := 0
			if err := pool.QueryRow(opscope.With(context.Background(), op.id), `SELECT count(*) FROM emails WHERE state = 'queued'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			pending += n
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs and emails still pending", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// furnish gives the operator of slug a request with a file, its emails, a
// note, a fulfilment step, an admin and another member, an API key and a
// webhook endpoint.
func furnish(t *testing.T, d *app.Deployment, srv *httptest.Server, pool *pgxpool.Pool, slug, host string) *operatorWorld {
	t.Helper()
	ctx := context.Background()
	a, ok := d.App(slug)
	if !ok {
		t.Fatalf("no operator %q", slug)
	}
	w := &operatorWorld{slug: slug, host: host, app: a}
	for _, op := range d.Operators {
		if op.Slug == slug {
			w.id = op.ID
		}
	}
	sctx := opscope.With(ctx, w.id)
	var err error
	if w.admin, err = a.Auth.CreateWithPassword(ctx, auth.AccountInput{Email: "admin@" + host, Name: "Админ " + slug,
		Role: string(auth.Admin), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
		t.Fatal(err)
	}
	if w.member, err = a.Auth.CreateWithPassword(ctx, auth.AccountInput{Email: "agent@" + host, Name: "Агент " + slug,
		Role: string(auth.Agent), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
		t.Fatal(err)
	}
	body := encode(t, map[string]any{"type": "erasure", "full_name": "Айгерим Нурланқызы", "email": "aigerim@example.kz",
		"locale": "ru", "consent": true})
	c := hostClient(t, srv)
	code, out := send(t, c, http.MethodPost, host, "/api/v1/requests", "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("%s: intake %d: %s", slug, code, out)
	}
	w.reference = between(out, `"reference":"`, `"`)
	if err := pool.QueryRow(sctx, `SELECT id FROM requests WHERE reference = $1`, w.reference).Scan(&w.requestID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(sctx, `SELECT id FROM emails WHERE request_id = $1 ORDER BY id LIMIT 1`, w.requestID).Scan(&w.emailID); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("%PDF-1.4"))
	now := time.Now()
	// Sealed as the operator's store seals: with the operator's own keys.
	keys := testkit.Keys().ForOperator(w.id)
	if err := pool.QueryRow(sctx, `INSERT INTO files (request_id, purpose, name, content_type, size, sha256, content, created_at)
		VALUES ($1, 'proof', $2, 'application/pdf', 8, $3, $4, $5) RETURNING id`, w.requestID, keys.SealString(sealed.FileName, "scan.pdf"),
		sum[:], keys.Seal(sealed.FileContent, []byte("%PDF-1.4")), now).Scan(&w.fileID); err != nil {
		t.Fatal(err)
	}
	var fulfilmentID int64
	if err := pool.QueryRow(sctx, `INSERT INTO fulfilments (request_id, kind, plan_digest, map_digest, created_at, approved_at, approved_by)
		VALUES ($1, 'execute', 'p', 'm', $2, $2, $3) RETURNING id`, w.requestID, now, w.admin.ID).Scan(&fulfilmentID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(sctx, `INSERT INTO fulfilment_steps (fulfilment_id, request_id, system, state, created_at, updated_at)
		VALUES ($1, $2, 'lms', 'failed', $3, $3) RETURNING id`, fulfilmentID, w.requestID, now).Scan(&w.stepID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.AddNote(ctx, w.requestID, w.admin.ID, "Заметка "+slug, now); err != nil {
		t.Fatal(err)
	}
	w.apiKeyName = "CRM " + slug
	k, secret, err := a.APIKeys.Create(ctx, w.admin, w.apiKeyName, string(auth.Admin))
	if err != nil {
		t.Fatal(err)
	}
	w.apiKeyID, w.apiKey = k.ID, secret
	w.webhookURL = "https://hooks." + host + "/rightsdesk"
	e, err := a.Store.CreateWebhookEndpoint(ctx, w.webhookURL, "whsec-"+slug, w.admin.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	w.webhookID = e.ID
	return w
}

// operatorTables are the tables whose rows belong to an operator.
var operatorTables = []string{"requests", "confirmations", "events", "event_texts", "emails", "messages", "files",
	"download_links", "status_links", "notes", "response_drafts", "reminders", "idempotency_keys",
	"acknowledgement_counts", "api_keys", "webhook_endpoints", "webhook_deliveries", "fulfilments",
	"fulfilment_steps", "letters", "staff_operators"}

// rowsOf is every row the operator of w holds, and its members' accounts,
// one digest per table: two equal results mean nothing of it changed.
func rowsOf(t *testing.T, pool *pgxpool.Pool, w *operatorWorld) map[string]string {
	t.Helper()
	ctx := opscope.With(context.Background(), w.id)
	out := map[string]string{}
	for _, table := range operatorTables {
		var n int
		var digest string
		if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
			FROM %s t WHERE operator_id = $1`, table), w.id).Scan(&n, &digest); err != nil {
			t.Fatal(err)
		}
		out[table] = fmt.Sprintf("%d rows %s", n, digest)
	}
	var digest string
	if err := pool.QueryRow(ctx, `SELECT md5(string_agg(s::text, '|' ORDER BY s.id)) FROM staff s WHERE id = ANY($1)`,
		[]int64{w.admin.ID, w.member.ID}).Scan(&digest); err != nil {
		t.Fatal(err)
	}
	out["staff"] = digest
	return out
}

// apiBodies are bodies the API's actions accept, by the path's last word,
// so that a refusal is for the request named and not for the body: a
// body the API refuses (422) for any reference says nothing of the one
// named. An action not here gets "{}".
var apiBodies = map[string]string{
	"transitions": `{"to":"in_progress"}`,
	"assign":      `{"staff_id":null}`,
	"identity":    `{"method":"identity_document","note":"Удостоверение личности"}`,
	"notes":       `{"text":"Заметка"}`,
}

// idOf is the other operator's id that a route's :id names, by the word
// before it.
func idOf(path string, other *operatorWorld) (int64, bool) {
	before, _, _ := strings.Cut(path, "/:id")
	switch before[strings.LastIndex(before, "/")+1:] {
	case "files":
		return other.fileID, true
	case "emails":
		return other.emailID, true
	case "steps":
		return other.stepID, true
	case "users":
		return other.member.ID, true
	case "apikeys":
		return other.apiKeyID, true
	case "webhooks":
		return other.webhookID, true
	}
	return 0, false
}

// TestAStaffMemberOfOneOperatorFindsNothingOfTheOthers walks every staff
// and API route of the route table, as each operator's admin signed in on
// its own address (and with its own API key), naming the other operator's
// request, file, email, fulfilment step, member, API key and webhook: every
// one is "not found", and no row of the other operator changes. A route
// with the own request's reference and the other's id is not found either.
func TestAStaffMemberOfOneOperatorFindsNothingOfTheOthers(t *testing.T) {
	d, srv, _, pool := twoOperatorsOnPool(t)
	web := furnish(t, d, srv, pool, "webstapero", "privacy.webstapero.kz")
	flex := furnish(t, d, srv, pool, "flextok", "privacy.flextokxumare.kz")
	settleDeployment(t, pool, web, flex)

	for _, pair := range [][2]*operatorWorld{{web, flex}, {flex, web}} {
		me, other := pair[0], pair[1]
		t.Run(me.slug, func(t *testing.T) {
			before := rowsOf(t, pool, other)
			c := signInOn(t, srv, me.host, me.admin.Email)
			token := csrfOf(t, c, me.host)
			api := hostClient(t, srv) // no cookies: the key alone
			walked := 0
			for key, access := range me.app.Web.RouteAccess() {
				method, path, _ := strings.Cut(key, " ")
				staffRoute := strings.HasPrefix(access, "staff:")
				if !staffRoute && !strings.HasPrefix(access, "apikey:") {
					continue
				}
				var paths []string
				fill := strings.NewReplacer(":reference", other.reference)
				if strings.Contains(path, ":id") {
					id, ok := idOf(path, other)
					if !ok {
						t.Errorf("%s: the walk does not know what its :id names; teach idOf", key)
						continue
					}
					fill = strings.NewReplacer(":reference", other.reference, ":id", fmt.Sprint(id))
					if strings.Contains(path, ":reference") {
						// The own request, the other's file, email or step.
						paths = append(paths, strings.NewReplacer(":reference", me.reference, ":id", fmt.Sprint(id)).Replace(path))
					}
				}
				if !strings.Contains(path, ":") {
					// A route that names nothing: a page must show nothing of the other's.
					if method != http.MethodGet {
						continue
					}
					var code int
					var page string
					if staffRoute {
						code, page = send(t, c, method, me.host, path, "", "")
					} else {
						code, page = send(t, api, method, me.host, path, "", "", "Authorization", "Bearer "+me.apiKey)
					}
					walked++
					want := http.StatusOK
					if access == "staff:"+string(auth.PermPlatform) {
						want = http.StatusNotFound // the platform role's page, not an admin's
					}
					if code != want {
						t.Errorf("%s as %s's admin: %d, want %d", key, me.slug, code, want)
					}
					for _, theirs := range []string{other.reference, other.admin.Email, other.member.Email, other.apiKeyName, other.webhookURL} {
						if strings.Contains(page, theirs) {
							t.Errorf("%s as %s's admin shows %s's %q", key, me.slug, other.slug, theirs)
						}
					}
					continue
				}
				paths = append(paths, fill.Replace(path))
				for _, p := range paths {
					walked++
					var code int
					var page string
					switch {
					case staffRoute && method == http.MethodGet:
						code, page = send(t, c, method, me.host, p, "", "")
					case staffRoute:
						form := url.Values{"_csrf": {token}, "role": {"auditor"}, "to": {fmt.Sprint(me.admin.ID)}}
						code, page = send(t, c, method, me.host, p, "application/x-www-form-urlencoded", form.Encode())
					default:
						body := ""
						if method == http.MethodPost {
							body = apiBodies[p[strings.LastIndex(p, "/")+1:]]
							if body == "" {
								body = "{}"
							}
						}
						code, page = send(t, api, method, me.host, p, "application/json", body, "Authorization", "Bearer "+me.apiKey)
					}
					if code != http.StatusNotFound {
						t.Errorf("%s %s as %s's admin: %d, want 404 (%.200s)", method, p, me.slug, code, page)
					}
				}
			}
			// The own request given to the other's member: refused as an
			// unknown account, on the page and through the API.
			assign := url.Values{"_csrf": {token}, "to": {fmt.Sprint(other.member.ID)}}
			if code, _ := send(t, c, http.MethodPost, me.host, "/staff/requests/"+me.reference+"/assign",
				"application/x-www-form-urlencoded", assign.Encode()); code != http.StatusUnprocessableEntity {
				t.Errorf("assigning %s's request to %s's member: %d, want 422", me.slug, other.slug, code)
			}
			if code, out := send(t, api, http.MethodPost, me.host, "/api/v1/requests/"+me.reference+"/assign", "application/json",
				fmt.Sprintf(`{"staff_id":%d}`, other.member.ID), "Authorization", "Bearer "+me.apiKey); code != http.StatusUnprocessableEntity {
				t.Errorf("assigning %s's request to %s's member through the API: %d, want 422 (%s)", me.slug, other.slug, code, out)
			}
			var assignee *int64
			if err := pool.QueryRow(opscope.With(context.Background(), me.id), `SELECT assignee_id FROM requests WHERE id = $1`, me.requestID).Scan(&assignee); err != nil || assignee != nil {
				t.Errorf("%s's request is assigned to %v (%v), want nobody", me.slug, assignee, err)
			}
			if walked < 40 {
				t.Errorf("walked %d routes: is the route table read?", walked)
			}
			settleDeployment(t, pool, web, flex)
			after := rowsOf(t, pool, other)
			for table, was := range before {
				if after[table] != was {
					t.Errorf("%s's admin changed %s's %s: %s, was %s", me.slug, other.slug, table, after[table], was)
				}
			}
		})
	}
}

// An API key works on its own operator's address only: elsewhere it is
// unknown (401, as a key never made), and its list holds none of the
// other operator's requests.
func TestAnAPIKeyOfOneOperatorListsNoneOfTheOthers(t *testing.T) {
	d, srv, _, pool := twoOperatorsOnPool(t)
	web := furnish(t, d, srv, pool, "webstapero", "privacy.webstapero.kz")
	flex := furnish(t, d, srv, pool, "flextok", "privacy.flextokxumare.kz")
	c := hostClient(t, srv)
	for _, pair := range [][2]*operatorWorld{{web, flex}, {flex, web}} {
		me, other := pair[0], pair[1]
		code, list := send(t, c, http.MethodGet, me.host, "/api/v1/requests", "", "", "Authorization", "Bearer "+me.apiKey)
		if code != http.StatusOK || !strings.Contains(list, me.reference) || strings.Contains(list, other.reference) {
			t.Errorf("%s's key lists: %d, own %v, %s's %v", me.slug, code, strings.Contains(list, me.reference), other.slug, strings.Contains(list, other.reference))
		}
		if code, _ := send(t, c, http.MethodGet, me.host, "/api/v1/requests/"+other.reference, "", "", "Authorization", "Bearer "+me.apiKey); code != http.StatusNotFound {
			t.Errorf("%s's key, %s's request: %d, want 404", me.slug, other.slug, code)
		}
		for _, path := range []string{"/api/v1/requests", "/api/v1/requests/" + other.reference} {
			if code, _ := send(t, c, http.MethodGet, other.host, path, "", "", "Authorization", "Bearer "+me.apiKey); code != http.StatusUnauthorized {
				t.Errorf("%s's key on %s's address, %s: %d, want 401", me.slug, other.slug, path, code)
			}
		}
	}
}

// A member of two operators made an auditor in one operator's workspace
// is an auditor there only: its membership of the other operator, and the
// account's own role, stay as they were.
func TestARoleChangedInOneOperatorsWorkspaceIsThatOperatorsOnly(t *testing.T) {
	d, srv, _, pool := twoOperatorsOnPool(t)
	web := furnish(t, d, srv, pool, "webstapero", "privacy.webstapero.kz")
	flex := furnish(t, d, srv, pool, "flextok", "privacy.flextokxumare.kz")
	ctx := context.Background()
	if _, err := pool.Exec(opscope.With(ctx, flex.id), `INSERT INTO staff_operators (staff_id, operator_id, role) VALUES ($1, $2, 'agent')`,
		web.member.ID, flex.id); err != nil {
		t.Fatal(err)
	}
	c := signInOn(t, srv, web.host, web.admin.Email)
	form := url.Values{"_csrf": {csrfOf(t, c, web.host)}, "role": {"auditor"}}
	if code, _ := send(t, c, http.MethodPost, web.host, fmt.Sprintf("/staff/users/%d/role", web.member.ID),
		"application/x-www-form-urlencoded", form.Encode()); code != http.StatusSeeOther {
		t.Fatalf("role change: %d", code)
	}
	roleIn := func(w *operatorWorld) string {
		var role string
		if err := pool.QueryRow(opscope.With(ctx, w.id), `SELECT role FROM staff_operators WHERE staff_id = $1 AND operator_id = $2`,
			web.member.ID, w.id).Scan(&role); err != nil {
			t.Fatal(err)
		}
		return role
	}
	var own string
	if err := pool.QueryRow(ctx, `SELECT role FROM staff WHERE id = $1`, web.member.ID).Scan(&own); err != nil {
		t.Fatal(err)
	}
	if got := roleIn(web); got != "auditor" {
		t.Errorf("webstapero's membership: %s, want auditor", got)
	}
	if got := roleIn(flex); got != "agent" {
		t.Errorf("flextok's membership: %s, want agent still", got)
	}
	if own != "agent" {
		t.Errorf("the account's own role: %s, want agent still", own)
	}
	// On each address the member is what that operator made them.
	for _, w := range []*operatorWorld{web, flex} {
		mc := signInOn(t, srv, w.host, web.member.Email)
		form := url.Values{"_csrf": {csrfOf(t, mc, w.host)}, "to": {"me"}}
		code, _ := send(t, mc, http.MethodPost, w.host, "/staff/requests/"+w.reference+"/assign", "application/x-www-form-urlencoded", form.Encode())
		want := http.StatusSeeOther
		if w == web {
			want = http.StatusForbidden // an auditor works no request
		}
		if code != want {
			t.Errorf("the member takes %s's request: %d, want %d", w.slug, code, want)
		}
	}
}
