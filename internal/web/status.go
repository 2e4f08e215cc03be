package web

import (
	"errors"
	"io"
	"maps"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// messageView is a message as the status page shows it.
type messageView struct {
	Author request.Actor
	Body   string
	At     time.Time
	Files  []fileView
}

type fileView struct {
	ID     int64
	Name   string
	SizeKB int64
	// Response files are downloaded only through links sent by email: the
	// page says until when the last one works (zero once it has passed)
	// and offers to email a fresh one while the file is held.
	Response bool
	Until    time.Time
	Gone     bool // the file was deleted after the retention period
}

type historyItem struct {
	At   time.Time
	Text string
}

// statusView is everything the status page shows.
type statusView struct {
	Request       request.Request
	ReceivedLocal time.Time
	DueLocal      time.Time
	// Period says who set the deadline: the law (with its reference) or the operator.
	Period       string
	Open         bool
	DaysLeftText string
	Messages     []messageView
	History      []historyItem
	CanReply     bool
	Base         string // the page's own path, for its forms
	Notice       string
	Errors       map[string]string
	ErrorList    []formError
	Reply        string
}

func (s *Server) status(c echo.Context) error {
	return s.withLinkedRequest(c, func(r request.Request) error { return s.statusPage(c, r) })
}

func (s *Server) statusPage(c echo.Context, r request.Request) error {
	p := s.catalog.Printer(localeOf(c))
	notice := ""
	switch c.QueryParam("done") {
	case "reply":
		notice = p.T("status.reply.sent")
	case "withdrawn":
		notice = p.T("withdraw.done")
	case "download_link":
		notice = p.T("status.file.link_sent")
	}
	return s.renderStatus(c, http.StatusOK, r, notice, "", nil)
}

func (s *Server) renderStatus(c echo.Context, code int, r request.Request, notice, reply string, verr *request.ValidationError) error {
	p := s.catalog.Printer(localeOf(c))
	ctx := c.Request().Context()
	msgs, err := s.store.Messages(ctx, r.ID)
	if err != nil {
		return err
	}
	events, err := s.store.Events(ctx, r.ID)
	if err != nil {
		return err
	}
	v := statusView{
		Request: r, ReceivedLocal: r.ReceivedAt.In(s.cfg.Location), DueLocal: r.DueAt.In(s.cfg.Location),
		Open: r.Status.Open(), DaysLeftText: daysLeftText(p, s.clock.Now(), r.DueAt, s.cfg.Location),
		Period:   s.storedPeriodInWords(p, r),
		CanReply: request.CanReply(r) == nil,
		Base:     "/s/" + c.Param("token"), Notice: notice, Reply: reply, Errors: map[string]string{},
	}
	for _, m := range msgs {
		mv := messageView{Author: m.Author, Body: m.Body, At: m.At.In(s.cfg.Location)}
		for _, f := range m.Files {
			fv := fileView{ID: f.ID, Name: f.Name, SizeKB: (f.Size + 1023) / 1024, Response: f.Purpose == request.FileResponse, Gone: f.Deleted}
			if fv.Response && f.AvailableUntil != nil && s.clock.Now().Before(*f.AvailableUntil) {
				fv.Until = f.AvailableUntil.In(s.cfg.Location)
			}
			mv.Files = append(mv.Files, fv)
		}
		v.Messages = append(v.Messages, mv)
	}
	for _, e := range events {
		if text := historyText(p, e, s.cfg.Location); text != "" {
			v.History = append(v.History, historyItem{At: e.At.In(s.cfg.Location), Text: text})
		}
	}
	if verr != nil {
		for _, name := range []string{"message", "files"} {
			if fe, ok := verr.Fields[name]; ok {
				msg := p.Params(fe.Key, fe.Params)
				v.Errors[name] = msg
				v.ErrorList = append(v.ErrorList, formError{Name: name, Message: msg})
			}
		}
	}
	return s.render(c, code, "status", p.T("status.title", "Reference", r.Reference), v)
}

// historyText tells the requester what an event meant for them; events
// that are staff's business (emails sent, notes) are not shown.
func historyText(p *i18n.Printer, e store.Event, loc *time.Location) string {
	if e.Kind == "extended" {
		// The requester is owed the new date and the reason (the email said so too).
		raw, _ := e.Data["due_at"].(string)
		if due, err := time.Parse(time.RFC3339Nano, raw); err == nil {
			return p.T("history.extended_to", "By", p.DateBy(due.In(loc)), "Reason", e.Text)
		}
	}
	switch e.Kind {
	case "received", "confirmed", "withdrawn", "expired", "requester_replied", "extended", "information_requested":
		return p.T("history." + e.Kind)
	}
	if e.ToStatus != "" && e.ToStatus != e.FromStatus {
		return p.T("history.status", "Status", p.T("status."+string(e.ToStatus)))
	}
	return ""
}

// maxReplyBody bounds a reply's upload: five files of 10 MB and the text.
const maxReplyBody = request.MaxUploadFiles*request.MaxUploadSize + 1<<20

func (s *Server) reply(c echo.Context) error {
	token := c.Param("token")
	form, err := c.MultipartForm()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		return echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	text := ""
	if v := form.Value["message"]; len(v) > 0 {
		text = v[0]
	}
	uploads, err := readUploads(form.File["files"])
	if err != nil {
		return err
	}
	r, err := s.requester.Reply(c.Request().Context(), token, text, uploads)
	var verr *request.ValidationError
	var limit *request.LimitReached
	switch {
	case err == nil:
		return s.seeOther(c, "/s/"+token+"?done=reply")
	case errors.As(err, &verr):
		r, lerr := s.requestByToken(c)
		if lerr != nil {
			return s.invalidLink(c)
		}
		speakRequestersLanguage(c, r)
		return s.renderStatus(c, http.StatusUnprocessableEntity, r, "", text, verr)
	case errors.As(err, &limit):
		speakRequestersLanguage(c, r)
		return s.renderStatus(c, http.StatusTooManyRequests, r, "", text, s.limitReached(c, limit))
	case errors.Is(err, request.ErrNotFound):
		return s.invalidLink(c)
	case errors.Is(err, request.ErrNotOpen):
		speakRequestersLanguage(c, r)
		return s.renderStatus(c, http.StatusConflict, r, s.catalog.Printer(localeOf(c)).T("status.reply.closed"), text, nil)
	}
	return err
}

// readUploads reads each uploaded file, at most one byte more than allowed
// so that a too-large file is recognised without reading it all.
func readUploads(headers []*multipart.FileHeader) ([]request.Upload, error) {
	var out []request.Upload
	for _, h := range headers {
		f, err := h.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(f, request.MaxUploadSize+1))
		_ = f.Close() // read-only upload: nothing to flush
		if err != nil {
			return nil, err
		}
		out = append(out, request.Upload{Name: h.Filename, Content: b})
	}
	return out, nil
}

// withdrawPage asks before withdrawing: the step cannot be undone.
func (s *Server) withdrawPage(c echo.Context) error {
	return s.withLinkedRequest(c, func(r request.Request) error { return s.withdrawConfirm(c, r) })
}

func (s *Server) withdrawConfirm(c echo.Context, r request.Request) error {
	base := "/s/" + c.Param("token")
	if !r.Status.Open() {
		return s.seeOther(c, base)
	}
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusOK, "withdraw", p.T("withdraw.title"), map[string]string{
		"Reference": r.Reference, "Action": base + "/withdraw", "Back": base,
	})
}

func (s *Server) withdraw(c echo.Context) error {
	token := c.Param("token")
	_, err := s.requester.Withdraw(c.Request().Context(), token)
	switch {
	case err == nil:
		return s.seeOther(c, "/s/"+token+"?done=withdrawn")
	case errors.Is(err, request.ErrAlreadyClosed):
		// Withdrawing twice changes nothing: show the request as it is.
		return s.seeOther(c, "/s/"+token)
	case errors.Is(err, request.ErrNotFound):
		return s.invalidLink(c)
	}
	return err
}

// resendPage lets someone who lost their link ask for a new one.
func (s *Server) resendPage(c echo.Context) error {
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusOK, "resend", p.T("resend.title"), map[string]bool{"Sent": false})
}

// resend answers the same way whether or not the reference and email match.
func (s *Server) resend(c echo.Context) error {
	if err := s.requester.ResendLink(c.Request().Context(), c.FormValue("reference"), c.FormValue("email")); err != nil {
		return err
	}
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusOK, "resend", p.T("resend.title"), map[string]bool{"Sent": true})
}

// download serves a response file through its expiring link; the store
// logs every download. Content-Disposition names the file safely in both
// its plain and its UTF-8 form.
func (s *Server) download(c echo.Context) error {
	token := c.Param("token")
	if !request.WellFormedToken(token) {
		return s.invalidLink(c)
	}
	f, locale, err := s.store.Download(c.Request().Context(), request.HashToken(token), s.clock.Now())
	return s.sendFile(c, f, locale, err)
}

// emailDownloadLink sends a fresh download link for a response file to the
// request's address, and tells the page it went there: the browser never
// gets the file or the link.
func (s *Server) emailDownloadLink(c echo.Context) error {
	token := c.Param("token")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return s.invalidLink(c)
	}
	r, err := s.requester.SendDownloadLink(c.Request().Context(), token, id)
	if errors.Is(err, request.ErrNotFound) {
		return s.invalidLink(c)
	}
	var limit *request.LimitReached
	if errors.As(err, &limit) {
		// Shown where the page shows what happened, not under a form field.
		speakRequestersLanguage(c, r)
		p := s.catalog.Printer(localeOf(c))
		fe := s.limitReached(c, limit).Fields[limit.Field]
		return s.renderStatus(c, http.StatusTooManyRequests, r, p.Params(fe.Key, fe.Params), "", nil)
	}
	if err != nil {
		return err
	}
	return s.seeOther(c, "/s/"+token+"?done=download_link")
}

func (s *Server) sendFile(c echo.Context, f request.File, locale request.Locale, err error) error {
	if locale.Valid() {
		speakRequestersLanguage(c, request.Request{Locale: locale})
	}
	switch {
	case errors.Is(err, request.ErrLinkExpired):
		p := s.catalog.Printer(localeOf(c))
		return s.render(c, http.StatusGone, "message", p.T("download.expired.title"), map[string]string{"Text": p.T("download.expired.text")})
	case errors.Is(err, store.ErrNotFound):
		return s.invalidLink(c)
	case err != nil:
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	h.Set(echo.HeaderCacheControl, "no-store")
	return c.Blob(http.StatusOK, f.ContentType, f.Content)
}

// limitReached answers an action refused by a limit: Retry-After says when
// it is accepted again, and the refusal becomes the error shown at its
// field, with that time in the reader's language and the operator's zone.
func (s *Server) limitReached(c echo.Context, limit *request.LimitReached) *request.ValidationError {
	wait := limit.RetryAt.Sub(s.clock.Now())
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	p := s.catalog.Printer(localeOf(c))
	params := maps.Clone(limit.Params)
	if params == nil {
		params = map[string]any{}
	}
	params["At"] = p.DateTime(limit.RetryAt.In(s.cfg.Location))
	verr := &request.ValidationError{}
	verr.Add(limit.Field, limit.Key, params)
	return verr
}
