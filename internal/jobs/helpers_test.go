package jobs

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
	"rightsdesk/web"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// at is the tests' "now": the clock the workers are given.
var at = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return at }

// fixture is a fresh database with the store and outbox the workers use in
// production.
type fixture struct {
	pool   *pgxpool.Pool
	store  *store.Store
	outbox *Outbox
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := testkit.DB(t)
	outbox, err := NewOutbox(pool)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{pool: pool, store: store.New(pool, outbox, testkit.Keys()), outbox: outbox}
}

// filed is a request the intake recorded, with its two emails.
type filed struct {
	id        int64
	reference string
	ack       int64 // the acknowledgement to the requester, with a secret link
	notice    int64 // the privacy contact's notice
}

// statusLink is the secret the acknowledgement carries in place of its
// placeholder until it is sent.
const statusLink = "https://portal.example.kz/s/secret-token"

// file records a request from email as the intake does: the request, its
// acknowledgement (carrying a secret link) and the privacy contact's notice,
// and one delivery job for both. verified leaves it confirmed ("new");
// files are sent with it (a representative's proof).
func (f *fixture) file(t *testing.T, email string, verified bool, files ...request.File) filed {
	t.Helper()
	ref, err := request.NewReference(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	status, confirm := request.Unverified, []byte(ref+"-confirm")
	if verified {
		status, confirm = request.New, nil
	}
	email1 := func(kind, to, text string, secrets map[string]string) request.OutboxEmail {
		return request.OutboxEmail{Kind: kind, MessageID: ref + "." + kind + "@portal.example.kz", To: to, Locale: request.Russian,
			Subject: "Запрос " + ref, Text: text, HTML: "<p>" + text + "</p>", Secrets: secrets}
	}
	r, err := f.store.CreateRequest(context.Background(), request.NewRequest{
		Request: request.Request{
			Reference: ref, Type: request.Erasure, Status: status, Locale: request.Russian,
			ReceivedAt: at, DueAt: at.AddDate(0, 0, 30), Rule: "default.erasure", RuleBasis: "received",
			FullName: "Айгерим Нурланқызы", Email: email,
		},
		StatusTokenHash:  []byte(ref + "-status"),
		ConfirmTokenHash: confirm,
		ConfirmExpiresAt: at.Add(7 * 24 * time.Hour),
		Emails: []request.OutboxEmail{
			email1(request.EmailAcknowledgement, email, "Ваша ссылка: "+request.SecretPlaceholder("status"), map[string]string{"status": statusLink}),
			email1(request.EmailStaffNew, "privacy@school.example.kz", "Новый запрос", nil),
		},
		Files: files,
	})
	if err != nil {
		t.Fatalf("file a request: %v", err)
	}
	var ids []int64
	if err := f.pool.QueryRow(context.Background(), `SELECT array_agg(id ORDER BY id) FROM emails WHERE request_id = $1`, r.ID).Scan(&ids); err != nil || len(ids) != 2 {
		t.Fatalf("the request's emails: %v %v", ids, err)
	}
	return filed{id: r.ID, reference: ref, ack: ids[0], notice: ids[1]}
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

func (f *fixture) email(t *testing.T, id int64) store.Email {
	t.Helper()
	es, err := f.store.Emails(context.Background(), []int64{id})
	if err != nil || len(es) != 1 {
		t.Fatalf("email %d: %v %v", id, es, err)
	}
	return es[0]
}

// work runs one attempt of a job through River's own execution (its
// timeout, its reading of JobCancel and of errors), in a transaction rolled
// back afterwards; what the worker recorded through the store stays. The
// error is the one the worker returned for a retry, if any.
func work[T river.JobArgs](t *testing.T, f *fixture, w river.Worker[T], args T) (*rivertest.WorkResult, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: quiet(), RetryPolicy: RetryPolicy{Max: time.Minute}}, w)
	res, err := tw.Work(ctx, t, tx, args, nil)
	if res == nil {
		t.Fatalf("work %s: %v", args.Kind(), err)
	}
	return res, err
}

// workOnce is work for an attempt that must not fail.
func workOnce[T river.JobArgs](t *testing.T, f *fixture, w river.Worker[T], args T) *rivertest.WorkResult {
	t.Helper()
	res, err := work(t, f, w, args)
	if err != nil {
		t.Fatalf("work %s: %v", args.Kind(), err)
	}
	return res
}

// retried says River will try the job again: it failed, and is not
// finalized (cancelled or given up on).
func retried(res *rivertest.WorkResult) bool {
	return res.EventKind == river.EventKindJobFailed && res.Job.FinalizedAt == nil
}

// runner starts the job runner on the fixture's database with workers, as
// serve does, and stops it when the test ends.
func (f *fixture) runner(t *testing.T, workers *river.Workers, cfg RunnerConfig) *Runner {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 100 * time.Millisecond
	}
	r, err := NewRunner(f.pool, workers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// waitForJob polls the job's row until it reaches one of states (River
// records outcomes a moment after the worker returns) and returns it.
func (f *fixture) waitForJob(t *testing.T, id int64, states ...string) (state string, attempt int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := f.pool.QueryRow(context.Background(), `SELECT state, attempt FROM river_job WHERE id = $1`, id).Scan(&state, &attempt); err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		for _, s := range states {
			if state == s {
				return state, attempt
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after attempt %d, want %v", id, state, attempt, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveryJob is the id of the delivery job the intake recorded for r.
func (f *fixture) deliveryJob(t *testing.T, r filed) int64 {
	t.Helper()
	var id int64
	if err := f.pool.QueryRow(context.Background(), `SELECT id FROM river_job WHERE kind = 'deliver_email'
		AND args->'email_ids' @> to_jsonb($1::bigint)`, r.ack).Scan(&id); err != nil {
		t.Fatalf("the delivery job of %s: %v", r.reference, err)
	}
	return id
}

// composer renders the product's email templates.
func composer(t *testing.T) *mail.Composer {
	t.Helper()
	catalog, err := web.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	c, err := mail.NewComposer(web.Files, catalog, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// inTx runs fn in a transaction of its own, committed.
func (f *fixture) inTx(t *testing.T, fn func(tx pgx.Tx) error) {
	t.Helper()
	if err := pgx.BeginFunc(context.Background(), f.pool, fn); err != nil {
		t.Fatal(err)
	}
}

// slogTo is a logger writing text lines to w.
func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
