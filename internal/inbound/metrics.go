package inbound

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ways in, the "source" label of every inbound metric.
const (
	SourceIMAP = "imap"
	SourceSMTP = "smtp"
)

// IMAP stages, the "stage" label of rightsdesk_inbound_imap_errors_total.
const (
	StageConnect = "connect" // dial, TLS, greeting
	StageLogin   = "login"
	StageSelect  = "select" // the mailbox, or creating the folders
	StageFetch   = "fetch"
	StageMove    = "move"
)

// Metrics are the inbound mail metrics, following internal/metrics: the
// rightsdesk namespace, labels from closed sets only (never an address or a
// subject), every label value exported from the start so that alerts see a
// zero rather than no series. Register them on the application's registry
// (metrics.Metrics.Registry()). A nil *Metrics records nothing.
type Metrics struct {
	letters    *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	refused    *prometheus.CounterVec
	sinkFailed *prometheus.CounterVec
	imapErrors *prometheus.CounterVec
	imapUp     prometheus.Gauge
	imapLast   prometheus.Gauge
	imapLeader prometheus.Gauge
	imapQueue  prometheus.Gauge
	smtpRcpt   prometheus.Counter
}

// NewMetrics builds the collectors; Collectors lists them for registering.
func NewMetrics() *Metrics {
	m := &Metrics{
		letters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_letters_total",
			Help: "Letters received and stored, by way in (imap, smtp) and kind (new, reply, auto_reply, bounce, list).",
		}, []string{"source", "kind"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_duplicates_total",
			Help: "Letters received again that were already stored (not stored twice), by way in.",
		}, []string{"source"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_refused_total",
			Help: "Letters refused for a limit (too_large, too_many_attachments, attachment_too_large, malformed) or set aside (over_limit: too many from one address, or replies to one request), by way in.",
		}, []string{"source", "reason"}),
		sinkFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_store_failures_total",
			Help: "Letters that could not be stored (database down): kept in the mailbox, or answered 451, to come again.",
		}, []string{"source"}),
		imapErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_imap_errors_total",
			Help: "Failed IMAP polls by stage (connect, login, select, fetch, move).",
		}, []string{"stage"}),
		imapUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rightsdesk", Name: "inbound_imap_up",
			Help: "1 when this instance's last IMAP poll reached the mailbox, 0 when it failed or this instance has not polled (it may be waiting for the poller lock).",
		}),
		imapLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rightsdesk", Name: "inbound_imap_last_success_timestamp_seconds",
			Help: "When this instance last polled the mailbox through to the end (Unix time); 0 before the first.",
		}),
		imapLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rightsdesk", Name: "inbound_imap_poller_active",
			Help: "1 while this instance holds the poller lock (one instance polls at a time), else 0.",
		}),
		imapQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rightsdesk", Name: "inbound_imap_waiting_letters",
			Help: "Letters left in the mailbox after this instance's last poll (not yet stored: the store failed or the poll was cut); 0 on instances that do not poll.",
		}),
		smtpRcpt: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rightsdesk", Name: "inbound_smtp_rejected_recipients_total",
			Help: "RCPT TO addresses the inbound SMTP listener refused (not one of its domains or addresses).",
		}),
	}
	for _, src := range []string{SourceIMAP, SourceSMTP} {
		for _, k := range []Kind{KindNew, KindReply, KindAutoReply, KindBounce, KindList} {
			m.letters.WithLabelValues(src, string(k))
		}
		m.duplicates.WithLabelValues(src)
		m.sinkFailed.WithLabelValues(src)
		for _, r := range []string{"too_large", "too_many_attachments", "attachment_too_large", "malformed", "over_limit"} {
			m.refused.WithLabelValues(src, r)
		}
	}
	for _, s := range []string{StageConnect, StageLogin, StageSelect, StageFetch, StageMove} {
		m.imapErrors.WithLabelValues(s)
	}
	return m
}

// Collectors are the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.letters, m.duplicates, m.refused, m.sinkFailed, m.imapErrors,
		m.imapUp, m.imapLast, m.imapLeader, m.imapQueue, m.smtpRcpt}
}

// Delivered counts a letter the sink took.
func (m *Metrics) Delivered(source string, l *Letter, o Outcome) {
	if m == nil {
		return
	}
	switch o {
	case Stored:
		m.letters.WithLabelValues(source, string(l.Class.Kind)).Inc()
	case Duplicate:
		m.duplicates.WithLabelValues(source).Inc()
	}
}

// Refused counts a refused letter.
func (m *Metrics) Refused(source string, err error) {
	if m == nil {
		return
	}
	if r := RefusalReason(err); r != "other" {
		m.refused.WithLabelValues(source, r).Inc()
	}
}

// StoreFailed counts a letter the sink could not store.
func (m *Metrics) StoreFailed(source string) {
	if m != nil {
		m.sinkFailed.WithLabelValues(source).Inc()
	}
}

// IMAPFailed records a failed poll at stage.
func (m *Metrics) IMAPFailed(stage string) {
	if m == nil {
		return
	}
	m.imapErrors.WithLabelValues(stage).Inc()
	m.imapUp.Set(0)
}

// IMAPPolled records a poll that ran to the end.
func (m *Metrics) IMAPPolled(at time.Time) {
	if m == nil {
		return
	}
	m.imapUp.Set(1)
	m.imapLast.Set(float64(at.Unix()))
}

// IMAPWaiting records how many letters a poll left in the mailbox.
func (m *Metrics) IMAPWaiting(n int) {
	if m != nil {
		m.imapQueue.Set(float64(n))
	}
}

// IMAPActive records whether this instance holds the poller lock.
func (m *Metrics) IMAPActive(active bool) {
	if m == nil {
		return
	}
	if active {
		m.imapLeader.Set(1)
		return
	}
	// An instance that does not poll says nothing of the mailbox.
	m.imapLeader.Set(0)
	m.imapUp.Set(0)
	m.imapQueue.Set(0)
}

// SMTPRecipientRejected counts a refused RCPT TO.
func (m *Metrics) SMTPRecipientRejected() {
	if m != nil {
		m.smtpRcpt.Inc()
	}
}
