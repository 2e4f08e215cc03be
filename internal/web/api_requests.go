package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// APIStore is what the staff API reads; what it does goes through
// request.Desk.
type APIStore interface {
	Queue(ctx context.Context, f store.QueueFilter, p store.Page) (store.QueuePage, error)
	RequestByReference(ctx context.Context, reference string) (request.Request, error)
	EventLog(ctx context.Context, requestID int64) ([]store.TimelineEvent, error)
	Notes(ctx context.Context, requestID int64) ([]store.Note, error)
}

// apiStaffRef names a member of staff.
type apiStaffRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// apiRequestSummary is a request as the list gives it.
type apiRequestSummary struct {
	Reference         string       `json:"reference"`
	Type              string       `json:"type"`
	Status            string       `json:"status"`
	FullName          string       `json:"full_name"`
	Email             string       `json:"email"`
	OnBehalf          bool         `json:"on_behalf"`
	ReceivedAt        string       `json:"received_at"`
	DueAt             string       `json:"due_at"`
	ClosedAt          *string      `json:"closed_at"`
	Assignee          *apiStaffRef `json:"assignee"`
	PossibleDuplicate bool         `json:"possible_duplicate"`
	EmailFailed       bool         `json:"email_failed"`
}

type apiRequestList struct {
	Requests   []apiRequestSummary `json:"requests"`
	NextCursor *string             `json:"next_cursor"`
}

// apiRequestDetail is one request with its event log and notes. The
// requester's fields carry the intake's names.
type apiRequestDetail struct {
	Reference     string       `json:"reference"`
	Type          string       `json:"type"`
	Status        string       `json:"status"`
	Locale        string       `json:"locale"`
	ReceivedAt    string       `json:"received_at"`
	ConfirmedAt   *string      `json:"confirmed_at"`
	DueAt         string       `json:"due_at"`
	OriginalDueAt *string      `json:"original_due_at"`
	Extensions    int          `json:"extensions"`
	Rule          string       `json:"rule"`
	LegalRef      string       `json:"legal_ref"`
	Assignee      *apiStaffRef `json:"assignee"`
	OutcomeReason string       `json:"outcome_reason"`
	FullName      string       `json:"full_name"`
	Email         string       `json:"email"`
	Phone         string       `json:"phone"`
	AccountID     string       `json:"account_id"`
	Details       string       `json:"details"`
	OnBehalf      bool         `json:"on_behalf"`
	SubjectName   string       `json:"subject_name"`
	Relationship  string       `json:"relationship"`
	AccessScope   string       `json:"access_scope"`
	Correction    string       `json:"correction"`
	Processing    string       `json:"processing"`
	// Identity is the check of who the requester is (IDENTITY_CHECK).
	Identity apiIdentity `json:"identity_check"`
	// Fulfilment is answering from the data map (null without one, or
	// before it started).
	Fulfilment *apiFulfilment `json:"fulfilment"`
	Events     []apiEvent     `json:"events"`
	Notes      []apiNote      `json:"notes"`
}

// apiIdentity says whether the request needs an identity check before it
// is completed and, once made, how and by whom.
type apiIdentity struct {
	State  string  `json:"state"` // not_needed, missing, done
	Method *string `json:"method"`
	By     *string `json:"by"`
	At     *string `json:"at"`
}

type apiEvent struct {
	ID        int64          `json:"id"`
	Kind      string         `json:"kind"`
	Actor     string         `json:"actor"`
	ActorID   *int64         `json:"actor_id"`
	ActorName string         `json:"actor_name"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Data      map[string]any `json:"data"`
	At        string         `json:"at"`
}

type apiNote struct {
	ID     int64  `json:"id"`
	Author string `json:"author"`
	Text   string `json:"text"`
	At     string `json:"at"`
}

// apiTime is an instant in RFC 3339 in the operator's zone, as the intake
// answers it.
func (s *Server) apiTime(t time.Time) string {
	return t.In(s.cfg.Location).Format(time.RFC3339)
}

func (s *Server) apiTimeOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := s.apiTime(t)
	return &v
}

// apiListParams are the query parameters the list accepts; any other is
// refused, so that a typo never silently widens the result.
var apiListParams = []string{"tab", "status", "type", "assignee", "due_from", "due_to", "q", "steps", "limit", "cursor"}

// apiTabs are the queue's tabs an API key may ask for ("mine" needs a
// member of staff, which a key is not).
func apiTabs() []store.Tab {
	return slices.DeleteFunc(store.Tabs(), func(t store.Tab) bool { return t == store.TabMine })
}

// apiListRequests is the queue over JSON: the same tabs and filters, by due
// date, one page at a time.
func (s *Server) apiListRequests(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	q := c.QueryParams()
	bad := map[string]string{}
	for name := range q {
		if !slices.Contains(apiListParams, name) {
			bad[name] = p.T("error.unknown_field")
		}
	}
	f := store.QueueFilter{Now: s.clock.Now(), Tab: store.TabOpen, Search: q.Get("q")}
	if v := q.Get("tab"); v != "" {
		f.Tab = store.Tab(v)
		if !slices.Contains(apiTabs(), f.Tab) {
			bad["tab"] = p.T("api.error.tab")
		}
	}
	for _, v := range splitList(q["status"]) {
		if !slices.Contains(request.Statuses(), request.Status(v)) {
			bad["status"] = p.T("api.error.status")
		}
		f.Statuses = append(f.Statuses, request.Status(v))
	}
	for _, v := range splitList(q["type"]) {
		if !request.Type(v).Valid() {
			bad["type"] = p.T("api.error.type")
		}
		f.Types = append(f.Types, request.Type(v))
	}
	switch v := q.Get("assignee"); v {
	case "":
	case "none":
		f.Unassigned = true
	default:
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			bad["assignee"] = p.T("api.error.assignee")
		}
		f.AssigneeID = id
	}
	switch q.Get("steps") {
	case "":
	case "failed":
		f.StepFailed = true
	default:
		bad["steps"] = p.T("api.error.steps")
	}
	var err error
	if f.DueFrom, err = s.parseAPIDate(q.Get("due_from")); err != nil {
		bad["due_from"] = p.T("api.error.date")
	}
	if f.DueTo, err = s.parseAPIDate(q.Get("due_to")); err != nil {
		bad["due_to"] = p.T("api.error.date")
	}
	page := store.Page{After: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		page.Limit, err = strconv.Atoi(v)
		if err != nil || page.Limit < 1 || page.Limit > store.MaxPageSize {
			bad["limit"] = p.T("api.error.limit", "Max", store.MaxPageSize)
		}
	}
	if len(bad) > 0 {
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{bad})
	}
	res, err := s.apiStore.Queue(c.Request().Context(), f, page)
	switch {
	case errors.Is(err, store.ErrInvalidCursor):
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"cursor": p.T("api.error.cursor")}})
	case errors.Is(err, store.ErrInvalidFilter):
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"tab": p.T("api.error.tab")}})
	case err != nil:
		return err
	}
	out := apiRequestList{Requests: make([]apiRequestSummary, 0, len(res.Rows))}
	for _, r := range res.Rows {
		row := apiRequestSummary{
			Reference: r.Reference, Type: string(r.Type), Status: string(r.Status),
			FullName: r.FullName, Email: r.Email, OnBehalf: r.OnBehalf,
			ReceivedAt: s.apiTime(r.ReceivedAt), DueAt: s.apiTime(r.DueAt), ClosedAt: s.apiTimeOrNull(r.ClosedAt),
			PossibleDuplicate: r.DuplicateOf != 0, EmailFailed: r.EmailFailed,
		}
		if r.AssigneeID != 0 {
			row.Assignee = &apiStaffRef{ID: r.AssigneeID, Name: r.AssigneeName}
		}
		out.Requests = append(out.Requests, row)
	}
	if res.Next != "" {
		out.NextCursor = &res.Next
	}
	return c.JSON(http.StatusOK, out)
}

// splitList reads repeated and comma-separated values: ?status=a,b&status=c.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// parseAPIDate reads an RFC 3339 instant, or a date meaning its midnight in
// the operator's zone; "" is the zero time.
func (s *Server) parseAPIDate(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.ParseInLocation(time.DateOnly, v, s.cfg.Location)
}

func (s *Server) apiGetRequest(c echo.Context) error {
	r, err := s.apiStore.RequestByReference(c.Request().Context(), c.Param("reference"))
	if err != nil {
		return err
	}
	return s.apiRequestAnswer(c, http.StatusOK, r)
}

// apiRequestAnswer answers with the request as it is, with its log.
func (s *Server) apiRequestAnswer(c echo.Context, status int, r request.Request) error {
	ctx := c.Request().Context()
	events, err := s.apiStore.EventLog(ctx, r.ID)
	if err != nil {
		return err
	}
	notes, err := s.apiStore.Notes(ctx, r.ID)
	if err != nil {
		return err
	}
	out := apiRequestDetail{
		Reference: r.Reference, Type: string(r.Type), Status: string(r.Status), Locale: string(r.Locale),
		ReceivedAt: s.apiTime(r.ReceivedAt), ConfirmedAt: s.apiTimeOrNull(r.ConfirmedAt),
		DueAt: s.apiTime(r.DueAt), OriginalDueAt: s.apiTimeOrNull(r.OriginalDueAt), Extensions: r.Extensions,
		Rule: r.Rule, LegalRef: r.LegalRef, OutcomeReason: r.OutcomeReason,
		FullName: r.FullName, Email: r.Email, Phone: r.Phone, AccountID: r.AccountID, Details: r.Details,
		OnBehalf: r.OnBehalf, SubjectName: r.SubjectName, Relationship: string(r.Relationship),
		AccessScope: r.AccessScope, Correction: r.Correction, Processing: r.Processing,
		Events: make([]apiEvent, 0, len(events)), Notes: make([]apiNote, 0, len(notes)),
	}
	if r.AssigneeID != 0 {
		out.Assignee = &apiStaffRef{ID: r.AssigneeID, Name: r.AssigneeName}
	}
	out.Identity.State = string(s.desk.IdentityState(r))
	if id := r.Identity; id.Done() {
		method, by := string(id.Method), id.ByName
		out.Identity.Method, out.Identity.By, out.Identity.At = &method, &by, s.apiTimeOrNull(id.At)
	}
	for _, e := range events {
		ae := apiEvent{ID: e.ID, Kind: e.Kind, Actor: string(e.Actor), ActorName: e.ActorName,
			From: string(e.FromStatus), To: string(e.ToStatus), Data: e.Data, At: s.apiTime(e.At)}
		if e.ActorID != 0 {
			ae.ActorID = &e.ActorID
		}
		if ae.Data == nil {
			ae.Data = map[string]any{}
		}
		out.Events = append(out.Events, ae)
	}
	for _, n := range notes {
		out.Notes = append(out.Notes, apiNote{ID: n.ID, Author: n.StaffName, Text: n.Body, At: s.apiTime(n.At)})
	}
	if out.Fulfilment, err = s.apiFulfilmentOf(c, r); err != nil {
		return err
	}
	return c.JSON(status, out)
}

// errBodyField is a body that decoded but has a field of the wrong type or
// one the API does not know; field names it.
type errBodyField struct{ field, key string }

func (e *errBodyField) Error() string { return e.field + ": " + e.key }

// decodeAPIBody reads a JSON object into v, refusing unknown fields and
// anything after the object. Errors: 415 (not JSON), 413, 400 (malformed)
// as echo errors, *errBodyField for a wrong or unknown field.
func decodeAPIBody(c echo.Context, v any) error {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType)
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &tooLarge), errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &errBodyField{typeErr.Field, "error.wrong_type"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &errBodyField{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "error.unknown_field"}
	}
	return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
}

// apiBodyRefused answers a body decodeAPIBody refused, in the request's language.
func (s *Server) apiBodyRefused(c echo.Context, err error) error {
	return bodyRefused(c, err, s.catalog.Printer(localeOf(c)))
}

// bodyRefused answers a body decodeAPIBody refused: a wrong or unknown
// field named, in p's language, and the other refusals as they are.
func bodyRefused(c echo.Context, err error, p *i18n.Printer) error {
	var fe *errBodyField
	if errors.As(err, &fe) {
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{fe.field: p.T(fe.key)}})
	}
	return err
}

// apiTransitionBody moves a request: to in_progress (start work),
// awaiting_requester (ask; note is the message), completed (note is the
// response) or rejected (reason from the list; note is the text).
type apiTransitionBody struct {
	To     string `json:"to"`
	Note   string `json:"note"`
	Reason string `json:"reason"`
	// AccessPackage (completed only) sends the gathered access package as
	// the answer's file.
	AccessPackage bool `json:"access_package"`
}

// apiTransitionTargets are the states a transition call may ask for.
func apiTransitionTargets() []request.Status {
	return []request.Status{request.InProgress, request.AwaitingRequester, request.Completed, request.Rejected}
}

func (s *Server) apiTransition(c echo.Context) error {
	var body apiTransitionBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	p := s.catalog.Printer(localeOf(c))
	to := request.Status(body.To)
	switch {
	case !slices.Contains(apiTransitionTargets(), to):
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"to": p.T("api.error.to")}})
	case body.Reason != "" && to != request.Rejected:
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"reason": p.T("api.error.not_used")}})
	case strings.TrimSpace(body.Note) != "" && to == request.InProgress:
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"note": p.T("api.error.not_used")}})
	case body.AccessPackage && to != request.Completed:
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"access_package": p.T("api.error.not_used")}})
	}
	ctx, ref, by := c.Request().Context(), c.Param("reference"), request.ByAPIKey(apiKeyOf(c).ID)
	var r request.Request
	var err error
	switch to {
	case request.InProgress:
		r, err = s.desk.Start(ctx, ref, by)
	case request.AwaitingRequester:
		r, err = s.desk.AskForInformation(ctx, ref, by, body.Note)
	case request.Completed:
		r, err = s.desk.Complete(ctx, ref, by, request.Completion{Response: body.Note, AccessPackage: body.AccessPackage})
	case request.Rejected:
		r, err = s.desk.Reject(ctx, ref, by, request.Rejection{Reason: body.Reason, Text: body.Note})
	}
	return s.apiActed(c, ref, r, err)
}

// apiActed answers a desk action: the request as it now is, or why nothing
// was done — 409 with the domain's words when the request's state does not
// allow it, 422 naming the field that is missing or wrong.
func (s *Server) apiActed(c echo.Context, ref string, r request.Request, err error) error {
	if err == nil {
		fresh, ferr := s.apiStore.RequestByReference(c.Request().Context(), ref)
		if ferr != nil {
			return ferr
		}
		return s.apiRequestAnswer(c, http.StatusOK, fresh)
	}
	status, key, ok := refusal(err)
	if !ok {
		return err
	}
	if fresh, ferr := s.apiStore.RequestByReference(c.Request().Context(), ref); ferr == nil {
		r = fresh
	}
	p := s.catalog.Printer(localeOf(c))
	text := p.T(key, "Status", p.T("staff.status."+string(r.Status)), "Max", refusalMax(err))
	if status != http.StatusUnprocessableEntity {
		return c.JSON(status, apiError{text})
	}
	field := "note"
	switch {
	case errors.Is(err, request.ErrReasonRequired):
		field = "reason"
	case errors.Is(err, request.ErrUnknownStaff), errors.Is(err, request.ErrNotAssignable):
		field = "staff_id"
	case errors.Is(err, request.ErrIdentityMethod):
		field = "method"
	}
	return c.JSON(status, apiErrors{map[string]string{field: text}})
}

// optionalID is a JSON id that may be null, and knows whether it was given.
type optionalID struct {
	Set bool
	ID  int64
}

func (o *optionalID) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.ID = 0
		return nil
	}
	return json.Unmarshal(b, &o.ID)
}

type apiAssignBody struct {
	StaffID optionalID `json:"staff_id"`
}

// apiAssign gives the request to a member of staff, or to nobody (null).
func (s *Server) apiAssign(c echo.Context) error {
	var body apiAssignBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	if !body.StaffID.Set || body.StaffID.ID < 0 {
		p := s.catalog.Printer(localeOf(c))
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"staff_id": p.T("api.error.staff_id")}})
	}
	ref := c.Param("reference")
	r, err := s.desk.Assign(c.Request().Context(), ref, request.ByAPIKey(apiKeyOf(c).ID), body.StaffID.ID)
	return s.apiActed(c, ref, r, err)
}

// apiIdentityBody records an identity check: a method from the list and a
// note (seen by staff only).
type apiIdentityBody struct {
	Method string `json:"method"`
	Note   string `json:"note"`
}

// apiRecordIdentity records that the operator established who the
// requester is, made by the key.
func (s *Server) apiRecordIdentity(c echo.Context) error {
	var body apiIdentityBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	ref := c.Param("reference")
	r, err := s.desk.RecordIdentityCheck(c.Request().Context(), ref, request.ByAPIKey(apiKeyOf(c).ID),
		request.IdentityMethod(body.Method), body.Note)
	return s.apiActed(c, ref, r, err)
}

type apiNoteBody struct {
	Text string `json:"text"`
}

// apiAddNote adds an internal note, written by the key.
func (s *Server) apiAddNote(c echo.Context) error {
	var body apiNoteBody
	if err := decodeAPIBody(c, &body); err != nil {
		return s.apiBodyRefused(c, err)
	}
	ctx := c.Request().Context()
	r, err := s.apiStore.RequestByReference(ctx, c.Param("reference"))
	if err != nil {
		return err
	}
	n, err := s.desk.AddNote(ctx, r, request.ByAPIKey(apiKeyOf(c).ID), body.Text)
	if errors.Is(err, request.ErrNoteInvalid) {
		p := s.catalog.Printer(localeOf(c))
		return c.JSON(http.StatusUnprocessableEntity, apiErrors{map[string]string{"text": p.T("staff.request.error.note", "Max", request.MaxNoteLength)}})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiNote{ID: n.ID, Author: n.Author, Text: n.Body, At: s.apiTime(n.At)})
}
