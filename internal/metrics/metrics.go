// Package metrics exposes rightsdesk's Prometheus metrics: HTTP latency by
// route pattern, the requests, emails and jobs in the database (read when
// Prometheus scrapes, with a few cheap grouped counts) and the outcomes of
// email delivery on this instance.
//
// Everything lives in a registry the package creates and hands out; nothing
// is registered on Prometheus's global default registry. No label ever holds
// personal data: routes are patterns ("/s/:token"), never paths, and the
// other labels come from closed sets (request types and statuses, job kinds,
// queues and states, email outcomes).
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Email delivery outcomes, as the delivery worker reports them.
const (
	EmailSent    = "sent"    // the relay accepted the message
	EmailFailed  = "failed"  // the attempt failed; the job will retry
	EmailRefused = "refused" // refused for good (5xx or an invalid message): no retry
)

// Metrics holds the registry and the collectors the application feeds.
type Metrics struct {
	reg    *prometheus.Registry
	http   *prometheus.HistogramVec
	emails *prometheus.CounterVec
}

// Options configure New.
type Options struct {
	// Pool is the database the gauges are read from at scrape time; nil
	// leaves the database gauges out.
	Pool *pgxpool.Pool
	// Now is the time "overdue" is measured against (a test clock); nil is
	// the database's own now().
	Now func() time.Time
	// QueryTimeout bounds the scrape's queries (statement_timeout and the
	// context); 0 means 2 seconds.
	QueryTimeout time.Duration
	// Logger says why a scrape could not read the database; nil is silent.
	Logger *slog.Logger
	// Operators are a deployment's several operators (OPERATORS_FILE): the
	// requests and emails gauges are read under each one's scope and
	// labelled operator="slug". None is the deployment of one operator,
	// whose gauges have no operator label, as before there could be several.
	Operators []Operator
}

// New builds the metrics on a registry of their own.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "rightsdesk",
			Name:      "http_request_duration_seconds",
			Help:      "Time to answer an HTTP request, by method, route pattern (never the path) and status class.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk",
			Name:      "email_deliveries_total",
			Help:      "Email delivery attempts on this instance by outcome: sent, failed (will retry), refused (given up).",
		}, []string{"outcome"}),
	}
	// Every outcome is exported from the start, so that rate() and alerts
	// see a zero rather than no series at all.
	for _, o := range []string{EmailSent, EmailFailed, EmailRefused} {
		m.emails.WithLabelValues(o)
	}
	m.reg.MustRegister(m.http, m.emails,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if opts.Pool != nil {
		timeout := opts.QueryTimeout
		if timeout <= 0 {
			timeout = 2 * time.Second
		}
		m.reg.MustRegister(newDBCollector(opts.Pool, opts.Now, timeout, opts.Logger, opts.Operators), poolCollector{opts.Pool})
	}
	return m
}

// Registry is the registry every rightsdesk metric is registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveHTTP records one answered HTTP request. route must be a registered
// route pattern, or a fixed placeholder for requests that matched none.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	m.http.WithLabelValues(method, route, statusClass(status)).Observe(d.Seconds())
}

// RecordEmail counts one delivery attempt's outcome (EmailSent, EmailFailed
// or EmailRefused); anything else is ignored rather than becoming a label.
func (m *Metrics) RecordEmail(outcome string) {
	switch outcome {
	case EmailSent, EmailFailed, EmailRefused:
		m.emails.WithLabelValues(outcome).Inc()
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing database query leaves its gauges out and the rest is
		// still served: Prometheus keeps the HTTP and process metrics, and
		// rightsdesk_db_scrape_up says the database gauges are missing.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 2,
		Timeout:             10 * time.Second,
	})
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
