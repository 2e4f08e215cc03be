// Command bare is the first baseline of scripts/bench: the least an Echo +
// pgx server can do to take the portal's intake. POST /api/v1/requests
// decodes the same JSON (unknown fields refused) and commits the rows the
// portal commits for a request (the request, its status link and
// confirmation, its "received" event, the acknowledgement and the privacy
// contact's notice, and the River job that delivers both) with the portal's
// own single statement, store.CreateRequestSQL. Nothing else: no
// validation, no deadline policy, no templates, no sealing, no logging, no
// middleware.
//
// The sealed values are copied once at start, as bytes, from the newest
// request, acknowledgement and notice already in the database (scripts/bench
// runs the portal first), so the rows have the portal's size and index
// entries; bare seals nothing itself.
//
// With -pgbench FILE it writes instead the third baseline's script: the same
// statement for pgbench, with those values in it, and exits.
//
//	DATABASE_URL=postgres://... bare -listen 127.0.0.1:8091
//	DATABASE_URL=postgres://... bare -pgbench intake.sql
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
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"rightsdesk/internal/store"
)

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
	ack      body
	notice   body
	personal personal
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address to listen on")
	script := flag.String("pgbench", "", "write the pgbench script of the same statement to this file and exit")
	flag.Parse()
	if err := run(*listen, *script); err != nil {
		log.Fatalf("bare: %v", err)
	}
}

func run(listen, script string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The same pool as the portal's: pgxpool's defaults unless the URL
	// says otherwise (?pool_max_conns=).
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	s := &server{pool: pool}
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
	if script != "" {
		return os.WriteFile(script, []byte(s.pgbenchScript()), 0o600)
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
	var id, duplicateOf, woken int64
	query, args, err := store.CreateRequestQuery(map[string]any{
		"reference": reference, "type": sub.Type, "status": "unverified", "locale": sub.Locale, "received_at": now,
		"due_at": due, "rule": "default." + sub.Type, "legal_ref": "", "rule_basis": "received", "personal": s.personal.doc,
		// The email's term differs per request, as the load's addresses do:
		// the duplicate check finds nothing, as for the portal.
		"email_indexes": [][]byte{randomBytes(len(s.personal.emailIndex))}, "search_index": s.personal.index,
		"on_behalf": sub.OnBehalf, "relationship": sub.Relationship, "access_scope": sub.AccessScope,
		"confirmed_at":      nil, // not confirmed
		"received_data":     map[string]any{"type": sub.Type, "rule": "default." + sub.Type, "due_at": due, "proof_files": 0},
		"status_token_hash": hash(status), "confirm_token_hash": hash(confirm), "confirm_expires_at": now.Add(7 * 24 * time.Hour),
		"idempotency_key_hash": nil, "body_hash": nil, // no idempotency key
		// no proof files
		"file_purposes": []string{}, "file_names": [][]byte{}, "file_content_types": []string{},
		"file_sizes": []int64{}, "file_sha256s": [][]byte{}, "file_contents": [][]byte{},
		"email_kinds": []string{"acknowledgement", "staff_new"}, "email_locales": []string{sub.Locale, "ru"},
		"email_message_ids": []string{token(19)[:26] + "@127.0.0.1", token(19)[:26] + "@127.0.0.1"},
		"email_sealed":      [][]byte{s.ack.sealed, s.notice.sealed}, "email_secrets": [][]byte{s.ack.secrets, s.notice.secrets},
		// the job; no workers to wake
		"job_ids_field": "email_ids", "job_kind": "deliver_email", "job_max_attempts": 500, "job_queue": "email", "job_notify": "",
		"identity_method": "", "vouched_by": int64(0), // no identity check, no vouching key: the public intake
		// the acknowledgement counted, as with the default ACKNOWLEDGEMENTS_PER_DAY
		"acknowledgement_day": now.Format(time.DateOnly), "acknowledgement_limit": 5,
	})
	if err == nil {
		err = s.pool.QueryRow(ctx, query, args...).Scan(&id, &duplicateOf, &woken)
	}
	if err != nil {
		return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	return c.JSON(http.StatusCreated, map[string]string{
		"reference":   reference,
		"status":      "unverified",
		"received_at": now.Format(time.RFC3339),
		"due_at":      due.Format(time.RFC3339),
	})
}

// token is n random bytes, base64url: the portal's tokens and references.
func token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func hash(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// pgbenchScript is CreateRequestSQL with its parameters replaced by what
// pgbench should send: the copied sealed values as literals, and fresh
// references, tokens and Message-IDs computed by PostgreSQL in each
// transaction.
func (s *server) pgbenchScript() string {
	hex := func(b []byte) string {
		if b == nil {
			return "NULL::bytea"
		}
		return "'\\x" + fmt.Sprintf("%x", b) + "'::bytea"
	}
	index := make([]string, len(s.personal.index))
	for i, t := range s.personal.index {
		index[i] = hex(t)
	}
	random := "sha256(gen_random_uuid()::text::bytea)"
	messageID := "gen_random_uuid()::text || '@127.0.0.1'"
	values := map[string]string{
		"reference": "'PB-' || substr(md5(gen_random_uuid()::text), 1, 14)",
		"type":      "(ARRAY['access','rectification','erasure','restriction','objection','consent_withdrawal','portability'])[:type_n + 1]",
		"status":    "'unverified'", "locale": "'ru'", "received_at": "now()", "due_at": "now() + interval '30 days'",
		"rule": "'default.access'", "legal_ref": "''", "rule_basis": "'received'", "personal": hex(s.personal.doc),
		// A subquery, computed once per statement: a volatile value compared
		// row by row would make the duplicate check read the whole table.
		"email_indexes": fmt.Sprintf("(SELECT ARRAY[substr(sha256(gen_random_uuid()::text::bytea), 1, %d)])::bytea[]", len(s.personal.emailIndex)),
		"search_index":  "ARRAY[" + strings.Join(index, ", ") + "]",
		"on_behalf":     "false", "relationship": "''", "access_scope": "'copy'", "confirmed_at": "NULL",
		"received_data":     "jsonb_build_object('type', 'access', 'rule', 'default.access', 'due_at', now() + interval '30 days', 'proof_files', 0)",
		"status_token_hash": random, "confirm_token_hash": random, "confirm_expires_at": "now() + interval '7 days'",
		"idempotency_key_hash": "NULL", "body_hash": "NULL",
		"file_purposes": "'{}'", "file_names": "'{}'", "file_content_types": "'{}'", "file_sizes": "'{}'", "file_sha256s": "'{}'", "file_contents": "'{}'",
		"email_kinds": "ARRAY['acknowledgement', 'staff_new']", "email_locales": "ARRAY['ru', 'ru']",
		"email_message_ids": "ARRAY[" + messageID + ", " + messageID + "]",
		"email_sealed":      "ARRAY[" + hex(s.ack.sealed) + ", " + hex(s.notice.sealed) + "]",
		"email_secrets":     "ARRAY[" + hex(s.ack.secrets) + ", " + hex(s.notice.secrets) + "]",
		"job_ids_field":     "'email_ids'", "job_kind": "'deliver_email'", "job_max_attempts": "500", "job_queue": "'email'", "job_notify": "''",
		"identity_method": "''", "vouched_by": "0", "acknowledgement_day": "current_date", "acknowledgement_limit": "5",
	}
	stmt := regexp.MustCompile(`@[a-z_][a-z0-9_]*`).ReplaceAllStringFunc(store.CreateRequestSQL(), func(p string) string {
		v, ok := values[p[1:]]
		if !ok {
			panic("bare: no pgbench value for parameter " + p)
		}
		return v
	})
	return "-- Written by tools/bench/bare -pgbench: store.CreateRequestSQL with the values of\n" +
		"-- the newest portal rows (scripts/bench runs the portal first).\n" +
		"\\set type_n random(0, 6)\n" + strings.TrimSpace(stmt) + ";\n"
}
