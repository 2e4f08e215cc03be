package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/egress"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/store"
)

// WebhookAdmin keeps the webhook endpoints and their deliveries.
type WebhookAdmin interface {
	CreateWebhookEndpoint(ctx context.Context, url, secret string, by int64, at time.Time) (store.WebhookEndpoint, error)
	DisableWebhookEndpoint(ctx context.Context, id, by int64, at time.Time) error
	WebhookEndpoints(ctx context.Context) ([]store.WebhookEndpoint, error)
	WebhookDeliveries(ctx context.Context, endpointID int64, limit int) ([]store.WebhookDeliverySummary, error)
}

// webhookSecretPrefix starts every signing secret, so that one is
// recognised wherever it turns up.
const webhookSecretPrefix = "whsec_"

// webhookDeliveriesShown is how many recent deliveries the page lists per
// endpoint.
const webhookDeliveriesShown = 10

type webhookRow struct {
	store.WebhookEndpoint
	Created     string
	LastFailure string // why the latest attempt failed, in the admin's words
	Deliveries  []webhookDeliveryRow
}

type webhookDeliveryRow struct {
	store.WebhookDeliverySummary
	Created, LastAttempt, Failure string
}

// webhookFailure says why an attempt failed: the recorded code (an
// egress.Failure, or "status" with the receiver's status) in words. The
// transport's own text is never recorded, so never shown.
func webhookFailure(p *i18n.Printer, code string, status int) string {
	if code == "" {
		return ""
	}
	if !slices.Contains(webhookFailureCodes(), code) {
		code = "unknown"
	}
	return p.T("api.webhooks.failure."+code, "Status", status)
}

// webhookFailureCodes are the codes delivery records.
func webhookFailureCodes() []string {
	out := []string{store.WebhookFailureStatus}
	for _, f := range egress.Failures() {
		out = append(out, string(f))
	}
	return out
}

type webhooksView struct {
	Endpoints []webhookRow
	URL       string
	Err       string
	// NewSecret is the secret of the endpoint just added: shown on this
	// answer only.
	NewSecret, NewURL string
}

func (s *Server) staffWebhooks(c echo.Context) error {
	return s.renderWebhooks(c, http.StatusOK, webhooksView{})
}

func (s *Server) renderWebhooks(c echo.Context, status int, v webhooksView) error {
	ctx := c.Request().Context()
	endpoints, err := s.webhooks.WebhookEndpoints(ctx)
	if err != nil {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	loc := s.cfg.Location
	for _, e := range endpoints {
		row := webhookRow{WebhookEndpoint: e, Created: p.DateTime(e.CreatedAt.In(loc)), LastFailure: webhookFailure(p, e.LastError, e.LastStatus)}
		ds, err := s.webhooks.WebhookDeliveries(ctx, e.ID, webhookDeliveriesShown)
		if err != nil {
			return err
		}
		for _, d := range ds {
			dr := webhookDeliveryRow{WebhookDeliverySummary: d, Created: p.DateTime(d.CreatedAt.In(loc)), Failure: webhookFailure(p, d.LastError, d.LastStatus)}
			if !d.LastAttemptAt.IsZero() {
				dr.LastAttempt = p.DateTime(d.LastAttemptAt.In(loc))
			}
			row.Deliveries = append(row.Deliveries, dr)
		}
		v.Endpoints = append(v.Endpoints, row)
	}
	return s.renderStaff(c, status, "webhooks", p.T("api.webhooks.title"), v)
}

// validWebhookURL accepts an absolute http or https URL without a fragment.
func validWebhookURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && len(raw) <= 2000 && (u.Scheme == "https" || u.Scheme == "http") &&
		u.Host != "" && u.Fragment == "" && !strings.ContainsAny(raw, " \r\n\t")
}

func (s *Server) staffCreateWebhook(c echo.Context) error {
	raw := strings.TrimSpace(c.FormValue("url"))
	p := s.catalog.Printer(localeOf(c))
	if !validWebhookURL(raw) {
		return s.renderWebhooks(c, http.StatusUnprocessableEntity, webhooksView{URL: raw, Err: p.T("api.webhooks.error.url")})
	}
	// An address that is refused whatever it resolves to (an internal IP,
	// however written, or localhost) is refused now; a name is checked on
	// every connection, after it is resolved.
	if err := s.cfg.WebhookEgress.CheckURL(raw); err != nil {
		key := "api.webhooks.error.url"
		switch f := egress.FailureOf(err); f {
		case egress.FailRefusedPrivate, egress.FailRefusedMetadata, egress.FailRefusedReserved, egress.FailBadURL:
			key = "api.webhooks.error." + string(f)
		}
		return s.renderWebhooks(c, http.StatusUnprocessableEntity, webhooksView{URL: raw, Err: p.T(key)})
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	secret := webhookSecretPrefix + base64.RawURLEncoding.EncodeToString(buf)
	e, err := s.webhooks.CreateWebhookEndpoint(c.Request().Context(), raw, secret, staffOf(c).ID, s.clock.Now())
	if err != nil {
		return err
	}
	return s.renderWebhooks(c, http.StatusOK, webhooksView{NewSecret: secret, NewURL: e.URL})
}

func (s *Server) staffDisableWebhook(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.ErrNotFound
	}
	err = s.webhooks.DisableWebhookEndpoint(c.Request().Context(), id, staffOf(c).ID, s.clock.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return echo.ErrNotFound
	case errors.Is(err, store.ErrWebhookDisabled):
		s.flash(c, "api.webhooks.already_disabled")
	case err != nil:
		return err
	default:
		s.flash(c, "api.webhooks.disabled")
	}
	return s.seeOther(c, "/staff/webhooks")
}
