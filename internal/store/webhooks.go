package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// WebhookOutbox enqueues the delivery job of a recorded webhook delivery
// inside the transaction that recorded it. The store's Outbox implements it
// when webhooks are wired (River, in production); without it, state changes
// record no deliveries.
type WebhookOutbox interface {
	EnqueueWebhook(ctx context.Context, tx pgx.Tx, deliveryID int64) error
}

// WebhookEventStatusChanged is the type of the event sent on every change
// of a request's state.
const WebhookEventStatusChanged = "request.status_changed"

// WebhookEvent is the body of a delivery. It names the request by its
// reference and carries no personal data.
type WebhookEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Reference string    `json:"reference"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	At        time.Time `json:"at"`
}

// recordWebhooks records, for a change that moves a request to another
// state, one delivery per active endpoint and enqueues its job, in the
// change's transaction: an announcement exists exactly when its change does.
func (s *Store) recordWebhooks(ctx context.Context, tx pgx.Tx, r request.Request, ch request.Change, eventID int64) error {
	outbox, ok := s.outbox.(WebhookOutbox)
	if !ok || ch.To == r.Status {
		return nil
	}
	body, err := json.Marshal(WebhookEvent{
		ID: strconv.FormatInt(eventID, 10), Type: WebhookEventStatusChanged, Reference: r.Reference,
		From: string(r.Status), To: string(ch.To), At: ch.At.UTC(),
	})
	if err != nil {
		return fmt.Errorf("encode webhook event: %w", err)
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO webhook_deliveries (endpoint_id, event_id, body, created_at)
		SELECT id, $1, $2, $3 FROM webhook_endpoints WHERE disabled_at IS NULL
		RETURNING id`, eventID, body, ch.At)
	if err != nil {
		return fmt.Errorf("record webhook deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("record webhook deliveries: %w", err)
	}
	for _, id := range ids {
		if err := outbox.EnqueueWebhook(s.pool.scope(ctx), tx, id); err != nil {
			return fmt.Errorf("enqueue webhook delivery: %w", err)
		}
	}
	return nil
}

// WebhookEndpoint is a URL that state changes are announced to.
type WebhookEndpoint struct {
	ID         int64
	URL        string
	Secret     string
	CreatedBy  int64
	CreatedAt  time.Time
	DisabledAt time.Time // zero while active
	// Delivery counts, for the admin page.
	Delivered, Queued, Failed int
	LastStatus                int
	LastError                 string
}

// Active reports whether the endpoint receives new deliveries.
func (e WebhookEndpoint) Active() bool { return e.DisabledAt.IsZero() }

// CreateWebhookEndpoint stores an endpoint with its signing secret and logs
// who added it.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, url, secret string, by int64, at time.Time) (WebhookEndpoint, error) {
	e := WebhookEndpoint{URL: url, Secret: secret, CreatedBy: by, CreatedAt: at}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (url, secret, created_by, created_at)
			VALUES ($1, $2, nullif($3, 0), $4) RETURNING id`, url, s.keys.SealString(sealed.WebhookSecret, secret), by, at).Scan(&e.ID); err != nil {
			return fmt.Errorf("insert webhook endpoint: %w", err)
		}
		_, err := staffEvent(ctx, tx, "webhook_endpoint_created", by, map[string]any{"webhook_endpoint_id": e.ID}, at)
		return err
	})
	return e, err
}

// ErrWebhookDisabled is returned when disabling an endpoint disabled before.
var ErrWebhookDisabled = errors.New("webhook endpoint already disabled")

// DisableWebhookEndpoint stops new deliveries to an endpoint (queued ones
// are cancelled by their jobs) and logs who did it.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, id, by int64, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL`, id, at)
		if err != nil {
			return fmt.Errorf("disable webhook endpoint: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE id = $1`, id).Scan(&n); err != nil {
				return fmt.Errorf("find webhook endpoint: %w", err)
			}
			if n == 0 {
				return ErrNotFound
			}
			return ErrWebhookDisabled
		}
		_, err = staffEvent(ctx, tx, "webhook_endpoint_disabled", by, map[string]any{"webhook_endpoint_id": id}, at)
		return err
	})
}

// WebhookEndpoints lists the endpoints, newest first, with their delivery
// counts; secrets are left out.
func (s *Store) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, e.url, coalesce(e.created_by, 0), e.created_at, e.disabled_at,
			count(d.id) FILTER (WHERE d.state = 'delivered'),
			count(d.id) FILTER (WHERE d.state = 'queued'),
			count(d.id) FILTER (WHERE d.state = 'failed'),
			coalesce((SELECT last_status FROM webhook_deliveries l WHERE l.endpoint_id = e.id AND l.attempts > 0 ORDER BY l.last_attempt_at DESC, l.id DESC LIMIT 1), 0),
			coalesce((SELECT last_error FROM webhook_deliveries l WHERE l.endpoint_id = e.id AND l.attempts > 0 ORDER BY l.last_attempt_at DESC, l.id DESC LIMIT 1), '')
		FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
		GROUP BY e.id ORDER BY e.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookEndpoint, error) {
		var e WebhookEndpoint
		err := row.Scan(&e.ID, &e.URL, &e.CreatedBy, &e.CreatedAt, orZero(&e.DisabledAt), &e.Delivered, &e.Queued, &e.Failed, &e.LastStatus, &e.LastError)
		return e, err
	})
}

// WebhookDelivery is one recorded delivery with what sending it needs.
type WebhookDelivery struct {
	ID          int64
	EndpointID  int64
	URL         string
	Secret      string
	Body        []byte
	State       string
	Attempts    int
	Active      bool // the endpoint still receives deliveries
	LastStatus  int
	LastError   string
	DeliveredAt time.Time
}

// Webhook delivery states.
const (
	WebhookQueued    = "queued"
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// WebhookFailureStatus is the failure recorded for a delivery the receiver
// answered with something other than 2xx (a redirect included), its status
// beside it. The other failures are egress.Failure codes: last_error holds
// a code, never a transport's text.
const WebhookFailureStatus = "status"

// WebhookDelivery returns a delivery with its endpoint's URL and secret.
func (s *Store) WebhookDelivery(ctx context.Context, id int64) (WebhookDelivery, error) {
	var d WebhookDelivery
	var secret []byte
	err := s.pool.QueryRow(ctx, `
		SELECT d.id, d.endpoint_id, e.url, e.secret, d.body, d.state, d.attempts, e.disabled_at IS NULL,
			d.last_status, d.last_error, d.delivered_at
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`, id).
		Scan(&d.ID, &d.EndpointID, &d.URL, &secret, &d.Body, &d.State, &d.Attempts, &d.Active, &d.LastStatus, &d.LastError, orZero(&d.DeliveredAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("find webhook delivery: %w", err)
	}
	d.Secret, err = s.openText(sealed.WebhookSecret, secret)
	return d, err
}

// RecordWebhookAttempt records the outcome of one delivery attempt: the
// receiver's status (0 when none came) and, for a failure, why.
func (s *Store) RecordWebhookAttempt(ctx context.Context, id int64, at time.Time, status int, failure string) error {
	state := WebhookDelivered
	if failure != "" {
		state = WebhookFailed
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
			last_attempt_at = $5, delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END
		WHERE id = $1`, id, state, status, failure, at)
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	return nil
}

// WebhookDeliveries lists an endpoint's latest deliveries, newest first.
func (s *Store) WebhookDeliveries(ctx context.Context, endpointID int64, limit int) ([]WebhookDeliverySummary, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, d.event_id, d.body, d.state, d.attempts, d.last_status, d.last_error, d.created_at,
			d.last_attempt_at
		FROM webhook_deliveries d WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDeliverySummary, error) {
		var d WebhookDeliverySummary
		var body []byte
		err := row.Scan(&d.ID, &d.EventID, &body, &d.State, &d.Attempts, &d.LastStatus, &d.LastError, &d.CreatedAt, orZero(&d.LastAttemptAt))
		if err == nil {
			err = json.Unmarshal(body, &d.Event)
		}
		return d, err
	})
}

// WebhookDeliverySummary is a delivery as the admin page lists it.
type WebhookDeliverySummary struct {
	ID, EventID   int64
	Event         WebhookEvent
	State         string
	Attempts      int
	LastStatus    int
	LastError     string
	CreatedAt     time.Time
	LastAttemptAt time.Time
}
