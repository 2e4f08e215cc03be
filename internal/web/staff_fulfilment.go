package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/fulfil"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// The request page's section on answering from the data map (templates:
// partials/fulfilment.html), its actions, and the callback route of the
// operator's HTTP systems. Without a data map (s.fulfil nil) none of it
// shows and the routes answer 404.

// fulfilmentView is the section as the page shows it.
type fulfilmentView struct {
	Gathers bool
	// Blocked says why the systems may not be touched for this request now
	// (unconfirmed, closed, identity not established), in words.
	Blocked    string
	CanGather  bool
	CanPlan    bool // may ask for the plan (auditors too)
	CanApprove bool
	// The current run, when there is one.
	Started    bool
	StartedAt  string
	StartedBy  string
	Approval   *approvalView
	Steps      []stepView
	Stale      bool
	Unfinished bool
	Package    *packageView
	// Shown is the plan staff asked to see (not yet approved); Approved is
	// the one the current run executes.
	Shown    *planView
	Approved *planView
	// The rectification's rows: which field, which value.
	Corrections  []correctionRow
	FieldOptions []reasonOption
}

type approvalView struct{ By, At, Digest string }

type stepView struct {
	ID                  int64
	System              string
	State, StateName    string
	Attempts            int
	Reason, Detail      string
	When                string
	Counts              []countView
	CanRetry            bool
	RetryLabel, Summary string
}

type countView struct {
	Label string
	Rows  string
}

type packageView struct {
	URL, Name, At, Rows string
	SizeKB              int64
	Systems             []summarySystemView
}

type summarySystemView struct {
	Name, Heading string
	Collections   []summaryCollectionView
}

type summaryCollectionView struct {
	Label, Rows string
	Header      []string
	Preview     [][]string
}

type planView struct {
	// ID is the element's id on the page (plan-shown, plan-approved).
	ID, Title, Intro string
	Digest           string
	Type             string
	Systems          []planSystemView
	Nothing          bool
	NothingText      string
}

type planSystemView struct {
	Name, Heading string
	Collections   []planCollectionView
}

type planCollectionView struct {
	Label, Rows, Action string
	Fields              []planFieldView
}

type planFieldView struct {
	Label, Change string
}

type correctionRow struct {
	Index        int
	Field, Value string
}

// correctionRows is how many field/value rows the rectification form has.
const correctionRows = 3

// planPreviewKey holds, for the page being rendered, the plan staff asked
// to see.
const planPreviewKey = "fulfil.plan"

// fulfilmentSection builds the section for r, nil when the data map has
// nothing to do for its type (or there is no map).
func (s *Server) fulfilmentSection(c echo.Context, p *i18n.Printer, r request.Request, form actionForm) (*fulfilmentView, error) {
	if s.fulfil == nil || !s.fulfil.Covers(r.Type) {
		return nil, nil
	}
	ctx := c.Request().Context()
	me := staffOf(c)
	loc := s.cfg.Location
	fv, err := s.fulfil.View(ctx, r)
	if err != nil {
		return nil, err
	}
	m := s.fulfil.Map()
	v := &fulfilmentView{Gathers: fv.Gathers}
	if fv.Blocked != nil {
		v.Blocked = p.T(fulfilBlockedKey(fv.Blocked), "Status", p.T("staff.status."+string(r.Status)))
	}
	work := me.Can(auth.PermRequestsWork)
	if fv.Blocked == nil {
		v.CanGather = work && fv.Gathers
		v.CanPlan = !fv.Gathers && !fv.Unfinished
		v.CanApprove = work && v.CanPlan
	}
	if cur := fv.Current; cur != nil {
		v.Started, v.Stale, v.Unfinished = true, fv.Stale, fv.Unfinished
		v.StartedAt = p.DateTime(cur.CreatedAt.In(loc))
		v.StartedBy = cur.ByName
		if v.StartedBy == "" {
			v.StartedBy = p.T("staff.fulfil.auto")
		}
		if !cur.ApprovedAt.IsZero() {
			v.Approval = &approvalView{By: cur.ByName, At: p.DateTime(cur.ApprovedAt.In(loc)), Digest: shortDigest(cur.PlanDigest)}
		}
		for _, st := range cur.Steps {
			v.Steps = append(v.Steps, s.stepView(p, m, cur.Kind, st, work && fv.Blocked == nil))
		}
		if fv.Plan != nil && cur.Kind == store.FulfilExecute {
			v.Approved = planInWords(p, m, *fv.Plan, "plan-approved")
		}
		if !cur.PackageAt.IsZero() {
			v.Package = &packageView{
				URL: requestPath(r.Reference) + "/package", Name: fulfil.PackageName(r.Reference),
				At: p.DateTime(cur.PackageAt.In(loc)), SizeKB: (cur.PackageSize + 1023) / 1024,
			}
			if fv.Summary != nil {
				v.Package.Rows = p.N("accesspack.rows", int(fv.Summary.Rows))
				v.Package.Systems = summaryInWords(p, m, *fv.Summary)
			}
		}
	}
	if shown, ok := c.Get(planPreviewKey).(*planView); ok {
		v.Shown = shown
	}
	if r.Type == request.Rectification {
		v.FieldOptions = append(v.FieldOptions, reasonOption{Code: "", Label: p.T("field.relationship.none")})
		for _, col := range m.Collections {
			for _, f := range col.Fields {
				v.FieldOptions = append(v.FieldOptions, reasonOption{Code: col.Name + "." + f.Name,
					Label: collectionLabel(p, col) + ": " + fieldLabel(p, f)})
			}
		}
		for i := range correctionRows {
			row := correctionRow{Index: i + 1}
			if i < len(form.Corrections) {
				row.Field, row.Value = form.Corrections[i].Collection+"."+form.Corrections[i].Field, form.Corrections[i].Value
				if form.Corrections[i].Collection == "" {
					row.Field = ""
				}
			}
			v.Corrections = append(v.Corrections, row)
		}
	}
	return v, nil
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// fulfilBlockedKey words why CheckFulfilment refused.
func fulfilBlockedKey(err error) string {
	if errors.Is(err, request.ErrIdentityNotEstablished) {
		return "staff.fulfil.blocked.identity"
	}
	return "staff.fulfil.blocked.status"
}

func (s *Server) stepView(p *i18n.Printer, m *datamap.Map, kind string, st store.Step, canWork bool) stepView {
	v := stepView{
		ID: st.ID, System: st.System, State: st.State, StateName: p.T("staff.fulfil.state." + st.State),
		Attempts: st.Attempts, Detail: st.Detail, When: p.DateTime(st.UpdatedAt.In(s.cfg.Location)),
		CanRetry: canWork && (st.State == store.StepFailed || st.State == store.StepWaiting),
	}
	if st.LastError != "" && st.State != store.StepDone {
		v.Reason = reasonInWords(p, st.LastError)
	}
	v.RetryLabel = p.T("staff.fulfil.retry", "System", st.System)
	sys := m.System(st.System)
	for _, c := range collectionsOf(m, sys) {
		if n, ok := st.Result.Rows[c.Name]; ok {
			v.Counts = append(v.Counts, countView{Label: collectionLabel(p, c), Rows: p.N("accesspack.rows", int(n))})
		}
		if state, ok := st.Result.Calls[c.Name]; ok {
			v.Counts = append(v.Counts, countView{Label: collectionLabel(p, c), Rows: p.T("staff.fulfil.call." + state)})
		}
	}
	if kind == store.FulfilGather {
		v.Summary = p.T("staff.fulfil.counts.read")
	} else {
		v.Summary = p.T("staff.fulfil.counts.changed")
	}
	return v
}

// collectionsOf lists the collections a step of sys reports on: its own,
// or for an HTTP system those whose actions call it.
func collectionsOf(m *datamap.Map, sys *datamap.System) []*datamap.Collection {
	if sys == nil {
		return nil
	}
	if sys.Kind.SQL() {
		return sys.Collections
	}
	var out []*datamap.Collection
	for _, c := range m.Collections {
		for _, typ := range []string{"restriction", "consent_withdrawal"} {
			if a := c.Action(typ); a != nil && a.HTTP == sys {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// reasonInWords is a step's reason code (connector.Reason) for staff.
func reasonInWords(p *i18n.Printer, code string) string {
	if s, ok := p.Lookup("fulfil.reason." + code); ok {
		return s
	}
	return p.T("fulfil.reason." + connector.ReasonOther)
}

func collectionLabel(p *i18n.Printer, c *datamap.Collection) string {
	if l := c.Label.In(string(p.Locale())); l != "" {
		return l
	}
	return c.Name
}

func fieldLabel(p *i18n.Printer, f *datamap.Field) string {
	if l := f.Label.In(string(p.Locale())); l != "" {
		return l
	}
	return f.Name
}

// planInWords is a plan as staff read it: per system and collection, the
// rows, what happens to the rows and to each field, what is kept and why.
func planInWords(p *i18n.Printer, m *datamap.Map, pl plan.Plan, id string) *planView {
	lang := string(p.Locale())
	v := &planView{ID: id, Title: p.T("staff.fulfil." + strings.ReplaceAll(id, "-", ".")), Digest: pl.Digest(),
		Type: p.T("type." + string(pl.Type) + ".name"), Nothing: true}
	v.Intro = p.T("staff.fulfil.plan.digest", "Type", v.Type, "Digest", shortDigest(v.Digest))
	for _, ps := range pl.Systems {
		sv := planSystemView{Name: ps.Name, Heading: p.T("staff.fulfil.package.system", "System", ps.Name)}
		for _, pc := range ps.Collections {
			c := m.Collection(pc.Name)
			cv := planCollectionView{Label: pc.Name, Rows: p.N("accesspack.rows", int(pc.Rows)), Action: p.T("staff.fulfil.action." + pc.Action)}
			if pc.Action == plan.ActionCall {
				cv.Rows = p.T("staff.fulfil.action.call_detail", "Action", pc.Call)
			}
			if c != nil {
				cv.Label = collectionLabel(p, c)
			}
			if pc.Rows > 0 && pc.Action != plan.ActionKeep || pc.Action == plan.ActionCall {
				v.Nothing = false
			}
			for _, pf := range pc.Fields {
				fv := planFieldView{Label: pf.Name, Change: p.T("staff.fulfil.change." + pf.Change)}
				if c != nil {
					if f := c.Field(pf.Name); f != nil {
						fv.Label = fieldLabel(p, f)
					}
				}
				if pf.Change == plan.FieldKeep {
					reason := m.Reasons[pf.Reason].In(lang)
					var period datamap.Period
					if c != nil {
						if f := c.Field(pf.Name); f != nil {
							period = f.KeepFor
						}
					}
					fv.Change = p.T("staff.fulfil.change.keep_why", "Period", accesspack.Period(p, period), "Reason", reason)
				}
				if pf.Change == plan.FieldCorrect {
					for _, corr := range pl.Corrections {
						if corr.Collection == pc.Name && corr.Field == pf.Name {
							fv.Change = p.T("staff.fulfil.change.correct_to", "Value", corr.Value)
						}
					}
				}
				cv.Fields = append(cv.Fields, fv)
			}
			sv.Collections = append(sv.Collections, cv)
		}
		v.Systems = append(v.Systems, sv)
	}
	if v.Nothing {
		v.NothingText = p.T("staff.fulfil.plan.nothing")
	}
	return v
}

// summaryInWords is a package's summary for staff: rows per system and
// collection and the first rows of each.
func summaryInWords(p *i18n.Printer, m *datamap.Map, sum accesspack.Summary) []summarySystemView {
	var out []summarySystemView
	for _, ss := range sum.Systems {
		sv := summarySystemView{Name: ss.Name, Heading: p.T("staff.fulfil.package.system", "System", ss.Name)}
		for _, cs := range ss.Collections {
			cv := summaryCollectionView{Label: cs.Name, Rows: p.N("accesspack.rows", int(cs.Rows)), Preview: cs.Preview}
			c := m.Collection(cs.Name)
			if c != nil {
				cv.Label = collectionLabel(p, c)
			}
			for _, name := range cs.Fields {
				label := name
				if c != nil {
					if f := c.Field(name); f != nil {
						label = fieldLabel(p, f)
					}
				}
				cv.Header = append(cv.Header, label)
			}
			sv.Collections = append(sv.Collections, cv)
		}
		out = append(out, sv)
	}
	return out
}

// withFulfil runs an action of the section, answering 404 without a map.
func (s *Server) withFulfil(c echo.Context, action func(r request.Request) error) error {
	if s.fulfil == nil {
		return s.requestNotFound(c)
	}
	return s.withRequest(c, action)
}

// staffRequestGather starts gathering the requester's data (or gathers
// again, replacing the package).
func (s *Server) staffRequestGather(c echo.Context) error {
	return s.withFulfil(c, func(r request.Request) error {
		_, err := s.fulfil.Gather(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID))
		return s.afterFulfil(c, r, actionForm{}, "gather", err, "staff.fulfil.done.gather")
	})
}

// corrections reads the rectification's rows from the form: a field of the
// map ("collection.field") and its corrected value, empty rows left out.
func corrections(c echo.Context) []plan.Correction {
	var out []plan.Correction
	for i := 1; i <= correctionRows; i++ {
		field := c.FormValue("field" + strconv.Itoa(i))
		value := strings.TrimSpace(c.FormValue("value" + strconv.Itoa(i)))
		col, f, ok := strings.Cut(field, ".")
		if !ok || col == "" || f == "" {
			continue
		}
		out = append(out, plan.Correction{Collection: col, Field: f, Value: request.StaffText(value)})
	}
	return out
}

// staffRequestPlan shows what the request's plan would do, changing
// nothing.
func (s *Server) staffRequestPlan(c echo.Context) error {
	return s.withFulfil(c, func(r request.Request) error {
		form := actionForm{Corrections: corrections(c)}
		pl, err := s.fulfil.PreparePlan(c.Request().Context(), r, form.Corrections)
		if err != nil {
			return s.afterFulfil(c, r, form, "plan", err, "")
		}
		c.Set(planPreviewKey, planInWords(s.catalog.Printer(localeOf(c)), s.fulfil.Map(), pl, "plan-shown"))
		return s.renderRequest(c, http.StatusOK, r, form, "", "plan", nil)
	})
}

// staffRequestApprovePlan approves the plan shown (its digest) and starts
// it; a plan that changed since is shown again, not approved.
func (s *Server) staffRequestApprovePlan(c echo.Context) error {
	return s.withFulfil(c, func(r request.Request) error {
		form := actionForm{Corrections: corrections(c)}
		ctx := c.Request().Context()
		_, err := s.fulfil.Approve(ctx, r.Reference, request.ByStaff(staffOf(c).ID), form.Corrections, c.FormValue("digest"))
		if errors.Is(err, fulfil.ErrPlanChanged) {
			if pl, perr := s.fulfil.PreparePlan(ctx, r, form.Corrections); perr == nil {
				c.Set(planPreviewKey, planInWords(s.catalog.Printer(localeOf(c)), s.fulfil.Map(), pl, "plan-shown"))
			}
		}
		return s.afterFulfil(c, r, form, "plan", err, "staff.fulfil.done.approved")
	})
}

// staffRequestRetryStep has a failed (or waiting) step run again now.
func (s *Server) staffRequestRetryStep(c echo.Context) error {
	return s.withFulfil(c, func(r request.Request) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return s.requestNotFound(c)
		}
		err = s.fulfil.Retry(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), id)
		return s.afterFulfil(c, r, actionForm{}, "steps", err, "staff.fulfil.done.retried")
	})
}

// staffRequestPackage sends the gathered access package to a member of
// staff to review, and logs the download with their id.
func (s *Server) staffRequestPackage(c echo.Context) error {
	return s.withFulfil(c, func(r request.Request) error {
		content, err := s.fulfil.StaffPackage(c.Request().Context(), r, staffOf(c).ID)
		if errors.Is(err, store.ErrNotFound) {
			return s.staffMessagePage(c, http.StatusNotFound, "staff.fulfil.package_gone.title", "staff.fulfil.package_gone.text")
		}
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": fulfil.PackageName(r.Reference)}))
		h.Set(echo.HeaderCacheControl, "no-store")
		return c.Blob(http.StatusOK, "application/zip", content)
	})
}

// afterFulfil answers an action of the section as afterAction does, with a
// system that could not be read named in words.
func (s *Server) afterFulfil(c echo.Context, r request.Request, form actionForm, formID string, err error, doneKey string) error {
	var su *fulfil.SystemUnavailable
	if errors.As(err, &su) {
		p := s.catalog.Printer(localeOf(c))
		text := p.T("staff.fulfil.error.system", "System", su.System, "Reason", reasonInWords(p, su.Reason))
		return s.renderRequest(c, http.StatusServiceUnavailable, r, form, text, formID, nil)
	}
	return s.afterAction(c, r, form, formID, err, doneKey)
}

// fulfilmentRefusal maps the refusals of answering from the data map to a
// status and a message key (refusal's table).
func fulfilmentRefusal(err error) (int, string, bool) {
	switch {
	case errors.Is(err, request.ErrIdentityNotEstablished):
		return http.StatusConflict, "staff.fulfil.blocked.identity", true
	case errors.Is(err, request.ErrFulfilmentUnfinished):
		return http.StatusConflict, "staff.fulfil.error.unfinished", true
	case errors.Is(err, request.ErrNoAccessPackage):
		return http.StatusConflict, "staff.fulfil.error.no_package", true
	case errors.Is(err, request.ErrPackageAndFile):
		return http.StatusUnprocessableEntity, "staff.fulfil.error.package_and_file", true
	case errors.Is(err, fulfil.ErrNotCovered), errors.Is(err, plan.ErrNothingToDo):
		return http.StatusConflict, "staff.fulfil.error.not_covered", true
	case errors.Is(err, fulfil.ErrStepsRunning):
		return http.StatusConflict, "staff.fulfil.error.running", true
	case errors.Is(err, fulfil.ErrPlanChanged):
		return http.StatusConflict, "staff.fulfil.error.plan_changed", true
	case errors.Is(err, fulfil.ErrNotRetryable):
		return http.StatusConflict, "staff.fulfil.error.not_retryable", true
	case errors.Is(err, plan.ErrCorrection):
		return http.StatusUnprocessableEntity, "staff.fulfil.error.correction", true
	}
	return 0, "", false
}

// fulfilmentEventWords tells the data map's events for the timeline; ok
// is false for other events.
func fulfilmentEventWords(p *i18n.Printer, e *store.TimelineEvent) (text, detail string, ok bool) {
	str := func(key string) string {
		v, _ := e.Data[key].(string)
		return v
	}
	counts := func() string {
		rows, _ := e.Data["rows"].(map[string]any)
		var parts []string
		for name, n := range rows {
			f, _ := n.(float64)
			parts = append(parts, fmt.Sprintf("%s %d", name, int64(f)))
		}
		slices.Sort(parts)
		return strings.Join(parts, ", ")
	}
	switch e.Kind {
	case store.EventGatheringStarted:
		text = p.T("staff.event.gathering_started")
		if _, replaces := e.Data["replaces"]; replaces {
			detail = p.T("staff.event.gathering_replaces")
		}
	case store.EventPlanApproved:
		text = p.T("staff.event.plan_approved", "Digest", shortDigest(str("plan_digest")))
	case store.EventStepDone:
		key := "staff.event.step_done"
		if str("kind") == store.FulfilGather {
			key = "staff.event.step_gathered"
		}
		text, detail = p.T(key, "System", str("system")), counts()
	case store.EventStepFailed:
		text, detail = p.T("staff.event.step_failed", "System", str("system")), reasonInWords(p, str("reason"))
	case store.EventStepWaiting:
		text = p.T("staff.event.step_waiting", "System", str("system"))
	case store.EventStepRetried:
		text = p.T("staff.event.step_retried", "System", str("system"))
	case store.EventPackageBuilt:
		n, _ := e.Data["rows"].(float64)
		text = p.T("staff.event.access_package_built", "Rows", p.N("accesspack.rows", int(n)))
	case store.EventPackageFetched:
		text = p.T("staff.event.access_package_downloaded")
	case store.EventPlanExecuted:
		text, detail = p.T("staff.event.plan_executed"), counts()
	default:
		return "", "", false
	}
	return text, detail, true
}

// maxCallbackBody bounds an operator's callback.
const maxCallbackBody = 64 << 10

// datamapCallback takes an operator's HTTP system's signed report of how an
// action went (fulfil.Service.Callback): 200 recorded; 401 a signature
// that does not verify; 404 no step of that system waits for it. Whatever
// is refused changes nothing.
func (s *Server) datamapCallback(c echo.Context) error {
	if s.fulfil == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxCallbackBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	if len(body) > maxCallbackBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	}
	err = s.fulfil.Callback(c.Request().Context(), c.Param("system"), c.Request().Header, body)
	switch {
	case errors.Is(err, fulfil.ErrForged):
		return c.JSON(http.StatusUnauthorized, apiError{"signature"})
	case errors.Is(err, fulfil.ErrNoStepWaits):
		return c.JSON(http.StatusNotFound, apiError{"no step waits for this callback"})
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "recorded"})
}
