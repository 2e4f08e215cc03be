package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alexedwards/scs/v2/memstore"

	"rightsdesk/internal/deadline"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	webfiles "rightsdesk/web"
)

// The fuzz targets here drive the real Echo handlers (routing, middleware,
// decoding, validation, rendering) with an in-memory repository instead of
// PostgreSQL, so that thousands of inputs a second go through the same code
// as a request from the internet. The store behind them is a fake: SQL is
// covered by internal/app's attack corpus on a real database.

// fuzzKnownToken is the one status link the fake store knows.
var fuzzKnownToken = strings.Repeat("K", 43)

type fuzzClock struct{}

func (fuzzClock) Now() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }

// fuzzRepo keeps what the intake stores, in memory.
type fuzzRepo struct {
	mu   sync.Mutex
	last request.NewRequest
	n    int64
}

func (r *fuzzRepo) CreateRequest(_ context.Context, nr request.NewRequest) (request.Request, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.last = nr
	out := nr.Request
	out.ID = r.n
	return out, nil
}

func (r *fuzzRepo) ChangeRequest(context.Context, request.RequestKey, func(request.Request) (request.Change, error)) (request.Request, error) {
	return request.Request{}, request.ErrNotFound
}

func (r *fuzzRepo) AddReply(context.Context, []byte, time.Time, time.Time, func(request.Request, request.ReplyUsage) (request.Change, error)) (request.Request, error) {
	return request.Request{}, request.ErrNotFound
}

func (r *fuzzRepo) Confirmation(context.Context, []byte) (request.Request, request.Confirmation, error) {
	return request.Request{}, request.Confirmation{}, request.ErrNotFound
}

func (r *fuzzRepo) Confirm(context.Context, []byte, func(request.Request, request.Confirmation) (request.Change, error)) (request.Request, error) {
	return request.Request{}, request.ErrNotFound
}

// fuzzStore knows one request, reached by fuzzKnownToken, whose
// conversation holds whatever the current input put there.
type fuzzStore struct {
	mu      sync.Mutex
	message string
	file    string
}

func (s *fuzzStore) RequestByStatusToken(_ context.Context, hash []byte) (request.Request, error) {
	if string(hash) != string(request.HashToken(fuzzKnownToken)) {
		return request.Request{}, store.ErrNotFound
	}
	return fuzzKnownRequest(), nil
}

// fuzzKnownRequest is the one request the fake store holds.
func fuzzKnownRequest() request.Request {
	at := fuzzClock{}.Now()
	return request.Request{
		ID: 1, Reference: "RD-7K4M-9QXT-2HV5", Type: request.Erasure, Status: request.InProgress, Locale: request.Russian,
		ReceivedAt: at, ConfirmedAt: at, DueAt: at.Add(30 * 24 * time.Hour), FullName: "Ерлан", Email: "e@example.kz",
	}
}

// RequestByReference finds whatever reference the intake just stored (the
// thank-you page reads its request by reference).
func (s *fuzzStore) RequestByReference(_ context.Context, reference string) (request.Request, error) {
	r := fuzzKnownRequest()
	r.Reference = reference
	return r, nil
}

func (s *fuzzStore) Messages(context.Context, int64) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []store.Message{{ID: 1, Author: request.ActorStaff, Body: s.message, At: fuzzClock{}.Now(),
		Files: []store.MessageFile{{ID: 1, Name: s.file, ContentType: "application/pdf", Size: 2048, Purpose: request.FileRequester}}}}, nil
}

func (s *fuzzStore) Events(context.Context, int64) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []store.Event{{ID: 1, Kind: "extended", Actor: request.ActorStaff, At: fuzzClock{}.Now(),
		Data: map[string]any{"reason": s.message, "due_at": fuzzClock{}.Now().Add(60 * 24 * time.Hour).Format(time.RFC3339Nano)}}}, nil
}

func (s *fuzzStore) Download(context.Context, []byte, time.Time) (request.File, request.Locale, error) {
	return request.File{}, "", store.ErrNotFound
}

func (s *fuzzStore) CountHit(context.Context, string, time.Time, time.Duration) (int, error) {
	return 0, nil
}

func (s *fuzzStore) Ping(context.Context) error { return nil }

type fuzzServer struct {
	*Server
	repo      *fuzzRepo
	store     *fuzzStore
	validator *request.Validator
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	catalog, err := webfiles.Catalog()
	if err != nil {
		tb.Fatal(err)
	}
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		tb.Fatal(err)
	}
	composer, err := mail.NewComposer(webfiles.Files, catalog, loc)
	if err != nil {
		tb.Fatal(err)
	}
	policy, err := deadline.NewPolicy("default", loc)
	if err != nil {
		tb.Fatal(err)
	}
	repo, st := &fuzzRepo{}, &fuzzStore{}
	keys, err := keyring.New(make([]byte, keyring.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	links := request.Links{BaseURL: "https://rightsdesk.example"}
	validator := request.NewValidator(request.AllTypes())
	srv, err := New(Deps{
		Config: Config{
			OrgName: "Школа", BaseURL: links.BaseURL, Secure: true, EnabledTypes: request.AllTypes(), Location: loc,
		},
		Intake: &request.Intake{
			Validator: validator, Repo: repo, Composer: composer, Deadlines: policy, Clock: fuzzClock{}, Links: links,
			Config: request.IntakeConfig{VerifyEmail: true, ConfirmFor: 72 * time.Hour, PrivacyContact: "privacy@example.kz", StaffLocale: request.Russian, OrgName: "Школа"},
		},
		Confirmer: &request.Confirmer{Repo: repo, Deadlines: policy, Composer: composer, Clock: fuzzClock{}, Links: links},
		Requester: &request.Requester{Repo: repo, Composer: composer, Clock: fuzzClock{}, Links: links},
		Receipts:  request.Receipts{Signer: keys, Clock: fuzzClock{}},
		Store:     st,
		Catalog:   catalog,
		Clock:     fuzzClock{},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Files:     webfiles.Files,
		Sessions:  memstore.NewWithCleanupInterval(0),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzServer{Server: srv, repo: repo, store: st, validator: validator}
}

func (fz *fuzzServer) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	fz.ServeHTTP(rec, req)
	return rec
}

// strictlyValid is the intake's contract, stated independently of the
// handler: one JSON object with known fields only and nothing after it,
// that the domain validator accepts.
func (fz *fuzzServer) strictlyValid(body string) (request.Submission, bool) {
	var sub request.Submission
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		return sub, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return sub, false
	}
	sub.Normalize()
	return sub, fz.validator.Validate(&sub) == nil
}

func FuzzAPISubmit(f *testing.F) {
	valid := `{"type":"erasure","full_name":"Ерлан Сапаров","email":"erlan@example.kz","consent":true,"locale":"ru"}`
	f.Add(valid, "")
	f.Add(valid, "key-1")
	f.Add(valid, "key\r\nX-Evil: 1")
	f.Add(`{"type":"erasure","full_name":"Ерлан\r\nBcc: x@y.z","email":"erlan@example.kz","consent":true}`, "")
	f.Add(`{"type":"erasure","full_name":"\u0000","email":"erlan@example.kz","consent":true}`, "")
	f.Add(`{"type":"erasure","full_name":"<script>alert(1)</script>","email":"erlan@example.kz","consent":true}`, "")
	f.Add(`{"type":"erasure","FULL_NAME":"Ерлан","email":"erlan@example.kz","consent":true,"full_name":"x"}`, "")
	f.Add(`{"type":"access","full_name":"Ерлан","email":"erlan@example.kz","consent":true,"access_scope":"copy","admin":true}`, "")
	f.Add(`{"type":"rectification","full_name":"Ерлан","email":"erlan@example.kz","consent":"yes"}`, "")
	f.Add(`{"type":"erasure"} {"type":"access"}`, "")
	f.Add(`[`+strings.Repeat(`[`, 100)+`]`, "")
	f.Add("{\"type\":\"erasure\",\"full_name\":\"\xff\xfe\",\"email\":\"erlan@example.kz\",\"consent\":true}", "")
	f.Add(`{"type":"objection","full_name":"O'Brien; DROP TABLE requests;--","email":"o@example.kz","consent":true,"processing":"' OR 1=1 --"}`, "")
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body, key string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/requests", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header["Idempotency-Key"] = []string{key}
		}
		rec := srv.do(req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body.String())
		}
		sub, ok := srv.strictlyValid(body)
		keyOK := key == "" || (len(key) <= 255 && !strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }))
		switch {
		case rec.Code == http.StatusCreated && !(ok && keyOK):
			t.Fatalf("201 for invalid input %q (key %q)", body, key)
		case rec.Code != http.StatusCreated && ok && keyOK && len(body) < 64<<10:
			t.Fatalf("%d for valid input %q: %s", rec.Code, body, rec.Body.String())
		case rec.Code != http.StatusCreated:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%d answer is not JSON: %q", rec.Code, rec.Body.String())
			}
			return
		}
		// What was stored is what was validated, and safe for a header.
		stored := srv.repo.last.Request
		if stored.FullName != sub.FullName || stored.Email != sub.Email || stored.Details != sub.Details {
			t.Fatalf("stored %q <%s>, validated %q <%s>", stored.FullName, stored.Email, sub.FullName, sub.Email)
		}
		for _, v := range []string{stored.FullName, stored.Email, stored.Phone, stored.AccountID, stored.SubjectName} {
			if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
				t.Fatalf("stored a single-line field with a control character: %q", v)
			}
		}
		for _, e := range srv.repo.last.Emails {
			if strings.ContainsAny(e.To+e.Subject, "\r\n\x00") {
				t.Fatalf("an outbox email carries a line break in a header: %q %q", e.To, e.Subject)
			}
		}
	})
}

// FuzzFormSubmit posts the request form with any body: the form decoder,
// CSRF check, validation and re-rendering of the form with its errors must
// answer 303 (accepted), 4xx, never 5xx; a 303 only for a valid request.
func FuzzFormSubmit(f *testing.F) {
	f.Add("erasure", "full_name=%D0%95%D1%80%D0%BB%D0%B0%D0%BD&email=e%40example.kz&consent=true&locale=ru")
	f.Add("erasure", "full_name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=e%40example.kz&consent=true&details=%22%3E%3Cimg+src%3Dx+onerror%3Dalert(1)%3E")
	f.Add("access", "full_name=a%0D%0ABcc%3A+x%40y.z&email=e%40example.kz&consent=true&access_scope=copy")
	f.Add("erasure", "full_name=%00&email=%FF&consent=true")
	f.Add("rectification", "full_name=x&email=e%40example.kz&consent=true&correction=%E2%80%AEabc&on_behalf=true&relationship=parent&subject_name=y")
	f.Add("erasure", "full_name=x&full_name=y&email=e%40example.kz&consent=true&_csrf=other")
	f.Add("../../admin", "a=b")
	f.Add("erasure", "%zz=%zz&;;&&==")
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, typ, body string) {
		form := body + "&_csrf=fuzz-csrf-token"
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
		req.URL.Path = "/request/" + typ
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "_csrf", Value: "fuzz-csrf-token"})
		rec := srv.do(req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %s %q: %s", rec.Code, typ, body, rec.Body.String())
		}
		if rec.Code == http.StatusSeeOther {
			// To the thank-you page of the request just stored, by a
			// receipt that names it and opens nothing else.
			loc := rec.Header().Get("Location")
			receipt, found := strings.CutPrefix(loc, "/thanks/")
			if ref, err := srv.receipts.Check(receipt); !found || err != nil || ref != srv.repo.last.Request.Reference {
				t.Fatalf("303 to %q", loc)
			}
			if stored := srv.repo.last.Request; strings.ContainsFunc(stored.FullName+stored.Email, unicode.IsControl) {
				t.Fatalf("stored %q <%s>", stored.FullName, stored.Email)
			}
		}
		if rec.Code == http.StatusUnprocessableEntity && strings.Contains(rec.Body.String(), "<script>") {
			t.Fatalf("the form shown again carries a script: %s", rec.Body.String())
		}
	})
}

// FuzzStatusToken sends any token to every page reached by a secret link:
// none answers 5xx, and only the one link the store knows opens a page.
// The known request's conversation holds the fuzzed text, which must come
// out escaped.
func FuzzStatusToken(f *testing.F) {
	for _, tok := range []string{
		fuzzKnownToken, "", "nonsense", strings.Repeat("A", 43), strings.Repeat("A", 42) + "\n",
		"../../../etc/passwd", "%2e%2e%2f", fuzzKnownToken + "/withdraw", fuzzKnownToken + "/files/1",
		fuzzKnownToken + "\x00", "\u202e" + fuzzKnownToken[1:], strings.Repeat("/", 50),
	} {
		f.Add(tok, "<script>alert(1)</script>")
	}
	f.Add(fuzzKnownToken, `"><img src=x onerror=alert(1)>{{.}}`)
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, token, text string) {
		if !utf8.ValidString(text) {
			return // the store holds only validated, valid UTF-8 text
		}
		srv.store.mu.Lock()
		srv.store.message, srv.store.file = text, request.SafeFileName(text)
		srv.store.mu.Unlock()
		for _, prefix := range []string{"/s/", "/thanks/", "/confirm/", "/d/", "/s/" + fuzzKnownToken + "/files/"} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path = prefix + token
			rec := srv.do(req)
			if rec.Code >= 500 {
				t.Fatalf("GET %q: %d", req.URL.Path, rec.Code)
			}
			if rec.Code == http.StatusOK && !strings.Contains(req.URL.Path, fuzzKnownToken) {
				t.Fatalf("GET %q: 200 for a link nobody was given", req.URL.Path)
			}
		}
		// Escaped text adds no markup: the page has as many '<' with the
		// fuzzed text in its conversation as with the same text whose '<'
		// are letters.
		if tags := srv.statusTags(t, fuzzKnownToken); tags >= 0 {
			srv.store.mu.Lock()
			benign := strings.ReplaceAll(text, "<", "x")
			srv.store.message, srv.store.file = benign, request.SafeFileName(benign)
			srv.store.mu.Unlock()
			if plain := srv.statusTags(t, fuzzKnownToken); tags != plain {
				t.Fatalf("%q adds markup to the status page: %d '<' instead of %d", text, tags, plain)
			}
		}
	})
}

// statusTags counts the '<' of the status page for token (-1 when it does
// not open).
func (fz *fuzzServer) statusTags(t *testing.T, token string) int {
	req := httptest.NewRequest(http.MethodGet, "/s/"+token, nil)
	rec := fz.do(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("the known status link answers %d", rec.Code)
	}
	return strings.Count(rec.Body.String(), "<")
}

// FuzzOwnPath checks the ?next= guard as a browser reads a Location: it
// drops tabs and line breaks anywhere and takes a backslash for a slash, so
// "/\t/evil.example" is "//evil.example", another site. On an operator
// served under a path prefix, the redirect also stays under that prefix.
func FuzzOwnPath(f *testing.F) {
	for _, next := range []string{
		"/staff", "/s/x?done=reply", "//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil.example",
		"/\n/evil.example", "/\r\n/evil.example", " //evil.example", "/%2F/evil.example", "\\\\evil.example", "/\x00/evil", "",
		"/alpha/staff", "/alpha//evil.example", "/alpha/\\evil.example", "/alphabet", "/alpha?x=1", "/alpha", "/beta/staff",
	} {
		f.Add(next)
	}
	base, _ := url.Parse("https://rightsdesk.example/lang/en")
	f.Fuzz(func(t *testing.T, next string) {
		for _, prefix := range []string{"", "/alpha"} {
			s := &Server{prefix: prefix}
			inApp, ok := s.ownPath(next)
			if !ok {
				continue
			}
			got := s.path(inApp)
			if !strings.HasPrefix(inApp, "/") || !strings.HasPrefix(got, prefix+"/") {
				t.Fatalf("prefix %q: ownPath(%q) = %q, written %q: not a path under the prefix", prefix, next, inApp, got)
			}
			if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("prefix %q: ownPath(%q) = %q carries a control character", prefix, next, got)
			}
			browser := strings.ReplaceAll(got, "\\", "/")
			if strings.HasPrefix(browser, "//") || strings.HasPrefix(strings.ReplaceAll(inApp, "\\", "/"), "//") {
				t.Fatalf("prefix %q: ownPath(%q) = %q leads to another host", prefix, next, got)
			}
			if u, err := base.Parse(got); err == nil && u.Host != base.Host {
				t.Fatalf("prefix %q: ownPath(%q) = %q resolves to %s", prefix, next, got, u.Host)
			}
		}
	})
}
