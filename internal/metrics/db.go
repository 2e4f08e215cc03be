package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// emailStates are the states of an email not yet accepted by the relay.
var emailStates = []string{"queued", "failed"}

// The scrape's queries. Each reads an index built for it, so none reads the
// whole of a large table's heap:
//   - open requests: the partial index requests_open_assignee_due_idx, which
//     INCLUDEs status and type (an index-only scan of open requests only);
//   - closed requests: requests_closed_due_idx, which INCLUDEs them too (both
//     sets spelled by store.StatusIn, as the indexes are, for the planner);
//   - emails not sent: the partial index emails_unsent_idx;
//   - jobs waiting or running: River's (state, queue, …) index, so the day of
//     completed jobs River keeps is never counted; jobs given up: River's
//     (state, finalized_at) index over the last hour.
var requestsQuery = `SELECT type, status, count(*), count(*) FILTER (WHERE due_at < coalesce($1::timestamptz, now()))
	FROM requests WHERE ` + store.StatusIn("status", request.OpenStatuses()) + ` GROUP BY type, status
	UNION ALL
	SELECT type, status, count(*), 0 FROM requests
	WHERE ` + store.StatusIn("status", request.ClosedStatuses()) + ` GROUP BY type, status`

const (
	emailsQuery = `SELECT state, count(*) FROM emails WHERE state <> 'sent' GROUP BY state`
	jobsQuery   = `SELECT queue, kind, state::text, count(*),
		coalesce(extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE state = 'available' AND scheduled_at <= now())), 0)::float8
	FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
	GROUP BY queue, kind, state`
	givenUpQuery = `SELECT kind, state::text, count(*) FROM river_job
	WHERE state IN ('discarded', 'cancelled') AND finalized_at > now() - interval '1 hour'
	GROUP BY kind, state`
	// River's own table of queues: a handful of rows.
	pausedQuery = `SELECT name, (paused_at IS NOT NULL)::int FROM river_queue`
)

// Operator is one operator of a deployment of several (issue 15), whose
// requests and emails the gauges count apart, labelled with its slug.
type Operator struct {
	Slug string
	ID   int64
}

// dbCollector reads the database's gauges when Prometheus scrapes: one read
// only transaction (one snapshot, so the figures agree with each other) sent
// as one batch, under a statement timeout. With several operators, the
// requests and emails are read under each operator's scope in turn (the
// row-level security of migration 00038 shows a connection without one
// nothing of theirs) and carry an operator label; the jobs are the
// deployment's, as its one runner is.
type dbCollector struct {
	pool      *pgxpool.Pool
	now       func() time.Time
	timeout   time.Duration
	log       *slog.Logger
	operators []Operator

	requests, open, overdue, emails *prometheus.Desc
	jobs, oldest, givenUp, paused   *prometheus.Desc
	up, duration                    *prometheus.Desc
}

func newDBCollector(pool *pgxpool.Pool, now func() time.Time, timeout time.Duration, log *slog.Logger, operators []Operator) *dbCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rightsdesk_"+name, help, labels, nil)
	}
	// A deployment of one operator keeps the series it always had; of
	// several, each operator's have its slug first.
	var by []string
	by1 := ""
	if len(operators) > 0 {
		by, by1 = []string{"operator"}, "operator and "
	}
	return &dbCollector{
		pool: pool, now: now, timeout: timeout, log: log, operators: operators,
		requests: d("requests", "Requests in the database by "+by1+"type and status.", append(by, "type", "status")...),
		open:     d("requests_open", "Open requests (unverified, new, in progress, awaiting the requester) by "+by1+"type.", append(by, "type")...),
		overdue:  d("requests_overdue", "Open requests whose legal due date has passed, by "+by1+"type (the queue's overdue tab).", append(by, "type")...),
		emails:   d("emails_unsent", "Emails not yet accepted by the relay, by "+by1+"state: queued (never tried or retrying) or failed (last attempt failed).", append(by, "state")...),
		jobs:     d("jobs", "Background jobs waiting or running, by queue, kind and River state.", "queue", "kind", "state"),
		oldest:   d("jobs_oldest_available_seconds", "Age of the oldest job ready to run but not yet taken, by queue; 0 when none waits.", "queue"),
		givenUp:  d("jobs_given_up_last_hour", "Jobs discarded (attempts exhausted) or cancelled (e.g. an email refused for good) in the last hour, by kind and state.", "kind", "state"),
		paused:   d("queue_paused", "1 while a job queue is paused (rightsdesk email pause), 0 otherwise, by queue.", "queue"),
		up:       d("db_scrape_up", "1 when the database gauges were read at this scrape, 0 when the queries failed."),
		duration: d("db_scrape_duration_seconds", "Time taken to read the database gauges."),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.open, c.overdue, c.emails, c.jobs, c.oldest, c.givenUp, c.paused, c.up, c.duration} {
		ch <- d
	}
}

// snapshot is what one scrape read; requests and emails by operator slug
// ("" for the deployment of one operator).
type snapshot struct {
	requests map[[3]string]float64 // operator, type, status
	open     map[[2]string]float64 // operator, type
	overdue  map[[2]string]float64 // operator, type
	emails   map[[2]string]float64 // operator, state
	jobs     map[[3]string]float64 // queue, kind, state
	oldest   map[string]float64
	givenUp  map[[2]string]float64
	paused   map[string]float64
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	s, err := c.read()
	ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, time.Since(start).Seconds())
	if err != nil {
		// The other metrics are still served; the log says why these are not.
		if c.log != nil {
			c.log.Warn("metrics: read the database gauges", "error", err)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	// Known types and statuses are always exported, zero or not, so that an
	// alert on "overdue > 0" has a series to look at from the start.
	for _, op := range c.slugs() {
		labels := func(v ...string) []string {
			if op == "" {
				return v
			}
			return append([]string{op}, v...)
		}
		for _, t := range request.AllTypes() {
			for _, st := range request.AllStatuses() {
				k := [3]string{op, string(t), string(st)}
				ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, s.requests[k], labels(k[1], k[2])...)
			}
			k := [2]string{op, string(t)}
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, s.open[k], labels(k[1])...)
			ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, s.overdue[k], labels(k[1])...)
		}
		for _, st := range emailStates {
			ch <- prometheus.MustNewConstMetric(c.emails, prometheus.GaugeValue, s.emails[[2]string{op, st}], labels(st)...)
		}
	}
	for k, n := range s.jobs {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, n, k[0], k[1], k[2])
	}
	for q, age := range s.oldest {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, q)
	}
	for k, n := range s.givenUp {
		ch <- prometheus.MustNewConstMetric(c.givenUp, prometheus.GaugeValue, n, k[0], k[1])
	}
	for q, p := range s.paused {
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, p, q)
	}
}

// slugs are the operators whose requests and emails are counted apart:
// one, "", for the deployment of one operator.
func (c *dbCollector) slugs() []string {
	if len(c.operators) == 0 {
		return []string{""}
	}
	out := make([]string, len(c.operators))
	for i, op := range c.operators {
		out[i] = op.Slug
	}
	return out
}

func (c *dbCollector) read() (snapshot, error) {
	s := snapshot{
		requests: map[[3]string]float64{}, open: map[[2]string]float64{}, overdue: map[[2]string]float64{},
		emails: map[[2]string]float64{}, jobs: map[[3]string]float64{}, oldest: map[string]float64{},
		givenUp: map[[2]string]float64{}, paused: map[string]float64{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout+time.Second)
	defer cancel()
	var now any // nil: the database's now()
	if c.now != nil {
		now = c.now()
	}
	err := pgx.BeginTxFunc(ctx, c.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('statement_timeout', $1, true)`, strconv.FormatInt(c.timeout.Milliseconds(), 10))
		for i, op := range c.slugs() {
			if op != "" {
				opscope.QueueLocal(b, c.operators[i].ID)
			}
			b.Queue(requestsQuery, now).Query(func(rows pgx.Rows) error {
				var typ, status string
				var n, late float64
				_, err := pgx.ForEachRow(rows, []any{&typ, &status, &n, &late}, func() error {
					s.requests[[3]string{op, typ, status}] = n
					if request.Status(status).Open() {
						s.open[[2]string{op, typ}] += n
						s.overdue[[2]string{op, typ}] += late
					}
					return nil
				})
				return err
			})
			b.Queue(emailsQuery).Query(func(rows pgx.Rows) error {
				var state string
				var n float64
				_, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { s.emails[[2]string{op, state}] = n; return nil })
				return err
			})
		}
		b.Queue(jobsQuery).Query(func(rows pgx.Rows) error {
			var queue, kind, state string
			var n, age float64
			_, err := pgx.ForEachRow(rows, []any{&queue, &kind, &state, &n, &age}, func() error {
				s.jobs[[3]string{queue, kind, state}] = n
				s.oldest[queue] = max(s.oldest[queue], age)
				return nil
			})
			return err
		})
		b.Queue(givenUpQuery).Query(func(rows pgx.Rows) error {
			var kind, state string
			var n float64
			_, err := pgx.ForEachRow(rows, []any{&kind, &state, &n}, func() error { s.givenUp[[2]string{kind, state}] = n; return nil })
			return err
		})
		b.Queue(pausedQuery).Query(func(rows pgx.Rows) error {
			var queue string
			var p float64
			_, err := pgx.ForEachRow(rows, []any{&queue, &p}, func() error { s.paused[queue] = p; return nil })
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	return s, err
}

// poolCollector exports the connection pool's state, to size it: waits for
// a connection (empty acquires) mean the pool is too small for the load.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolConns    = prometheus.NewDesc("rightsdesk_db_pool_connections", "Database connections of this instance by state (acquired, idle, max).", []string{"state"}, nil)
	poolWaits    = prometheus.NewDesc("rightsdesk_db_pool_empty_acquires_total", "Connection requests that had to wait because none was idle.", nil, nil)
	poolWaitTime = prometheus.NewDesc("rightsdesk_db_pool_empty_acquire_wait_seconds_total", "Total time spent waiting for a connection.", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolWaits
	ch <- poolWaitTime
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := p.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.MaxConns()), "max")
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, st.EmptyAcquireWaitTime().Seconds())
}
