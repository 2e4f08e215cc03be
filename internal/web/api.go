package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
)

// apiReceipt is the 201 answer: times in RFC 3339 in the operator's zone.
type apiReceipt struct {
	Reference  string `json:"reference"`
	Status     string `json:"status"`
	ReceivedAt string `json:"received_at"`
	DueAt      string `json:"due_at"`
	StatusURL  string `json:"status_url"`
}

type apiErrors struct {
	Errors map[string]string `json:"errors"`
}

// apiSubmit is the public intake over JSON: the same fields and rules as
// the form. Unknown fields are refused, not ignored, so a client's typo
// never silently drops data.
func (s *Server) apiSubmit(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType)
	}
	var sub request.Submission
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&sub)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	// Messages follow the request's own locale when it names a valid one.
	if sub.Locale.Valid() {
		p = s.catalog.Printer(sub.Locale)
	}
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		var tooLarge *http.MaxBytesError
		var he *echo.HTTPError
		switch {
		case errors.As(err, &tooLarge), errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{typeErr.Field: p.T("error.wrong_type")}})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{field: p.T("error.unknown_field")}})
		}
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	if key := c.Request().Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"Idempotency-Key": p.T("error.idempotency_key")}})
		}
		sub.IdempotencyKey = "api\x00" + key
	}
	receipt, err := s.intake.Submit(c.Request().Context(), sub, localeOf(c))
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
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, receipt.StatusURL)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, apiReceipt{
		Reference:  receipt.Reference,
		Status:     string(receipt.Status),
		ReceivedAt: receipt.ReceivedAt.In(s.cfg.Location).Truncate(time.Second).Format(time.RFC3339),
		DueAt:      receipt.DueAt.In(s.cfg.Location).Format(time.RFC3339),
		StatusURL:  receipt.StatusURL,
	})
}
