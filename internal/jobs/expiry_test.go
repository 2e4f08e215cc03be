package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// The expiry job closes the requests whose confirmation link ran out, not
// one a moment before, never a confirmed one, and tells each requester
// through the outbox (an email and its delivery job, with the change).
func TestTheExpiryJobClosesOnlyRequestsWhoseLinkRanOut(t *testing.T) {
	f := newFixture(t)
	clock := testkit.NewClock(at)
	w := &ExpireUnconfirmedWorker{Sweeper: &request.Expirer{Repo: f.store, Composer: composer(t), Clock: clock,
		Links: request.Links{BaseURL: "https://portal.example.kz"}, OrgName: "Онлайн-школа"}}
	unconfirmed := f.file(t, "late@example.kz", false)
	confirmed := f.file(t, "prompt@example.kz", true)
	status := func(r filed) string {
		t.Helper()
		var s string
		if err := f.pool.QueryRow(t.Context(), `SELECT status FROM requests WHERE id = $1`, r.id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	clock.Set(at.Add(7*24*time.Hour - time.Minute)) // the link still runs
	if res := workOnce(t, f, w, ExpireUnconfirmedArgs{}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the sweep ended %s", res.EventKind)
	}
	if s := status(unconfirmed); s != "unverified" {
		t.Fatalf("a request whose link still runs is %s", s)
	}

	clock.Set(at.Add(7*24*time.Hour + time.Minute))
	workOnce(t, f, w, ExpireUnconfirmedArgs{})
	if s, c := status(unconfirmed), status(confirmed); s != "expired" || c != "new" {
		t.Errorf("after the link ran out: unconfirmed %s, confirmed %s; want expired and new", s, c)
	}
	if n := f.count(t, `SELECT count(*) FROM emails e WHERE e.request_id = $1 AND e.kind = 'expired' AND e.state = 'queued'
		AND EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'deliver_email' AND j.args->'email_ids' @> to_jsonb(e.id))`, unconfirmed.id); n != 1 {
		t.Errorf("%d expiry emails queued with their delivery job, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'expired'`, unconfirmed.id); n != 1 {
		t.Errorf("%d expired events, want 1", n)
	}

	// The next sweep finds nothing more.
	workOnce(t, f, w, ExpireUnconfirmedArgs{})
	if n := f.count(t, `SELECT count(*) FROM emails WHERE kind = 'expired'`); n != 1 {
		t.Errorf("%d expiry emails after a second sweep, want 1", n)
	}
}
