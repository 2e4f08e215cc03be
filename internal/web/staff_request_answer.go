package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
)

// maxResponseBody bounds the form that carries a response file.
const maxResponseBody = request.MaxResponseFile + 1<<20

// responseUpload reads the response file of the form, nil when none was
// chosen; whether it may be sent is the desk's to say (request.ResponseFile).
// One byte more than allowed is read, so that a file too large is known
// without reading it all.
func responseUpload(c echo.Context) (*request.Upload, error) {
	fh, err := c.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) || (err == nil && fh.Size == 0 && fh.Filename == "") {
		return nil, nil
	}
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest).SetInternal(err)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, request.MaxResponseFile+1))
	if err != nil {
		return nil, err
	}
	return &request.Upload{Name: fh.Filename, Content: content}, nil
}

// answerPreview shows what the desk prepared, exactly: the email in the
// requester's language, and, when staff work in another language, the
// same email in theirs for reference (prepared by the desk as well).
func (s *Server) answerPreview(c echo.Context, r request.Request, p request.Prepared, draftID int64, prepare func(r request.Request) (request.Prepared, error)) *previewView {
	pv := &previewView{Kind: p.Email.Kind, Subject: p.Email.Subject, Text: maskSecrets(p.Email.Text), Lang: string(r.Locale),
		DraftID: draftID, Digest: p.Digest()}
	if f := p.File(); f != nil {
		pv.FileName, pv.FileSizeKB = f.Name, (f.Size+1023)/1024
	}
	if mine := localeOf(c); mine != r.Locale {
		other := r
		other.Locale = mine
		if t, err := prepare(other); err == nil {
			pr := s.catalog.Printer(mine)
			pv.Translation = &previewTranslation{Lang: string(mine), LangName: pr.T("lang." + string(mine)),
				Subject: t.Email.Subject, Text: maskSecrets(t.Email.Text)}
		}
	}
	return pv
}

// sendingPreviewed reports whether the form is the Send of a preview: the
// desk then sends the answer only if it is still exactly what was shown.
func sendingPreviewed(c echo.Context) bool {
	return c.FormValue("step") == "send" && c.FormValue("digest") != ""
}

// renderPreview shows the page with the email about to be sent; a Send
// whose email changed since its preview gets the new one with a word why.
func (s *Server) renderPreview(c echo.Context, r request.Request, form actionForm, formID string, pv *previewView) error {
	if c.FormValue("step") == "send" {
		p := s.catalog.Printer(localeOf(c))
		return s.renderRequest(c, http.StatusConflict, r, form, p.T("staff.request.error.preview_changed"), formID, pv)
	}
	return s.renderRequest(c, http.StatusOK, r, form, "", formID, pv)
}

// previewOrSend answers an answer's form: Send of a preview sends it (the
// desk refusing it if it is no longer what was shown); otherwise, or when
// it changed, staff see the email the desk prepared. sent runs after a
// send that went through.
func (s *Server) previewOrSend(c echo.Context, r request.Request, form actionForm, formID string, draftID int64, canSend bool,
	prepare func(request.Request) (request.Prepared, error), send func(previewed string) error, done string, sent func()) error {
	if canSend && sendingPreviewed(c) {
		err := send(c.FormValue("digest"))
		if !errors.Is(err, request.ErrPreviewChanged) {
			if err == nil && sent != nil {
				sent()
			}
			return s.afterAction(c, r, form, formID, err, done)
		}
		// Shown as it is now: the change may be someone else's.
		if fresh, ferr := s.deskStore.RequestByReference(c.Request().Context(), r.Reference); ferr == nil {
			r = fresh
		}
	}
	p, err := prepare(r)
	if err != nil {
		return s.afterAction(c, r, form, formID, err, "")
	}
	return s.renderPreview(c, r, form, formID, s.answerPreview(c, r, p, draftID, prepare))
}

// staffRequestComplete previews, then sends, the answer to a request: the
// response text and, optionally, a file the requester downloads. A file
// chosen is held as a draft between the preview and the Send.
func (s *Server) staffRequestComplete(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		ctx := c.Request().Context()
		me := staffOf(c)
		form := actionForm{Response: formText(c, "response"), AccessPackage: c.FormValue("access_package") != ""}
		upload, err := responseUpload(c)
		if err != nil {
			return err
		}
		// The file is the one just chosen, or the one held since the preview.
		draftID, _ := strconv.ParseInt(c.FormValue("draft"), 10, 64)
		if c.FormValue("no_file") != "" {
			draftID = 0
		}
		answer := request.Completion{Response: form.Response, File: upload, AccessPackage: form.AccessPackage}
		if upload == nil && draftID != 0 {
			draft, err := s.deskStore.ResponseDraft(ctx, r.ID, me.ID, draftID)
			if err != nil {
				return s.afterAction(c, r, form, "complete", errDraftGone, "")
			}
			answer.File = &request.Upload{Name: draft.Name, Content: draft.Content}
		}
		prepare := func(r request.Request) (request.Prepared, error) { return s.desk.PrepareCompletion(ctx, r, answer) }
		if upload != nil {
			// A new file is previewed first, and held from here on.
			p, err := prepare(r)
			if err != nil {
				return s.afterAction(c, r, form, "complete", err, "")
			}
			if draftID, err = s.deskStore.SaveResponseDraft(ctx, r.ID, me.ID, *p.File(), s.clock.Now()); err != nil {
				return err
			}
		}
		send := func(previewed string) error {
			answer.Previewed = previewed
			_, err := s.desk.Complete(ctx, r.Reference, request.ByStaff(me.ID), answer)
			return err
		}
		deleteDrafts := func() {
			if err := s.deskStore.DeleteResponseDrafts(ctx, r.ID); err != nil {
				s.log.WarnContext(ctx, "delete response drafts", "error", err, "request_id", requestIDOf(c))
			}
		}
		return s.previewOrSend(c, r, form, "complete", draftID, upload == nil, prepare, send, "staff.request.done.completed", deleteDrafts)
	})
}

// staffRequestReject previews, then sends, a refusal: a ground from the
// list and a text.
func (s *Server) staffRequestReject(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{RejectReason: c.FormValue("reason"), RejectText: formText(c, "text")}
		answer := request.Rejection{Reason: form.RejectReason, Text: form.RejectText}
		prepare := func(r request.Request) (request.Prepared, error) { return s.desk.PrepareRejection(r, answer) }
		send := func(previewed string) error {
			answer.Previewed = previewed
			_, err := s.desk.Reject(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), answer)
			return err
		}
		return s.previewOrSend(c, r, form, "reject", 0, true, prepare, send, "staff.request.done.rejected", nil)
	})
}
