// Command bare is the first baseline of scripts/bench: the least an Echo +
// pgx server can do to take the portal's intake. POST /api/v1/requests
// decodes the same JSON (unknown fields refused) and commits, in one
// transaction, the rows the portal commits for a request: the request, its
// status link and confirmation, its "received" event, the acknowledgement and
// the privacy contact's notice, and the River job that delivers both
// (through River's InsertTx). Nothing else: no validation, no deadline policy, no
// duplicate check, no templates, no logging, no middleware.
//
// The sealed values are copied once at start, as bytes, from the newest
// request, acknowledgement and notice already in the database (scripts/bench
// runs the portal first), so the rows have the portal's size and index
// entries; bare seals nothing itself.
//
//	DATABASE_URL=postgres://... bare -listen 127.0.0.1:8091
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// deliverEmail mirrors the portal's job (internal/jobs.DeliverEmailArgs):
// the same kind, queue and attempts, so the river_job rows are the same.
type deliverEmail struct {
	EmailIDs []int64 `json:"email_ids"`
}

func (deliverEmail) Kind() string { return "deliver_email" }

func (deliverEmail) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "email", MaxAttempts: 500}
}

// submission has the public API's fields.
type submission struct {
	Type         string `json:"type"`
	FullName     string `json:"full_name"`
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	AccountID    string `json:"account_id"`
	Details      string `json:"details"`
	Locale       string `json:"locale"`
	OnBehalf     bool   `json:"on_behalf"`
	SubjectName  string `json:"subject_name"`
	Relationship string `json:"relationship"`
	Consent      bool   `json:"consent"`
	AccessScope  string `json:"access_scope"`
	Correction   string `json:"correction"`
	Processing   string `json:"processing"`
}

// body is an email as the portal stores it: sealed.
type body struct{ sealed, secrets []byte }

// personal is a request's sealed fields and search terms as the portal
// stores them.
type personal struct {
	doc, emailIndex []byte
	index           [][]byte
}

type server struct {
	pool     *pgxpool.Pool
	river    *river.Client[pgx.Tx]
	ack      body
	notice   body
	personal personal
	base     string
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		log.Fatalf("bare: %v", err)
	}
}

func run(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The same pool as the portal's: pgxpool's defaults unless the URL
	// says otherwise (?pool_max_conns=).
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("river insert client: %w", err)
	}
	s := &server{pool: pool, river: rc, base: "http://" + listen}
	if s.ack, err = newestBody(ctx, pool, "acknowledgement"); err != nil {
		return err
	}
	if s.notice, err = newestBody(ctx, pool, "staff_new"); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT personal, search_index, email_index FROM requests
		WHERE personal IS NOT NULL ORDER BY id DESC LIMIT 1`).Scan(&s.personal.doc, &s.personal.index, &s.personal.emailIndex); err != nil {
		return fmt.Errorf("read a request (run the portal first): %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/api/v1/requests", s.submit)
	e.GET("/readyz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	srv := &http.Server{Addr: listen, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// newestBody copies the newest email of a kind, or makes one of a typical
// size when the database has none.
func newestBody(ctx context.Context, pool *pgxpool.Pool, kind string) (body, error) {
	var b body
	err := pool.QueryRow(ctx, `SELECT sealed, secrets FROM emails WHERE kind = $1 AND sealed IS NOT NULL ORDER BY id DESC LIMIT 1`, kind).
		Scan(&b.sealed, &b.secrets)
	if errors.Is(err, pgx.ErrNoRows) {
		return body{sealed: []byte(strings.Repeat("x", 4000))}, nil
	}
	if err != nil {
		return b, fmt.Errorf("read a %s email: %w", kind, err)
	}
	return b, nil
}

func (s *server) submit(c echo.Context) error {
	var sub submission
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	ctx := c.Request().Context()
	now := time.Now()
	due := now.AddDate(0, 0, 30)
	reference := "RD-" + token(9)[:12]
	status, confirm := token(32), token(32)

	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id, eventID int64
		err := tx.QueryRow(ctx, `
			INSERT INTO requests (reference, type, status, locale, received_at,
				due_at, deadline_rule, deadline_legal_ref, deadline_basis, personal, search_index, email_index,
				on_behalf, relationship, access_scope, duplicate_of, updated_at, confirmed_at)
			VALUES ($1, $2, 'unverified', $3, $4, $5, $6, '', 'received', $7, $8, $9, $10, $11, $12, NULL, $4, NULL)
			RETURNING id`,
			reference, sub.Type, sub.Locale, now, due, "default."+sub.Type, s.personal.doc, s.personal.index,
			s.personal.emailIndex, sub.OnBehalf, sub.Relationship, sub.AccessScope).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO status_links (token_hash, request_id, created_at) VALUES ($1, $2, $3)`,
			hash(status), id, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO confirmations (request_id, token_hash, expires_at) VALUES ($1, $2, $3)`,
			id, hash(confirm), now.Add(7*24*time.Hour)); err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]any{"type": sub.Type, "rule": "default." + sub.Type, "due_at": due, "proof_files": 0})
		if err := tx.QueryRow(ctx, `
			INSERT INTO events (request_id, kind, actor, actor_id, from_status, to_status, data, created_at)
			VALUES ($1, 'received', 'requester', NULL, NULL, 'unverified', $2, $3) RETURNING id`,
			id, data, now).Scan(&eventID); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		ids := make([]int64, 0, 2)
		for _, m := range []struct {
			kind, locale string
			b            body
		}{
			{"acknowledgement", sub.Locale, s.ack},
			{"staff_new", "ru", s.notice},
		} {
			var emailID int64
			if err := tx.QueryRow(ctx, `
				INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed, secrets, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
				id, eventID, m.kind, m.locale, token(19)[:26]+"@127.0.0.1",
				m.b.sealed, m.b.secrets, now).Scan(&emailID); err != nil {
				return fmt.Errorf("insert email: %w", err)
			}
			ids = append(ids, emailID)
		}
		if _, err := s.river.InsertTx(ctx, tx, deliverEmail{EmailIDs: ids}, nil); err != nil {
			return fmt.Errorf("enqueue emails: %w", err)
		}
		return nil
	})
	if err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	return c.JSON(http.StatusCreated, map[string]string{
		"reference":   reference,
		"status":      "unverified",
		"received_at": now.Format(time.RFC3339),
		"due_at":      due.Format(time.RFC3339),
		"status_url":  s.base + "/s/" + status,
	})
}

// token is n random bytes, base64url: the portal's tokens and references.
func token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}
