package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// event is one row of the append-only log.
type event struct {
	RequestID  int64
	Kind       string
	Actor      request.Actor
	ActorID    int64
	FromStatus request.Status
	ToStatus   request.Status
	Data       map[string]any
	At         time.Time
}

func insertEvent(ctx context.Context, tx pgx.Tx, e event) (int64, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return 0, fmt.Errorf("encode event data: %w", err)
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO events (request_id, kind, actor, actor_id, from_status, to_status, data, created_at)
		VALUES (nullif($1, 0), $2, $3, nullif($4, 0), nullif($5, ''), nullif($6, ''), $7, $8)
		RETURNING id`,
		e.RequestID, e.Kind, e.Actor, e.ActorID, e.FromStatus, e.ToStatus, data, e.At).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert %s event: %w", e.Kind, err)
	}
	return id, nil
}

// staffEvent logs something that happened to staff accounts: no request, the
// acting staff member as actor (the system when actorID is 0).
func staffEvent(ctx context.Context, tx pgx.Tx, kind string, actorID int64, data map[string]any, at time.Time) (int64, error) {
	actor := request.ActorStaff
	if actorID == 0 {
		actor = request.ActorSystem
	}
	return insertEvent(ctx, tx, event{Kind: kind, Actor: actor, ActorID: actorID, Data: data, At: at})
}

// Event is a logged event as readers see it.
type Event struct {
	ID         int64
	Kind       string
	Actor      request.Actor
	FromStatus request.Status
	ToStatus   request.Status
	Data       map[string]any
	Text       string // what staff typed for it (request.Change.Text); empty once purged
	At         time.Time
}

// eventColumns reads an event of events e joined to its text t.
const eventColumns = `e.id, e.kind, e.actor, coalesce(e.from_status, ''), coalesce(e.to_status, ''), e.data, t.body, e.created_at`

// eventFrom is the log with the texts staff typed.
const eventFrom = ` FROM events e LEFT JOIN event_texts t ON t.event_id = e.id `

// scanEvent reads eventColumns followed by extra columns.
func (s *Store) scanEvent(row pgx.Row, e *Event, extra ...any) error {
	var text []byte
	if err := row.Scan(append([]any{&e.ID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Data, &text, &e.At}, extra...)...); err != nil {
		return err
	}
	var err error
	e.Text, err = s.openText(sealed.EventText, text)
	return err
}

// Events lists a request's events, oldest first.
func (s *Store) Events(ctx context.Context, requestID int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+eventFrom+`WHERE e.request_id = $1 ORDER BY e.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var e Event
		err := s.scanEvent(row, &e)
		return e, err
	})
}

// TimelineEvent is a logged event with the member of staff behind it.
type TimelineEvent struct {
	Event
	ActorID   int64
	ActorName string // the staff member's name for staff events
}

// EventLog lists a request's events, oldest first, each with the member of
// staff or the API key behind it (for the staff API, which gives the whole
// log, where the staff timeline folds notes and emails in).
func (s *Store) EventLog(ctx context.Context, requestID int64) ([]TimelineEvent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, e.kind, e.actor, coalesce(e.from_status, ''), coalesce(e.to_status, ''), e.data, e.created_at,
			coalesce(e.actor_id, 0), coalesce(s.name, 'API: ' || k.name, '')
		FROM events e LEFT JOIN staff s ON s.id = e.actor_id AND e.actor = 'staff'
			LEFT JOIN api_keys k ON e.actor = 'staff' AND e.actor_id IS NULL AND k.id = (e.data->>'api_key_id')::bigint
		WHERE e.request_id = $1 ORDER BY e.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TimelineEvent, error) {
		var e TimelineEvent
		err := row.Scan(&e.ID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Data, &e.At, &e.ActorID, &e.ActorName)
		return e, err
	})
}
