package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"rightsdesk/internal/egress"
	"rightsdesk/internal/signing"
	"rightsdesk/internal/store"
)

// Webhook headers: the receiver checks the signature over
// "<timestamp>.<body>" with its endpoint's secret, and may refuse old
// timestamps to stop replays (internal/signing).
const (
	WebhookTimestampHeader = signing.TimestampHeader
	WebhookSignatureHeader = signing.SignatureHeader
	WebhookEventHeader     = "X-Rightsdesk-Event"
)

// WebhookSignature is the value of WebhookSignatureHeader for a body sent
// at timestamp (Unix seconds): signing.Signature, the one scheme.
func WebhookSignature(secret, timestamp string, body []byte) string {
	return signing.Signature(secret, timestamp, body)
}

// DeliverWebhookArgs is the job that delivers one recorded webhook.
type DeliverWebhookArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (DeliverWebhookArgs) Kind() string { return "deliver_webhook" }

// InsertOpts lets a delivery retry for about a day and a half with the
// runner's backoff (capped at RetryMax, ten minutes in production) before
// it is given up on; the delivery stays "failed" on the admin page.
func (DeliverWebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 200}
}

// EnqueueWebhook schedules the delivery of a recorded webhook delivery, in
// the transaction that recorded it (store.WebhookOutbox).
func (o *Outbox) EnqueueWebhook(ctx context.Context, tx pgx.Tx, deliveryID int64) error {
	_, err := o.client.InsertTx(ctx, tx, DeliverWebhookArgs{DeliveryID: deliveryID}, nil)
	return err
}

// WebhookStore is what webhook delivery needs from the database.
type WebhookStore interface {
	WebhookDelivery(ctx context.Context, id int64) (store.WebhookDelivery, error)
	RecordWebhookAttempt(ctx context.Context, id int64, at time.Time, status int, failure string) error
}

// webhookTimeout bounds one attempt: a receiver that hangs is retried later.
const webhookTimeout = 10 * time.Second

// DeliverWebhookWorker POSTs a recorded event to its endpoint, signed, and
// records the outcome. Anything but a 2xx answer is a failure retried with
// backoff. Delivery is at least once: receivers drop repeats by the event id.
//
// Endpoints are addresses an admin typed, so every connection goes through
// the egress policy (internal addresses refused after resolution, no proxy,
// no redirect), and what is recorded for the admin is a failure code, never
// the transport's text: "connection refused" against "timed out" is how a
// port scanner reads a network.
type DeliverWebhookWorker struct {
	river.WorkerDefaults[DeliverWebhookArgs]
	Store  WebhookStore
	Egress egress.Policy
	Client *http.Client // nil: Egress.Client(webhookTimeout)
	Now    func() time.Time
	Logger *slog.Logger // nil: no log of failures
	once   sync.Once
	client *http.Client
}

// Timeout implements river.Worker: a little more than one HTTP attempt.
func (w *DeliverWebhookWorker) Timeout(*river.Job[DeliverWebhookArgs]) time.Duration {
	return webhookTimeout + 5*time.Second
}

// Work implements river.Worker.
func (w *DeliverWebhookWorker) Work(ctx context.Context, job *river.Job[DeliverWebhookArgs]) error {
	d, err := w.Store.WebhookDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("webhook delivery %d does not exist", job.Args.DeliveryID))
	}
	if err != nil {
		return err
	}
	if d.State == store.WebhookDelivered {
		return nil // a retry of a job whose success was already recorded
	}
	if !d.Active {
		return river.JobCancel(fmt.Errorf("webhook endpoint %d is disabled", d.EndpointID))
	}
	status, failure, cause := w.post(ctx, d)
	if err := w.Store.RecordWebhookAttempt(ctx, d.ID, w.Now(), status, failure); err != nil {
		return fmt.Errorf("record webhook attempt %d: %w", d.ID, err)
	}
	if failure != "" {
		if w.Logger != nil && cause != nil {
			// The cause names an address and a port, never a requester.
			w.Logger.WarnContext(ctx, "webhook delivery failed", "endpoint_id", d.EndpointID, "delivery_id", d.ID,
				"attempt", job.Attempt, "failure", failure, "error", cause)
		}
		return fmt.Errorf("webhook delivery %d: %s", d.ID, failure)
	}
	return nil
}

// post sends the delivery once and returns the receiver's status and, when
// the attempt failed, a failure code for the admin (an egress.Failure, or
// store.WebhookFailureStatus) and the error behind it for the log.
func (w *DeliverWebhookWorker) post(ctx context.Context, d store.WebhookDelivery) (int, string, error) {
	if err := w.Egress.CheckURL(d.URL); err != nil {
		return 0, string(egress.FailureOf(err)), err
	}
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	ts := strconv.FormatInt(w.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, string(egress.FailBadURL), err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rightsdesk-webhooks/1")
	req.Header.Set(WebhookEventHeader, store.WebhookEventStatusChanged)
	req.Header.Set(WebhookTimestampHeader, ts)
	req.Header.Set(WebhookSignatureHeader, WebhookSignature(d.Secret, ts, d.Body))
	resp, err := w.httpClient().Do(req)
	if err != nil {
		// The *url.Error's cause, without the URL (its query may hold a
		// receiver's token).
		cause := err
		if inner := errors.Unwrap(err); inner != nil {
			cause = inner
		}
		return 0, string(egress.FailureOf(err)), cause
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The receiver's answer itself is theirs: only its status is kept.
		return resp.StatusCode, store.WebhookFailureStatus, nil
	}
	return resp.StatusCode, "", nil
}

func (w *DeliverWebhookWorker) httpClient() *http.Client {
	if w.Client != nil {
		return w.Client
	}
	w.once.Do(func() { w.client = w.Egress.Client(webhookTimeout) })
	return w.client
}
