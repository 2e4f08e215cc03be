package jobs

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/riverqueue/river"

	"rightsdesk/internal/egress"
	"rightsdesk/internal/signing"
	"rightsdesk/internal/store"
)

// receiver is a webhook endpoint on loopback that answers with status and
// keeps what it was sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []*http.Request
	bodies [][]byte
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	rc := &receiver{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, body)
		rc.mu.Unlock()
		w.WriteHeader(rc.status)
		_, _ = io.WriteString(w, "internal detail of the receiver, never to be kept")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

const hookSecret = "whsec-test-secret"

// hook records an endpoint at url and one delivery to it of a state change
// of a filed request, as a change records it, and returns the delivery.
func (f *fixture) hook(t *testing.T, url string) (store.WebhookDelivery, []byte) {
	t.Helper()
	ctx := context.Background()
	r := f.file(t, "aigerim@example.kz", false)
	e, err := f.store.CreateWebhookEndpoint(ctx, url, hookSecret, 0, at)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"1","type":"request.status_changed","reference":"` + r.reference + `","from":"unverified","to":"new","at":"2026-03-02T10:00:00Z"}`)
	var id int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at)
		SELECT $1, e.id, $2, $3 FROM events e WHERE e.request_id = $4 AND e.kind = 'received' RETURNING id`,
		e.ID, body, at, r.id).Scan(&id); err != nil {
		t.Fatal(err)
	}
	d, err := f.store.WebhookDelivery(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return d, body
}

func webhookWorker(f *fixture, allowPrivate bool) *DeliverWebhookWorker {
	return &DeliverWebhookWorker{Store: f.store, Egress: egress.Policy{AllowPrivate: allowPrivate}, Now: fixedNow, Logger: quiet()}
}

func TestAWebhookIsPostedSignedOnceAndRecordedAsDelivered(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, http.StatusNoContent)
	d, body := f.hook(t, rc.URL+"/hooks")
	w := webhookWorker(f, true)

	if res := workOnce(t, f, w, DeliverWebhookArgs{DeliveryID: d.ID}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the job ended %s, want completed", res.EventKind)
	}
	if rc.requests() != 1 {
		t.Fatalf("the receiver got %d requests, want 1", rc.requests())
	}
	req, got := rc.got[0], rc.bodies[0]
	ts := req.Header.Get(WebhookTimestampHeader)
	if string(got) != string(body) || req.Method != http.MethodPost || req.URL.Path != "/hooks" ||
		req.Header.Get("Content-Type") != "application/json" || req.Header.Get(WebhookEventHeader) != "request.status_changed" {
		t.Errorf("the receiver got %s %s (%s, %s): %s", req.Method, req.URL.Path, req.Header.Get("Content-Type"), req.Header.Get(WebhookEventHeader), got)
	}
	if ts != strconv.FormatInt(at.Unix(), 10) || req.Header.Get(WebhookSignatureHeader) != signing.Signature(hookSecret, ts, body) {
		t.Errorf("timestamp %q, signature %q: not the body signed at the worker's now", ts, req.Header.Get(WebhookSignatureHeader))
	}
	after, err := f.store.WebhookDelivery(context.Background(), d.ID)
	if err != nil || after.State != store.WebhookDelivered || after.Attempts != 1 || after.LastStatus != http.StatusNoContent ||
		after.LastError != "" || !after.DeliveredAt.Equal(at) {
		t.Errorf("the delivery as recorded: %+v %v", after, err)
	}

	// The job again (its success was not recorded by River): nothing sent.
	if res := workOnce(t, f, w, DeliverWebhookArgs{DeliveryID: d.ID}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the repeated job ended %s, want completed", res.EventKind)
	}
	if rc.requests() != 1 {
		t.Errorf("a delivered webhook was sent again: %d requests", rc.requests())
	}
}

// A failed attempt is retried, and what is kept of it is a code for the
// admin, never the receiver's answer nor the transport's text.
func TestAFailedWebhookIsRetriedWithOnlyACodeKept(t *testing.T) {
	gone := newReceiver(t, http.StatusOK)
	goneURL := gone.URL
	gone.Close()
	for _, tc := range []struct {
		name         string
		status       int // the receiver's answer; 0: no receiver
		url          string
		allowPrivate bool
		failure      string
		lastStatus   int
		reached      bool
	}{
		{"an error answer", http.StatusInternalServerError, "", true, store.WebhookFailureStatus, 500, true},
		{"a redirect", http.StatusFound, "", true, store.WebhookFailureStatus, 302, true},
		{"nobody listening", 0, goneURL, true, string(egress.FailConnect), 0, false},
		{"a private address refused", http.StatusOK, "", false, string(egress.FailRefusedPrivate), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			url := tc.url
			var rc *receiver
			if tc.status != 0 {
				rc = newReceiver(t, tc.status)
				url = rc.URL
			}
			d, _ := f.hook(t, url)
			res, err := work(t, f, webhookWorker(f, tc.allowPrivate), DeliverWebhookArgs{DeliveryID: d.ID})
			if err == nil || !retried(res) {
				t.Fatalf("the job ended %s (%s) with %v, want it tried again", res.EventKind, res.Job.State, err)
			}
			if rc != nil && (rc.requests() == 1) != tc.reached {
				t.Errorf("the receiver got %d requests, want reached: %v", rc.requests(), tc.reached)
			}
			after, err := f.store.WebhookDelivery(context.Background(), d.ID)
			if err != nil || after.State != store.WebhookFailed || after.Attempts != 1 || after.LastError != tc.failure || after.LastStatus != tc.lastStatus {
				t.Errorf("the delivery as recorded: state %s, %d attempts, failure %q, status %d (%v); want failed, %q, %d",
					after.State, after.Attempts, after.LastError, after.LastStatus, err, tc.failure, tc.lastStatus)
			}
		})
	}
}

func TestAWebhookOfADisabledEndpointOrAGoneDeliveryIsCancelled(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t, http.StatusOK)
	d, _ := f.hook(t, rc.URL)
	if err := f.store.DisableWebhookEndpoint(context.Background(), d.EndpointID, 0, at); err != nil {
		t.Fatal(err)
	}
	w := webhookWorker(f, true)
	if res := workOnce(t, f, w, DeliverWebhookArgs{DeliveryID: d.ID}); res.EventKind != river.EventKindJobCancelled {
		t.Errorf("a delivery to a disabled endpoint ended %s, want cancelled", res.EventKind)
	}
	if rc.requests() != 0 {
		t.Errorf("a disabled endpoint got %d requests", rc.requests())
	}
	if res := workOnce(t, f, w, DeliverWebhookArgs{DeliveryID: d.ID + 1000}); res.EventKind != river.EventKindJobCancelled {
		t.Errorf("a delivery that does not exist ended %s, want cancelled", res.EventKind)
	}
}
