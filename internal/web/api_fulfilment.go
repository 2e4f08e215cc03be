package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/fulfil"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// The staff API's side of answering from the data map: the same actions
// as the request page (gather, see the plan, approve it, retry a step),
// and the fulfilment in the request's detail.

// apiFulfilment is how answering the request from the data map stands.
type apiFulfilment struct {
	Kind       string           `json:"kind"` // gather or execute
	StartedAt  string           `json:"started_at"`
	ApprovedAt *string          `json:"approved_at"`
	ApprovedBy *string          `json:"approved_by"`
	PlanDigest string           `json:"plan_digest"`
	Stale      bool             `json:"stale"`
	Done       bool             `json:"done"`
	Steps      []apiStep        `json:"steps"`
	Package    *apiPackage      `json:"package"`
	Plan       *apiPlanDocument `json:"plan"`
}

type apiStep struct {
	ID        int64             `json:"id"`
	System    string            `json:"system"`
	State     string            `json:"state"`
	Attempts  int               `json:"attempts"`
	LastError *apiStepError     `json:"last_error"`
	Rows      map[string]int64  `json:"rows"`
	Calls     map[string]string `json:"calls,omitempty"`
	UpdatedAt string            `json:"updated_at"`
}

type apiStepError struct {
	Code   string `json:"code"`
	Text   string `json:"text"`
	Detail string `json:"detail,omitempty"`
}

type apiPackage struct {
	BuiltAt string           `json:"built_at"`
	Size    int64            `json:"size"`
	Rows    int64            `json:"rows"`
	Systems []apiPackageRows `json:"systems"`
}

type apiPackageRows struct {
	Name        string           `json:"name"`
	Collections map[string]int64 `json:"collections"`
}

// apiPlanDocument is a plan as the API gives it: what it does, without the
// identifiers it matches (the request's own fields say them).
type apiPlanDocument struct {
	Type        string            `json:"type"`
	Digest      string            `json:"digest"`
	MapDigest   string            `json:"map_digest"`
	Corrections []plan.Correction `json:"corrections,omitempty"`
	Systems     []plan.System     `json:"systems"`
}

func apiPlanOf(p plan.Plan) *apiPlanDocument {
	return &apiPlanDocument{Type: string(p.Type), Digest: p.Digest(), MapDigest: p.MapDigest, Corrections: p.Corrections, Systems: p.Systems}
}

// apiFulfilmentOf is r's fulfilment for the detail; nil without a map or
// without a run.
func (s *Server) apiFulfilmentOf(c echo.Context, r request.Request) (*apiFulfilment, error) {
	if s.fulfil == nil || !s.fulfil.Covers(r.Type) {
		return nil, nil
	}
	v, err := s.fulfil.View(c.Request().Context(), r)
	if err != nil || v.Current == nil {
		return nil, err
	}
	p := s.catalog.Printer(localeOf(c))
	cur := v.Current
	out := &apiFulfilment{
		Kind: cur.Kind, StartedAt: s.apiTime(cur.CreatedAt), ApprovedAt: s.apiTimeOrNull(cur.ApprovedAt),
		PlanDigest: cur.PlanDigest, Stale: v.Stale, Done: cur.Done(), Steps: []apiStep{},
	}
	if !cur.ApprovedAt.IsZero() {
		by := cur.ByName
		out.ApprovedBy = &by
	}
	for _, st := range cur.Steps {
		as := apiStep{ID: st.ID, System: st.System, State: st.State, Attempts: st.Attempts, Rows: st.Result.Rows,
			Calls: st.Result.Calls, UpdatedAt: s.apiTime(st.UpdatedAt)}
		if as.Rows == nil {
			as.Rows = map[string]int64{}
		}
		if st.LastError != "" && st.State != store.StepDone {
			as.LastError = &apiStepError{Code: st.LastError, Text: reasonInWords(p, st.LastError), Detail: st.Detail}
		}
		out.Steps = append(out.Steps, as)
	}
	if !cur.PackageAt.IsZero() {
		out.Package = &apiPackage{BuiltAt: s.apiTime(cur.PackageAt), Size: cur.PackageSize, Systems: []apiPackageRows{}}
		if v.Summary != nil {
			out.Package.Rows = v.Summary.Rows
			for _, ss := range v.Summary.Systems {
				pr := apiPackageRows{Name: ss.Name, Collections: map[string]int64{}}
				for _, cs := range ss.Collections {
					pr.Collections[cs.Name] = cs.Rows
				}
				out.Package.Systems = append(out.Package.Systems, pr)
			}
		}
	}
	if v.Plan != nil && cur.Kind == store.FulfilExecute {
		out.Plan = apiPlanOf(*v.Plan)
	}
	return out, nil
}

// apiGather starts gathering the requester's data (202 with the request).
func (s *Server) apiGather(c echo.Context) error {
	if s.fulfil == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err := decodeOptionalEmptyBody(c); err != nil {
		return s.apiBodyRefused(c, err)
	}
	ref := c.Param("reference")
	_, err := s.fulfil.Gather(c.Request().Context(), ref, request.ByAPIKey(apiKeyOf(c).ID))
	return s.apiFulfilActed(c, ref, err)
}

// apiPlanBody asks for a plan (and approves one: digest).
type apiPlanBody struct {
	Corrections []plan.Correction `json:"corrections"`
	Digest      string            `json:"digest"`
}

// apiPlan answers with what the request's plan would do now, and its
// digest, changing nothing.
func (s *Server) apiPlan(c echo.Context) error {
	if s.fulfil == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	var body apiPlanBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	if body.Digest != "" {
		p := s.catalog.Printer(localeOf(c))
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"digest": p.T("api.error.not_used")}})
	}
	r, err := s.apiStore.RequestByReference(c.Request().Context(), c.Param("reference"))
	if err != nil {
		return err
	}
	pl, err := s.fulfil.PreparePlan(c.Request().Context(), r, body.Corrections)
	if err != nil {
		return s.apiFulfilActed(c, r.Reference, err)
	}
	return c.JSON(http.StatusOK, apiPlanOf(pl))
}

// apiApprovePlan approves the plan of that digest and starts it (202); a
// plan that changed since is 409 with the plan as it is now.
func (s *Server) apiApprovePlan(c echo.Context) error {
	if s.fulfil == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	var body apiPlanBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	p := s.catalog.Printer(localeOf(c))
	if body.Digest == "" {
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"digest": p.T("api.error.digest")}})
	}
	ctx, ref := c.Request().Context(), c.Param("reference")
	_, err := s.fulfil.Approve(ctx, ref, request.ByAPIKey(apiKeyOf(c).ID), body.Corrections, body.Digest)
	if errors.Is(err, fulfil.ErrPlanChanged) {
		out := map[string]any{"error": p.T("staff.fulfil.error.plan_changed")}
		if r, rerr := s.apiStore.RequestByReference(ctx, ref); rerr == nil {
			if pl, perr := s.fulfil.PreparePlan(ctx, r, body.Corrections); perr == nil {
				out["plan"] = apiPlanOf(pl)
			}
		}
		return c.JSON(http.StatusConflict, out)
	}
	return s.apiFulfilActed(c, ref, err)
}

// apiRetryStep has a failed (or waiting) step run again now.
func (s *Server) apiRetryStep(c echo.Context) error {
	if s.fulfil == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err := decodeOptionalEmptyBody(c); err != nil {
		return s.apiBodyRefused(c, err)
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ref := c.Param("reference")
	err = s.fulfil.Retry(c.Request().Context(), ref, request.ByAPIKey(apiKeyOf(c).ID), id)
	return s.apiFulfilActed(c, ref, err)
}

// apiFulfilActed answers a data map action: 202 with the request as it now
// is, or why nothing was done, as apiActed does; a system that could not be
// read is 503 naming it.
func (s *Server) apiFulfilActed(c echo.Context, ref string, err error) error {
	var su *fulfil.SystemUnavailable
	if errors.As(err, &su) {
		p := s.catalog.Printer(localeOf(c))
		return c.JSON(http.StatusServiceUnavailable, apiError{p.T("staff.fulfil.error.system", "System", su.System, "Reason", reasonInWords(p, su.Reason))})
	}
	if err == nil {
		fresh, ferr := s.apiStore.RequestByReference(c.Request().Context(), ref)
		if ferr != nil {
			return ferr
		}
		return s.apiRequestAnswer(c, http.StatusAccepted, fresh)
	}
	return s.apiActed(c, ref, request.Request{}, err)
}

// decodeOptionalEmptyBody accepts no body, or an empty JSON object.
func decodeOptionalEmptyBody(c echo.Context) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	var empty struct{}
	return decodeAPIBody(c, &empty)
}
