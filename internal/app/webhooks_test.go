package app_test

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
)

// receivedHook is one POST a test receiver got.
type receivedHook struct {
	Timestamp, Signature, Event string
	Body                        []byte
	Status                      int // what the receiver answered
}

// hookReceiver is a webhook receiver on loopback (real HTTP) that answers
// each POST with the next status of its script (200 once the script ends).
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []receivedHook
	script []int
}

func newHookReceiver(t *testing.T, script ...int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{script: script}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		status := http.StatusOK
		if len(h.script) > 0 {
			status, h.script = h.script[0], h.script[1:]
		}
		h.got = append(h.got, receivedHook{
			Timestamp: r.Header.Get("X-Rightsdesk-Timestamp"), Signature: r.Header.Get("X-Rightsdesk-Signature"),
			Event: r.Header.Get("X-Rightsdesk-Event"), Body: body, Status: status,
		})
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) received() []receivedHook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receivedHook(nil), h.got...)
}

// verifyHook checks a delivery as docs/api.md tells receivers to.
func verifyHook(secret string, h receivedHook) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(h.Timestamp + "."))
	mac.Write(h.Body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(h.Signature))
}

var secretOnWebhookPage = regexp.MustCompile(`<code class="secret" id="new-secret">(whsec_[A-Za-z0-9_-]+)</code>`)

// addWebhook adds an endpoint in the workspace as an admin and returns its
// secret, read from the page that shows it once.
func addWebhook(t *testing.T, inst *apptest.Instance, c *http.Client, target string) string {
	t.Helper()
	_, page := inst.Get(t, c, "/staff/webhooks")
	resp, page := inst.Post(t, c, "/staff/webhooks", url.Values{"_csrf": {apptest.CSRFToken(page)}, "url": {target}})
	m := secretOnWebhookPage.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("add webhook: %d, secret shown: %v", resp.StatusCode, m != nil)
	}
	_, page = inst.Get(t, c, "/staff/webhooks")
	if strings.Contains(page, m[1]) || !strings.Contains(page, target) {
		t.Error("the webhook page must list the address and never show its secret again")
	}
	return m[1]
}

type hookBody struct {
	ID, Type, Reference, From, To, At string
}

// receiverOnLoopback is the setting the tests' receivers need: they listen
// on this machine, which webhooks reach only when the operator allows it.
var receiverOnLoopback = map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}

func TestEveryStateChangeIsAnnouncedOnceSigned(t *testing.T) {
	inst := apptest.Start(t, receiverOnLoopback)
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	admin := inst.SignIn(t, "admin@school.example.kz")
	receiver := newHookReceiver(t)
	secret := addWebhook(t, inst, admin, receiver.URL+"/hooks/rightsdesk")
	// A disabled endpoint hears nothing.
	gone := newHookReceiver(t)
	addWebhook(t, inst, admin, gone.URL)
	var goneID int64
	if err := inst.Pool.QueryRow(t.Context(), `SELECT id FROM webhook_endpoints WHERE url = $1`, gone.URL).Scan(&goneID); err != nil {
		t.Fatal(err)
	}
	_, page := inst.Get(t, admin, "/staff/webhooks")
	if resp, _ := inst.Post(t, admin, "/staff/webhooks/"+strconv.FormatInt(goneID, 10)+"/disable", url.Values{"_csrf": {apptest.CSRFToken(page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}

	// Confirmation (the requester), start, ask (an API key), then a refused
	// transition, an assignment and a note: three changes of state.
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	agent := inst.AddStaff(t, "aruzhan@school.example.kz", "Аружан", auth.Agent)
	ref, link := submitAndReadConfirmLink(t, inst, "ru")
	c := browser(t)
	_, confirmPage := get(t, c, link)
	if resp, _ := post(t, c, link, url.Values{"_csrf": {formToken(t, confirmPage)}}); resp.StatusCode != http.StatusOK || statusOf(t, inst, ref) != "new" {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	path := "/api/v1/requests/" + ref
	for _, body := range []string{`{"to":"in_progress"}`, `{"to":"awaiting_requester","note":"Пришлите, пожалуйста, копию документа."}`} {
		if status, out := apiCall(t, inst, key, "POST", path+"/transitions", body); status != http.StatusOK {
			t.Fatalf("%s: %d %v", body, status, out)
		}
	}
	if status, _ := apiCall(t, inst, key, "POST", path+"/transitions", `{"to":"in_progress","note":"x"}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("refused transition: %d", status)
	}
	if status, _ := apiCall(t, inst, key, "POST", path+"/transitions", `{"to":"rejected","reason":"other","note":"   "}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("refused rejection: %d", status)
	}
	apiCall(t, inst, key, "POST", path+"/assign", `{"staff_id":`+itoa(agent.ID)+`}`)
	apiCall(t, inst, key, "POST", path+"/notes", `{"text":"Ждём документ."}`)

	inst.Settle(t)
	if n := inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'`); n != 3 {
		t.Errorf("%d webhook deliveries recorded as delivered, want 3", n)
	}
	got := receiver.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d deliveries, want one per change (3)", len(got))
	}
	// Deliveries run concurrently and may arrive in any order; the event id
	// grows with the log, so receivers order by it.
	eventID := func(h receivedHook) int64 {
		var b struct{ ID string }
		_ = json.Unmarshal(h.Body, &b)
		n, _ := strconv.ParseInt(b.ID, 10, 64)
		return n
	}
	slices.SortFunc(got, func(a, b receivedHook) int { return cmp.Compare(eventID(a), eventID(b)) })
	want := [][2]string{{"unverified", "new"}, {"new", "in_progress"}, {"in_progress", "awaiting_requester"}}
	ids := map[string]bool{}
	for i, h := range got {
		if !verifyHook(secret, h) {
			t.Errorf("delivery %d: signature %q does not verify", i, h.Signature)
		}
		ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
		if err != nil || ts != inst.Clock.Now().Unix() {
			t.Errorf("delivery %d: timestamp %q", i, h.Timestamp)
		}
		var b hookBody
		dec := json.NewDecoder(strings.NewReader(string(h.Body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("delivery %d: body %s: %v", i, h.Body, err)
		}
		at, err := time.Parse(time.RFC3339, b.At)
		if b.Type != "request.status_changed" || h.Event != b.Type || b.Reference != ref || b.From != want[i][0] || b.To != want[i][1] ||
			err != nil || !at.Equal(inst.Clock.Now()) || b.ID == "" || ids[b.ID] {
			t.Errorf("delivery %d: %s", i, h.Body)
		}
		ids[b.ID] = true
		if strings.Contains(string(h.Body), "@") || strings.Contains(string(h.Body), "Айгерим") {
			t.Errorf("delivery %d carries personal data: %s", i, h.Body)
		}
		// A forged body does not verify.
		forged := h
		forged.Body = []byte(strings.Replace(string(h.Body), b.To, "completed", 1))
		if verifyHook(secret, forged) {
			t.Error("a changed body still verifies")
		}
	}
	if n := len(gone.received()); n != 0 {
		t.Errorf("a disabled endpoint got %d deliveries", n)
	}
	_, page = inst.Get(t, admin, "/staff/webhooks")
	if !strings.Contains(page, ref) || !strings.Contains(page, "Доставлено") {
		t.Error("the webhook page does not list the deliveries and their state")
	}
}

func TestAFailedWebhookIsRetriedUntilTheReceiverTakesIt(t *testing.T) {
	inst := apptest.Start(t, map[string]string{"VERIFY_EMAIL": "false", "WEBHOOK_ALLOW_PRIVATE": "true"})
	inst.AddStaff(t, "admin@school.example.kz", "Админ", auth.Admin)
	receiver := newHookReceiver(t, http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK)
	secret := addWebhook(t, inst, inst.SignIn(t, "admin@school.example.kz"), receiver.URL)
	key := newAPIKey(t, inst, "CRM", auth.Agent)
	ref, _ := filed(t, inst, request.Objection, "en")
	if status, out := apiCall(t, inst, key, "POST", "/api/v1/requests/"+ref+"/transitions", `{"to":"in_progress"}`); status != http.StatusOK {
		t.Fatalf("start: %d %v", status, out)
	}
	// Between failures the delivery shows as failing, with why.
	waitFor(t, 30*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE state = 'failed' AND last_status = 500 AND last_error = 'status'`) == 1 ||
			len(receiver.received()) >= 2
	})
	waitFor(t, 60*time.Second, func() bool {
		return inst.Count(t, `SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered' AND attempts = 3 AND last_status = 200`) == 1
	})
	got := receiver.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d attempts, want 3 (two failures, then success)", len(got))
	}
	for i, h := range got {
		if string(h.Body) != string(got[0].Body) || !verifyHook(secret, h) {
			t.Errorf("attempt %d: a retry must send the same signed event: %s", i, h.Body)
		}
	}
	inst.Settle(t)
	if n := len(receiver.received()); n != 3 {
		t.Errorf("delivered, yet sent again: %d attempts", n)
	}
}
