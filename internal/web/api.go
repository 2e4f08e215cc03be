package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
)

// apiReceipt is the 201 answer: times in RFC 3339 in the operator's zone.
// status_url is there only for a caller whose key vouched for the requester:
// the public caller may not be the owner of the address, so its link goes
// by email only.
type apiReceipt struct {
	Reference  string `json:"reference"`
	Status     string `json:"status"`
	ReceivedAt string `json:"received_at"`
	DueAt      string `json:"due_at"`
	StatusURL  string `json:"status_url,omitempty"`
}

type apiErrors struct {
	Errors map[string]string `json:"errors"`
}

// apiSubmit is the intake over JSON: the same fields and rules as the
// form. Unknown fields are refused, not ignored, so a client's typo never
// silently drops data. Without a key it is the public intake; with a key
// whose role may vouch (optionalAPIKey), the operator's own system files
// for a requester its sign-in proved.
func (s *Server) apiSubmit(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	var sub request.Submission
	err := decodeAPIBody(c, &sub)
	// Messages follow the request's own locale when it names a valid one.
	if sub.Locale.Valid() {
		p = s.catalog.Printer(sub.Locale)
	}
	if err != nil {
		return bodyRefused(c, err, p)
	}
	if key := c.Request().Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"Idempotency-Key": p.T("error.idempotency_key")}})
		}
		sub.IdempotencyKey = key
	}
	var receipt request.Receipt
	key, vouched := vouchingKey(c)
	if vouched {
		receipt, err = s.intake.SubmitVouched(c.Request().Context(), sub, localeOf(c), request.Voucher{APIKeyID: key.ID})
	} else {
		receipt, err = s.intake.Submit(c.Request().Context(), sub, localeOf(c))
	}
	if errors.Is(err, request.ErrIdempotencyMismatch) {
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"Idempotency-Key": p.T("error.idempotency_mismatch")}})
	}
	var verr *request.ValidationError
	if errors.As(err, &verr) {
		out := apiErrors{Errors: map[string]string{}}
		for field, fe := range verr.Fields {
			out.Errors[field] = p.Params(fe.Key, fe.Params)
		}
		return c.JSON(http.StatusUnprocessableEntity, out)
	}
	var limit *request.LimitReached
	if errors.As(err, &limit) {
		fe := s.limitReached(c, limit).Fields[limit.Field]
		return c.JSON(http.StatusTooManyRequests, map[string]string{"error": p.Params(fe.Key, fe.Params)})
	}
	if err != nil {
		return err
	}
	if vouched {
		// The request as the staff API serves it: no secret in a header.
		c.Response().Header().Set(echo.HeaderLocation, s.cfg.BaseURL+"/api/v1/requests/"+receipt.Reference)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, apiReceipt{
		Reference:  receipt.Reference,
		Status:     string(receipt.Status),
		ReceivedAt: receipt.ReceivedAt.In(s.cfg.Location).Truncate(time.Second).Format(time.RFC3339),
		DueAt:      receipt.DueAt.In(s.cfg.Location).Format(time.RFC3339),
		StatusURL:  receipt.StatusURL,
	})
}
