package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/signing"
	"rightsdesk/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.MainWithMySQL(m)) }

// proxy forwards TCP connections on a loopback port to a server's Unix
// socket; while down it accepts and hangs up at once, as a server that is
// restarting does.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, socket string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: socket}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

func (p *proxy) port() string { _, port, _ := net.SplitHostPort(p.ln.Addr().String()); return port }

// throughProxy turns a server's socket URL into one through p.
func throughProxy(t *testing.T, srv testkit.LMSServer, raw string) (string, *proxy) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	var socket string
	if srv.Kind == "postgres" {
		port := u.Port()
		if port == "" {
			port = q.Get("port")
		}
		if port == "" {
			port = "5432"
		}
		socket = q.Get("host") + "/.s.PGSQL." + port
		q.Del("host")
		q.Del("port")
	} else {
		socket = q.Get("socket")
		q.Del("socket")
	}
	p := newProxy(t, socket)
	u.Host = "127.0.0.1:" + p.port()
	u.RawQuery = q.Encode()
	return u.String(), p
}

// TestADownSystemFailsRetryablyAndTheRetrySucceeds: while the database does
// not answer, gathering fails with an error that says to retry; once it is
// back, the same call succeeds.
func TestADownSystemFailsRetryablyAndTheRetrySucceeds(t *testing.T) {
	for _, start := range []func(testing.TB) testkit.LMSServer{testkit.LMSPostgres, testkit.LMSMySQL} {
		srv := start(t)
		t.Run(srv.Kind, func(t *testing.T) {
			m, env := testkit.LMSMap(t, srv, nil)
			viaProxy, p := throughProxy(t, srv, srv.Reader)
			systems := connector.New(m, func(n string) (string, bool) {
				if n == "LMS_DATABASE_URL" {
					return viaProxy, true
				}
				return env(n)
			})
			t.Cleanup(func() { systems.Close() })
			p.down.Store(true)
			_, err := plan.Make(t.Context(), systems, plan.Access, identifier.Identity{Email: "aigerim@example.kz"}, nil)
			var se *connector.SystemError
			if !errors.As(err, &se) || !se.Retryable() || se.System != "lms" {
				t.Fatalf("with the database down: err = %v, want a retryable SystemError of lms", err)
			}
			if lines := systems.Check(t.Context()); len(lines) != 1 || !strings.Contains(lines[0], "system lms: cannot connect") {
				t.Errorf("check with the database down = %q, want one line saying it cannot connect", lines)
			}
			p.down.Store(false)
			pl, err := plan.Make(t.Context(), systems, plan.Access, identifier.Identity{Email: "aigerim@example.kz"}, nil)
			if err != nil {
				t.Fatalf("retry once the database is back: %v", err)
			}
			var rows int64
			for _, c := range pl.Systems[0].Collections {
				rows += c.Rows
			}
			if rows != 12 {
				t.Errorf("the retry found %d rows, want 12", rows)
			}
		})
	}
}

func TestSchemaCheckNamesEveryMissingTableAndColumn(t *testing.T) {
	for _, start := range []func(testing.TB) testkit.LMSServer{testkit.LMSPostgres, testkit.LMSMySQL} {
		srv := start(t)
		t.Run(srv.Kind, func(t *testing.T) {
			m, env := testkit.LMSMap(t, srv, nil)
			systems := connector.New(m, env)
			t.Cleanup(func() { systems.Close() })
			if lines := systems.Check(t.Context()); len(lines) != 0 {
				t.Fatalf("the example map against its own schema: %q", lines)
			}
			notNull := map[string]string{"postgres": "ALTER TABLE payments ALTER COLUMN card_last4 SET NOT NULL",
				"mysql": "ALTER TABLE payments MODIFY card_last4 VARCHAR(4) NOT NULL"}[srv.Kind]
			testkit.Exec(t, srv.DB,
				"ALTER TABLE students RENAME COLUMN city TO town",
				"ALTER TABLE messages RENAME COLUMN sender_id TO author_id",
				"DROP TABLE login_log",
				notNull,
			)
			lines := systems.Check(t.Context())
			want := []string{
				"collection students: column students.city does not exist",
				"collection messages: relation column messages.sender_id does not exist",
				"collection login_log: table login_log does not exist",
				"collection payments, field card_last4: the column is NOT NULL, so erase: null cannot work",
			}
			if len(lines) != len(want) {
				t.Errorf("check gave %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
			}
			for _, w := range want {
				found := false
				for _, l := range lines {
					found = found || (strings.Contains(l, w) && strings.HasPrefix(l, "lms-example.yaml:"))
				}
				if !found {
					t.Errorf("no line with %q in\n%s", w, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

// httpMap is a map whose consent withdrawal goes to the operator's code.
func httpMap(t *testing.T, endpoint string) (*datamap.Map, datamap.Env) {
	t.Helper()
	src := `version: 1
identities: [email]
purposes:
  marketing: {ru: Рассылка, kk: Тарату, en: Mailings}
systems:
  crm:
    kind: postgres
    read_url_env: CRM_URL
  mailer:
    kind: http
    url_env: MAILER_URL
    secret_env: MAILER_SECRET
collections:
  subscribers:
    system: crm
    table: subscribers
    identity: {email: email}
    fields:
      email: {category: contact, purpose: marketing, erase: delete}
    consent_withdrawal:
      http: mailer
      action: unsubscribe
`
	m, err := datamap.Parse("crm.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MAILER_URL": endpoint, "MAILER_SECRET": "mailer secret", "CRM_URL": "postgres://nobody@127.0.0.1:1/none"}
	return m, func(n string) (string, bool) { v, ok := env[n]; return v, ok }
}

// operator is the operator's endpoint in the tests: it checks rightsdesk's
// signature and answers as told.
type operator struct {
	mu       sync.Mutex
	requests []connector.ActionRequest
	badSigs  int
	answer   func(w http.ResponseWriter, r *http.Request)
}

func (o *operator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := signing.Verify(r.Header, "mailer secret", body, time.Now()); err != nil {
		o.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost {
		var req connector.ActionRequest
		_ = json.Unmarshal(body, &req)
		o.requests = append(o.requests, req)
	}
	o.answer(w, r)
}

func TestHTTPActionDoneAtOnceIsSignedAndCarriesTheIdentity(t *testing.T) {
	op := &operator{answer: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"done","detail":"unsubscribed from 2 lists"}`)
	}}
	ts := httptest.NewServer(op)
	defer ts.Close()
	m, env := httpMap(t, ts.URL+"/privacy/actions")
	systems := connector.New(m, env)
	defer systems.Close()
	id := identifier.Identity{Email: " Aigerim@Example.KZ "}
	p, err := plan.Make(t.Context(), systems, plan.ConsentWithdrawal, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Systems) != 1 || p.Systems[0].Name != "mailer" || p.Systems[0].Collections[0].Action != plan.ActionCall {
		t.Fatalf("plan = %+v, want one call to mailer", p)
	}
	for i := 0; i < 2; i++ { // a retry of the step sends the same id
		res, err := plan.ExecuteSystem(t.Context(), systems, p, "mailer", plan.Options{StepID: "RD-7K4M-9QXT-2HV5/mailer"})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Calls["subscribers"]; got.State != connector.ActionDone || got.Detail != "unsubscribed from 2 lists" {
			t.Errorf("result = %+v, want done with the operator's detail", got)
		}
	}
	if op.badSigs != 0 || len(op.requests) != 2 {
		t.Fatalf("operator saw %d requests, %d with bad signatures", len(op.requests), op.badSigs)
	}
	req := op.requests[0]
	if req.ID != "RD-7K4M-9QXT-2HV5/mailer" || op.requests[1].ID != req.ID || req.Action != "unsubscribe" || req.Identity.Email != "aigerim@example.kz" {
		t.Errorf("request = %+v", req)
	}
}

func TestHTTPActionAcceptedLaterIsPolledUntilDone(t *testing.T) {
	var polls atomic.Int32
	op := &operator{}
	op.answer = func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("Location", "/privacy/actions/42")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"status":"pending"}`)
		case polls.Add(1) == 1:
			_, _ = io.WriteString(w, `{"status":"pending"}`)
		default:
			_, _ = io.WriteString(w, `{"status":"done"}`)
		}
	}
	ts := httptest.NewServer(op)
	defer ts.Close()
	m, env := httpMap(t, ts.URL+"/privacy/actions")
	systems := connector.New(m, env)
	defer systems.Close()
	h, err := systems.HTTP("mailer")
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Call(t.Context(), connector.ActionRequest{ID: "step-1", Action: "unsubscribe", Identity: identifier.Identity{Email: "aigerim@example.kz"}, CallbackURL: "https://privacy.example.kz/callbacks/step-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != connector.ActionPending || res.PollURL != ts.URL+"/privacy/actions/42" {
		t.Fatalf("answer = %+v, want pending with the poll URL made absolute", res)
	}
	if got := op.requests[0].CallbackURL; got != "https://privacy.example.kz/callbacks/step-1" {
		t.Errorf("callback_url = %q", got)
	}
	states := []connector.ActionState{}
	for _, want := range []connector.ActionState{connector.ActionPending, connector.ActionDone} {
		r, err := h.Poll(t.Context(), res.PollURL)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, r.State)
		if r.State != want {
			t.Errorf("poll %d = %s, want %s", len(states), r.State, want)
		}
	}
	if op.badSigs != 0 {
		t.Errorf("%d polls were not signed", op.badSigs)
	}
	if _, err := h.Poll(t.Context(), "http://169.254.169.254/latest/meta-data"); err == nil {
		t.Error("a poll URL on another host was followed")
	}
}

func TestHTTPActionFailuresSayWhetherToRetry(t *testing.T) {
	status := http.StatusServiceUnavailable
	op := &operator{answer: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"detail":"no such subscriber"}`)
	}}
	ts := httptest.NewServer(op)
	m, env := httpMap(t, ts.URL)
	systems := connector.New(m, env)
	defer systems.Close()
	h, err := systems.HTTP("mailer")
	if err != nil {
		t.Fatal(err)
	}
	req := connector.ActionRequest{ID: "s", Action: "unsubscribe", Identity: identifier.Identity{Email: "a@example.kz"}}
	if _, err := h.Call(t.Context(), req); !connector.IsRetryable(err) {
		t.Errorf("503: err = %v, want retryable", err)
	}
	status = http.StatusNotFound
	res, err := h.Call(t.Context(), req)
	if err != nil || res.State != connector.ActionFailed || res.Detail != "no such subscriber" {
		t.Errorf("404: %+v, %v; want failed with the operator's detail", res, err)
	}
	ts.Close()
	if _, err := h.Call(context.Background(), req); !connector.IsRetryable(err) {
		t.Errorf("no server: err = %v, want retryable", err)
	}
}

func TestCallbackIsTrustedOnlyWhenSignedWithTheSystemsSecret(t *testing.T) {
	m, env := httpMap(t, "https://crm.example.kz/hooks")
	systems := connector.New(m, env)
	defer systems.Close()
	h, err := systems.HTTP("mailer")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	body := []byte(`{"id":"RD-7K4M-9QXT-2HV5/mailer","status":"done","detail":"consent withdrawn"}`)
	hdr := http.Header{}
	signing.Sign(hdr, "mailer secret", body, now.Add(-time.Minute))
	cb, err := h.VerifyCallback(hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	if cb.ID != "RD-7K4M-9QXT-2HV5/mailer" || cb.Result.State != connector.ActionDone {
		t.Errorf("callback = %+v", cb)
	}
	forged := http.Header{}
	signing.Sign(forged, "guessed", body, now)
	if _, err := h.VerifyCallback(forged, body); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("forged: err = %v", err)
	}
	if _, err := h.VerifyCallback(hdr, []byte(strings.Replace(string(body), "done", "failed", 1))); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("tampered: err = %v", err)
	}
	h.Now = func() time.Time { return now.Add(time.Hour) }
	if _, err := h.VerifyCallback(hdr, body); !errors.Is(err, signing.ErrStale) {
		t.Errorf("replayed an hour later: err = %v", err)
	}
}

func TestIdentifiersAreQuotedByEachDialectsRules(t *testing.T) {
	// A table whose name would end the statement if it were pasted in.
	for _, start := range []func(testing.TB) testkit.LMSServer{testkit.LMSPostgres, testkit.LMSMySQL} {
		srv := start(t)
		t.Run(srv.Kind, func(t *testing.T) {
			q := map[string]string{"postgres": `"`, "mysql": "`"}[srv.Kind]
			weird := "notes" + q + "; DROP TABLE students; --"
			quoted := q + strings.ReplaceAll(weird, q, q+q) + q
			testkit.Exec(t, srv.DB, "CREATE TABLE "+quoted+" (id INTEGER PRIMARY KEY, email VARCHAR(100), note TEXT)",
				"INSERT INTO "+quoted+" VALUES (1, 'aigerim@example.kz', 'mine'), (2, 'x@example.kz', 'not mine')")
			srv.Grant(t, quoted)
			src := `version: 1
identities: [email]
purposes:
  p: {ru: р, kk: қ, en: e}
systems:
  s:
    kind: ` + srv.Kind + `
    read_url_env: R
    change_url_env: C
collections:
  notes:
    system: s
    table: '` + strings.ReplaceAll(weird, "'", "''") + `'
    identity: {email: email}
    fields:
      email: {category: contact, purpose: p, erase: keep, reason: r, keep_for: 1y}
      note: {category: communication, purpose: p, erase: "null"}
reasons:
  r: {ru: р, kk: қ, en: e}
`
			m, err := datamap.Parse("q.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"R": srv.Reader, "C": srv.Changer}
			systems := connector.New(m, func(n string) (string, bool) { v, ok := env[n]; return v, ok })
			defer systems.Close()
			if lines := systems.Check(t.Context()); len(lines) != 0 {
				t.Fatalf("check: %q", lines)
			}
			p, err := plan.Make(t.Context(), systems, plan.Erasure, identifier.Identity{Email: "aigerim@example.kz"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := plan.Execute(t.Context(), systems, p, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Rows["notes"] != 1 {
				t.Errorf("rows changed = %v, want notes: 1", res[0].Rows)
			}
			var n int
			if err := srv.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM students").Scan(&n); err != nil || n != 4 {
				t.Fatalf("students: %d, %v", n, err)
			}
		})
	}
}
