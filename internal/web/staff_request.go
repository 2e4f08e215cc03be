package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/deadline"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// DeskStore is what the staff request page reads and the few writes that
// are not desk actions (those go through request.Desk): staff downloads,
// email retries and response files held between preview and send.
type DeskStore interface {
	RequestByReference(ctx context.Context, reference string) (request.Request, error)
	Timeline(ctx context.Context, requestID int64) ([]store.TimelineEntry, error)
	Messages(ctx context.Context, requestID int64) ([]store.Message, error)
	RequestFiles(ctx context.Context, requestID int64) ([]store.StoredFile, error)
	PossibleDuplicates(ctx context.Context, r request.Request) ([]store.RequestLink, error)
	ListStaff(ctx context.Context) ([]auth.Staff, error)
	StaffDownload(ctx context.Context, requestID, fileID, staffID int64, at time.Time) (request.File, error)
	RetryEmail(ctx context.Context, requestID, emailID, staffID int64, at time.Time, retrier store.DeliveryRetrier) error
	SaveResponseDraft(ctx context.Context, requestID, staffID int64, f request.File, at time.Time) (int64, error)
	ResponseDraft(ctx context.Context, requestID, staffID, draftID int64) (request.File, error)
	DeleteResponseDrafts(ctx context.Context, requestID int64) error
}

// requestView is everything the staff request page shows.
type requestView struct {
	R            request.Request
	Path         string // the page's own path, for its forms
	TypeName     string
	StatusName   string
	Open         bool
	LocaleName   string
	Received     string
	Confirmed    string
	Due          string
	DaysLeft     string
	DueClass     string // ok, soon, overdue or closed: a colour, always with DaysLeft in words
	OriginalDue  string
	PurgedAt     string // when the retention job purged the personal data; empty while held
	Relationship string
	AccessScope  string
	Processing   string // the label of the processing field for this type
	Assignee     string
	Duplicates   []duplicateView
	ProofFiles   []fileStaffView
	Files        []fileStaffView
	Messages     []staffMessageView
	Timeline     []timelineItem

	CanWork   bool // the viewer may act (auditors may not: no forms at all)
	CanAssign bool
	CanStart  bool
	CanAsk    bool
	CanExtend bool
	// CanRecompute: an admin may date an open request again under the
	// policy in force now.
	CanRecompute bool
	CanComplete  bool
	CanReject    bool
	RuleTerms    string // how the deadline was counted, in words
	LegalRef     string // the law behind the rule, cited in the reader's language where known
	ExtendTo     string // the date an extension would give
	ExtendTerms  string // how an extension would count, in words
	MeID         int64
	Staff        []staffOption
	Reasons      []reasonOption

	// Identity is how the request stands with the identity check
	// (IDENTITY_CHECK); CanCheckIdentity offers the form that records one.
	Identity         identityView
	CanCheckIdentity bool
	IdentityMethods  []reasonOption

	// Fulfil is the section on answering from the data map; nil when there
	// is no map or it has nothing for the request's type.
	Fulfil *fulfilmentView
	// Letters are the letters the request came as or was written in.
	Letters lettersView

	Form    actionForm
	Error   string // a refused action, in words
	ErrorAt string // the id of the form the error belongs to
	Preview *previewView
	Boxes   map[string]fieldView // each action form's text box, by the form's id
}

// identityView is the identity check as the request page shows it.
type identityView struct {
	State  string // not_needed, missing or done (request.IdentityState)
	Text   string // the state in words
	Method string // done: how, by whom and when
	By, At string
	Note   string // what the member of staff wrote (sealed; gone once purged)
}

type duplicateView struct {
	Reference, Status string
	Earlier           bool // this request points at it
}

type fileStaffView struct {
	ID                  int64
	Name, Purpose, Type string
	SizeKB              int64
	At                  string
	Deleted             bool
	URL                 string
	Proof               bool
	DeletedLabel        string
}

type staffMessageView struct {
	FromStaff bool
	Body, At  string
	Files     []fileStaffView
}

type staffOption struct {
	ID   int64
	Name string
}

type reasonOption struct {
	Code, Label, Ref string
}

// groundRefInWords cites a refusal ground's law in the reader's language
// where the catalogs have it (legal_ref.ground.<rule set>.<code>),
// otherwise as the preset gives it.
func groundRefInWords(p *i18n.Printer, set string, g deadline.Ground) string {
	if g.LegalRef == "" {
		return ""
	}
	if s, ok := p.Lookup("legal_ref.ground." + set + "." + g.Code); ok {
		return s
	}
	return g.LegalRef
}

// actionForm is what staff typed, kept when an action is refused or
// previewed.
type actionForm struct {
	AssignTo        int64
	Message         string
	ExtendReason    string
	RecomputeReason string
	Response        string
	RejectReason    string
	RejectText      string
	Note            string
	IdentityMethod  string
	IdentityNote    string
	// The data map's: a rectification's corrections, and whether the
	// answer sends the access package.
	Corrections   []plan.Correction
	AccessPackage bool
	MergeInto     string
}

// actionBoxes are the text boxes of the page's forms: the form's id (as in
// ErrorAt), the box's id and field name, its label and hint keys under
// staff.request., its height and length limit (0: none), what staff typed
// in it, and whether the form's error is shown at the box (reject shows it
// above the reason list, which it may be about).
var actionBoxes = []struct {
	form, id, name, label, hint string
	rows, max                   int
	typed                       func(actionForm) string
	errorHere                   bool
}{
	{"ask", "ask-message", "message", "ask.label", "ask.hint", 4, request.MaxReplyLength,
		func(f actionForm) string { return f.Message }, true},
	{"extend", "extend-reason", "reason", "extend.label", "extend.hint", 3, request.MaxReplyLength,
		func(f actionForm) string { return f.ExtendReason }, true},
	{"recompute", "recompute-reason", "reason", "recompute.label", "recompute.hint", 2, request.MaxReplyLength,
		func(f actionForm) string { return f.RecomputeReason }, true},
	{"complete", "complete-response", "response", "complete.label", "", 6, 0,
		func(f actionForm) string { return f.Response }, true},
	{"reject", "reject-text", "text", "reject.text", "reject.hint", 5, 0,
		func(f actionForm) string { return f.RejectText }, false},
	{"note", "note-body", "note", "note.label", "note.hint", 3, request.MaxNoteLength,
		func(f actionForm) string { return f.Note }, true},
	{"identity", "identity-note", "note", "identity.note", "identity.note_hint", 3, request.MaxIdentityNote,
		func(f actionForm) string { return f.IdentityNote }, false},
}

// boxes draws the action forms' text boxes with what staff typed and the
// refused action's error.
func (v *requestView) boxes(p *i18n.Printer) {
	v.Boxes = make(map[string]fieldView, len(actionBoxes))
	for _, b := range actionBoxes {
		f := fieldView{
			ID: b.id, Name: b.name, Kind: "textarea", Rows: b.rows, Max: b.max, Value: b.typed(v.Form),
			Label: p.T("staff.request." + b.label), ErrorPrefix: p.T("form.error_prefix"),
		}
		if b.hint != "" {
			f.Hint = p.T("staff.request." + b.hint)
		}
		if b.errorHere && v.ErrorAt == b.form {
			f.Error = v.Error
		}
		f.describe()
		v.Boxes[b.form] = f
	}
}

// previewView is the email a completion or rejection will send, exactly.
type previewView struct {
	Kind        string // completed or rejected
	Subject     string
	Text        string
	Lang        string
	Digest      string // identifies what was shown; Send checks it again
	DraftID     int64
	FileName    string
	FileSizeKB  int64
	Translation *previewTranslation
}

type previewTranslation struct {
	Lang, LangName, Subject, Text string
}

type timelineItem struct {
	At     string
	Actor  string
	Kind   string // event, email or note
	Text   string
	Detail string
	Email  *emailView
	Note   string
}

type emailView struct {
	ID                  int64
	KindName, To        string
	Subject, Text       string
	State, StateName    string
	Attempts            int
	LastError           string
	LastAttempt, SentAt string
	CanRetry            bool
	// Bounced says, in words, that a report came back that the email
	// could not be delivered (a bounce matched by its Message-ID).
	Bounced string
}

// loadRequest finds the request of the page's :reference; an unknown or
// malformed reference is store.ErrNotFound.
func (s *Server) loadRequest(c echo.Context) (request.Request, error) {
	ref, err := request.ParseReference(c.Param("reference"))
	if err != nil {
		return request.Request{}, store.ErrNotFound
	}
	return s.deskStore.RequestByReference(c.Request().Context(), ref)
}

// requestNotFound is the staff page for a reference that leads nowhere.
func (s *Server) requestNotFound(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	return s.renderStaff(c, http.StatusNotFound, "message", p.T("staff.request.notfound.title"),
		staffMessage{Text: p.T("staff.request.notfound.text"), Link: "/staff", LinkText: p.T("staff.nav.queue")})
}

func (s *Server) staffRequest(c echo.Context) error {
	r, err := s.loadRequest(c)
	if errors.Is(err, store.ErrNotFound) {
		return s.requestNotFound(c)
	}
	if err != nil {
		return err
	}
	return s.renderRequest(c, http.StatusOK, r, actionForm{}, "", "", nil)
}

func requestPath(ref string) string { return "/staff/requests/" + ref }

// renderRequest shows the request page, with a refused action's message
// and the staff member's input when there is one.
func (s *Server) renderRequest(c echo.Context, status int, r request.Request, form actionForm, errText, errAt string, preview *previewView) error {
	ctx := c.Request().Context()
	p := s.catalog.Printer(localeOf(c))
	me := staffOf(c)
	loc := s.cfg.Location
	now := s.clock.Now()

	timeline, err := s.deskStore.Timeline(ctx, r.ID)
	if err != nil {
		return err
	}
	msgs, err := s.deskStore.Messages(ctx, r.ID)
	if err != nil {
		return err
	}
	files, err := s.deskStore.RequestFiles(ctx, r.ID)
	if err != nil {
		return err
	}
	dups, err := s.deskStore.PossibleDuplicates(ctx, r)
	if err != nil {
		return err
	}
	staff, err := s.deskStore.ListStaff(ctx)
	if err != nil {
		return err
	}

	v := requestView{
		R: r, Path: requestPath(r.Reference), Form: form, Error: errText, ErrorAt: errAt, Preview: preview,
		TypeName:   p.T("type." + string(r.Type) + ".name"),
		StatusName: p.T("staff.status." + string(r.Status)),
		Open:       r.Status.Open(),
		LocaleName: p.T("lang." + string(r.Locale)),
		Received:   p.DateTime(r.ReceivedAt.In(loc)),
		Due:        p.DateTime(r.DueAt.In(loc)),
		MeID:       me.ID,
		CanWork:    me.Can(auth.PermRequestsWork),
	}
	if !r.ConfirmedAt.IsZero() {
		v.Confirmed = p.DateTime(r.ConfirmedAt.In(loc))
	}
	if !r.OriginalDueAt.IsZero() {
		v.OriginalDue = p.DateTime(r.OriginalDueAt.In(loc))
	}
	v.DaysLeft, v.DueClass = dueInWords(p, now, r, loc)
	v.RuleTerms = storedTermsInWords(p, r.RuleBasis)
	v.LegalRef = legalRefInWords(p, r.Rule, r.LegalRef)
	if r.Relationship != "" {
		v.Relationship = p.T("field.relationship." + string(r.Relationship))
	}
	if r.AccessScope != "" {
		v.AccessScope = p.T("field.access_scope." + r.AccessScope)
	}
	if r.Type.NeedsProcessing() {
		v.Processing = p.T("field.processing." + string(r.Type))
	}
	if r.AssigneeID != 0 {
		v.Assignee = r.AssigneeName
	}
	for _, d := range dups {
		v.Duplicates = append(v.Duplicates, duplicateView{
			Reference: d.Reference, Status: p.T("staff.status." + string(d.Status)), Earlier: d.ID == r.DuplicateOf,
		})
	}

	fileNames := map[int64]string{}
	byMessage := map[int64][]fileStaffView{}
	for _, f := range files {
		fv := fileStaffView{
			ID: f.ID, Name: f.Name, Purpose: p.T("staff.request.file." + f.Purpose), Type: f.ContentType,
			SizeKB: (f.Size + 1023) / 1024, At: p.DateTime(f.At.In(loc)), Deleted: f.Deleted,
			URL: v.Path + "/files/" + strconv.FormatInt(f.ID, 10), Proof: f.Purpose == request.FileProof,
			DeletedLabel: p.T("staff.request.file.deleted"),
		}
		fileNames[f.ID] = f.Name
		v.Files = append(v.Files, fv)
		if fv.Proof {
			v.ProofFiles = append(v.ProofFiles, fv)
		}
		if f.MessageID != 0 {
			byMessage[f.MessageID] = append(byMessage[f.MessageID], fv)
		}
	}
	for _, m := range msgs {
		v.Messages = append(v.Messages, staffMessageView{
			FromStaff: m.Author == request.ActorStaff, Body: m.Body, At: p.DateTime(m.At.In(loc)), Files: byMessage[m.ID],
		})
	}

	names := map[int64]string{}
	for _, st := range staff {
		names[st.ID] = st.Name
		if st.Active() && st.Can(auth.PermRequestsWork) {
			v.Staff = append(v.Staff, staffOption{ID: st.ID, Name: st.Name})
		}
	}
	for _, e := range timeline {
		v.Timeline = append(v.Timeline, s.timelineItem(p, e, names, fileNames, v.CanWork))
		if e.Event != nil && e.Event.Kind == store.EventPersonalDataPurged {
			v.PurgedAt = p.DateTime(e.At.In(loc))
		}
		if e.Event != nil && e.Event.Kind == request.EventIdentityChecked {
			v.Identity.Note = e.Event.Text
		}
	}
	v.Identity.State = string(s.desk.IdentityState(r))
	v.Identity.Text = p.T("staff.request.identity." + v.Identity.State)
	if id := r.Identity; id.Done() {
		v.Identity.Method = p.T("staff.identity.method." + string(id.Method))
		v.Identity.By, v.Identity.At = id.ByName, p.DateTime(id.At.In(loc))
	}

	v.CanRecompute = me.Can(auth.PermDeadlinesRecompute) && s.desk.CanRecompute(r) == nil
	if v.CanWork {
		v.CanAssign = r.Status.Open()
		v.CanStart = request.CheckTransition(r.Status, request.InProgress, request.ActorStaff) == nil
		v.CanAsk = request.CheckTransition(r.Status, request.AwaitingRequester, request.ActorStaff) == nil
		v.CanComplete = request.CheckTransition(r.Status, request.Completed, request.ActorStaff) == nil
		v.CanCheckIdentity = s.desk.CanCheckIdentity(r) == nil
		for _, m := range request.IdentityMethods() {
			v.IdentityMethods = append(v.IdentityMethods, reasonOption{Code: string(m), Label: p.T("staff.identity.method." + string(m))})
		}
		v.CanReject = request.CheckTransition(r.Status, request.Rejected, request.ActorStaff) == nil
		if ext, err := s.desk.CanExtend(r); err == nil {
			v.CanExtend = true
			v.ExtendTo = p.DateTime(ext.DueAt.In(loc))
			v.ExtendTerms = termsInWords(p, ext.Terms)
		}
		for _, g := range s.desk.RejectionGrounds(r) {
			v.Reasons = append(v.Reasons, reasonOption{Code: g.Code, Label: p.T("staff.reject." + g.Code), Ref: groundRefInWords(p, s.desk.RuleSet(r), g)})
		}
	}
	if v.Fulfil, err = s.fulfilmentSection(c, p, r, form); err != nil {
		return err
	}
	if v.Letters, err = s.lettersOf(ctx, p, r, v.CanWork, loc); err != nil {
		return err
	}
	v.boxes(p)
	title := p.T("staff.request.title", "Reference", r.Reference)
	return s.renderStaff(c, status, "request", title, v)
}

// dueInWords says how the deadline stands, in words, with a class that
// colours it; the words carry the meaning on their own.
func dueInWords(p *i18n.Printer, now time.Time, r request.Request, loc *time.Location) (string, string) {
	if !r.Status.Open() {
		return p.T("staff.request.due.closed"), "closed"
	}
	text := daysLeftText(p, now, r.DueAt, loc)
	switch {
	case now.After(r.DueAt):
		return text, "overdue"
	case r.DueAt.Sub(now) <= 3*24*time.Hour:
		return text, "soon"
	}
	return text, "ok"
}

// timelineItem describes one event, email or note for staff.
func (s *Server) timelineItem(p *i18n.Printer, e store.TimelineEntry, names, files map[int64]string, canWork bool) timelineItem {
	loc := s.cfg.Location
	it := timelineItem{At: p.DateTime(e.At.In(loc))}
	switch {
	case e.Note != nil:
		it.Kind, it.Actor, it.Note = "note", e.Note.StaffName, e.Note.Body
		it.Text = p.T("staff.event.note")
	case e.Email != nil:
		m := e.Email
		it.Kind, it.Actor = "email", p.T("staff.actor.system")
		it.Text = p.T("staff.request.email.to", "Kind", emailKindName(p, m.Kind), "To", m.To)
		ev := &emailView{
			ID: m.ID, KindName: emailKindName(p, m.Kind), To: m.To, Subject: m.Subject, Text: maskSecrets(m.Text),
			State: m.State, StateName: p.T("staff.email.state." + m.State), Attempts: m.Attempts, LastError: m.LastError,
			CanRetry: canWork && m.State == store.EmailFailed,
		}
		if !m.LastAttemptAt.IsZero() {
			ev.LastAttempt = p.DateTime(m.LastAttemptAt.In(loc))
		}
		if !m.SentAt.IsZero() {
			ev.SentAt = p.DateTime(m.SentAt.In(loc))
		}
		if !m.BouncedAt.IsZero() {
			ev.Bounced = p.T("staff.email.bounced", "Status", m.BounceStatus)
		}
		it.Email = ev
	case e.Event != nil:
		it.Kind = "event"
		it.Actor, it.Text, it.Detail = eventWords(p, e.Event, names, files, loc)
	}
	return it
}

// eventWords tells who did what; the log holds ids and codes, never text
// typed by people, so names and labels are looked up here.
func eventWords(p *i18n.Printer, e *store.TimelineEvent, names, files map[int64]string, loc *time.Location) (actor, text, detail string) {
	switch e.Actor {
	case request.ActorStaff:
		actor = e.ActorName
		if actor == "" {
			actor = p.T("staff.actor.staff")
		}
	case request.ActorRequester:
		actor = p.T("staff.actor.requester")
	default:
		actor = p.T("staff.actor.system")
	}
	id := func(key string) int64 {
		f, _ := e.Data[key].(float64)
		return int64(f)
	}
	str := func(key string) string {
		v, _ := e.Data[key].(string)
		return v
	}
	if t, d, ok := fulfilmentEventWords(p, e); ok {
		text, detail = t, d
	}
	switch e.Kind {
	case "assigned":
		if to := id("to"); to != 0 {
			text = p.T("staff.event.assigned", "Name", names[to])
		} else {
			text = p.T("staff.event.unassigned")
		}
	case "extended":
		due := str("due_at")
		if t, err := time.Parse(time.RFC3339, due); err == nil {
			due = p.DateTime(t.In(loc))
		}
		text, detail = p.T("staff.event.extended", "Date", due), e.Text
	case "deadline_recomputed":
		due := str("due_at")
		if t, err := time.Parse(time.RFC3339, due); err == nil {
			due = p.DateTime(t.In(loc))
		}
		text, detail = p.T("staff.event.deadline_recomputed", "Date", due), e.Text
	case "rejected":
		text = p.T("staff.event.rejected", "Reason", p.T("staff.reject."+str("reason")))
	case request.EventIdentityChecked:
		text, detail = p.T("staff.event.identity_checked", "Method", p.T("staff.identity.method."+str("method"))), e.Text
	case "received":
		text = p.T("staff.event.received")
		if str("source") == request.SourceEmail {
			text = p.T("staff.event.received_letter")
		}
		if m := str("identity_method"); m != "" {
			// Filed by the operator's own system, which vouched for the requester.
			text = p.T("staff.event.received_vouched", "Method", p.T("staff.identity.method."+m))
		}
	case "file_downloaded":
		text = p.T("staff.event.file_downloaded", "Name", files[id("file_id")])
	case "email_sent", "email_retried", request.EventEmailBounced:
		text = p.T("staff.event."+e.Kind, "Kind", emailKindName(p, str("kind")))
		if e.Kind == request.EventEmailBounced {
			detail = str("status")
		}
	case request.EventRequesterReplied:
		text = p.T("staff.event.requester_replied")
		if str("via") == "email" {
			text = p.T("staff.event.requester_replied_email")
		}
	case request.EventTriaged:
		text = p.T("staff.event.triaged", "Type", p.T("type."+str("type")+".name"))
	case request.EventMerged:
		text = p.T("staff.event.merged", "Reference", str("into_reference"))
	case request.EventLetterMerged:
		text = p.T("staff.event.letter_merged", "Reference", str("from_reference"))
	default:
		if text != "" {
			break // the data map's (fulfilmentEventWords)
		}
		text = p.T("staff.event." + e.Kind)
		if strings.HasPrefix(text, i18n.Missing) {
			text = p.T("staff.event.other", "Kind", e.Kind)
		}
	}
	if e.ToStatus != "" && e.FromStatus != "" && e.ToStatus != e.FromStatus {
		status := p.T("staff.event.status", "From", p.T("staff.status."+string(e.FromStatus)), "To", p.T("staff.status."+string(e.ToStatus)))
		if detail == "" {
			detail = status
		} else {
			detail = status + " · " + detail
		}
	}
	return actor, text, detail
}

func emailKindName(p *i18n.Printer, kind string) string {
	name := p.T("staff.email.kind." + kind)
	if strings.HasPrefix(name, i18n.Missing) {
		return kind
	}
	return name
}

// secretMask stands, on staff pages, for the requester's secret links: they
// exist only in the email the requester receives.
const secretMask = "••••••" // #nosec G101 -- the mask shown instead of a secret, not a credential

func maskSecrets(body string) string {
	for _, name := range request.Secrets() {
		body = strings.ReplaceAll(body, request.SecretPlaceholder(name), secretMask)
	}
	return body
}
