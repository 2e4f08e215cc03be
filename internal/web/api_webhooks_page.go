package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
	Created    string
	Deliveries []webhookDeliveryRow
}

type webhookDeliveryRow struct {
	store.WebhookDeliverySummary
	Created, LastAttempt string
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
		row := webhookRow{WebhookEndpoint: e, Created: p.DateTime(e.CreatedAt.In(loc))}
		ds, err := s.webhooks.WebhookDeliveries(ctx, e.ID, webhookDeliveriesShown)
		if err != nil {
			return err
		}
		for _, d := range ds {
			dr := webhookDeliveryRow{WebhookDeliverySummary: d, Created: p.DateTime(d.CreatedAt.In(loc))}
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
	if !validWebhookURL(raw) {
		p := s.catalog.Printer(localeOf(c))
		return s.renderWebhooks(c, http.StatusUnprocessableEntity, webhooksView{URL: raw, Err: p.T("api.webhooks.error.url")})
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
	return c.Redirect(http.StatusSeeOther, "/staff/webhooks")
}
