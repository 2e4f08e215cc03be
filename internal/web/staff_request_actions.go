package web

import (
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// errDraftGone refuses a Send whose file, held since its preview, is gone
// (the web layer keeps it between the two steps).
var errDraftGone = errors.New("previewed file no longer held")

// refusal is how a refused action is answered: a status code and a
// message key. ok is false for errors that are not refusals (failures).
func refusal(err error) (status int, key string, ok bool) {
	if status, key, ok := fulfilmentRefusal(err); ok {
		return status, key, ok
	}
	switch {
	case errors.Is(err, request.ErrTransitionNotAllowed):
		return http.StatusConflict, "staff.request.error.transition", true
	case errors.Is(err, request.ErrIdentityCheckMissing):
		return http.StatusConflict, "staff.request.error.identity_missing", true
	case errors.Is(err, request.ErrIdentityChecked):
		return http.StatusConflict, "staff.request.error.identity_checked", true
	case errors.Is(err, request.ErrIdentityMethod):
		return http.StatusUnprocessableEntity, "staff.request.error.identity_method", true
	case errors.Is(err, request.ErrIdentityNote):
		return http.StatusUnprocessableEntity, "staff.request.error.identity_note", true
	case errors.Is(err, request.ErrNoExtensionLeft):
		return http.StatusConflict, "staff.request.error.no_extension", true
	case errors.Is(err, request.ErrDeadlinePassed):
		return http.StatusConflict, "staff.request.error.deadline_passed", true
	case errors.Is(err, store.ErrEmailNotFailed):
		return http.StatusConflict, "staff.request.error.not_failed", true
	case errors.Is(err, store.ErrDeliveryRunning):
		return http.StatusConflict, "staff.request.error.delivery_running", true
	case errors.Is(err, request.ErrTextRequired):
		return http.StatusUnprocessableEntity, "staff.request.error.text_required", true
	case errors.Is(err, request.ErrReasonRequired):
		return http.StatusUnprocessableEntity, "staff.request.error.reason_required", true
	case errors.Is(err, request.ErrUnknownStaff):
		return http.StatusUnprocessableEntity, "staff.request.error.unknown_staff", true
	case errors.Is(err, request.ErrNotAssignable):
		return http.StatusUnprocessableEntity, "staff.request.error.not_assignable", true
	case errors.Is(err, request.ErrResponseFileType):
		return http.StatusUnprocessableEntity, "staff.request.error.file_type", true
	case errors.Is(err, request.ErrResponseFileTooLarge):
		return http.StatusRequestEntityTooLarge, "staff.request.error.file_too_large", true
	case errors.Is(err, errDraftGone):
		return http.StatusUnprocessableEntity, "staff.request.error.draft_gone", true
	case errors.Is(err, request.ErrNoteInvalid):
		return http.StatusUnprocessableEntity, "staff.request.error.note", true
	}
	return 0, "", false
}

// refusalMax is the length limit a refusal names.
func refusalMax(err error) int {
	if errors.Is(err, request.ErrIdentityNote) {
		return request.MaxIdentityNote
	}
	if errors.Is(err, request.ErrNoteInvalid) {
		return request.MaxNoteLength
	}
	return request.MaxReplyLength
}

// afterAction answers an action's form: back to the page with a line
// saying what was done, or the page again with why nothing was, the
// staff member's input kept next to the form it belongs to.
func (s *Server) afterAction(c echo.Context, r request.Request, form actionForm, formID string, err error, doneKey string) error {
	if err == nil {
		s.flash(c, doneKey)
		return s.seeOther(c, requestPath(r.Reference))
	}
	status, key, ok := refusal(err)
	if !ok {
		if errors.Is(err, store.ErrNotFound) {
			return s.requestNotFound(c)
		}
		return err
	}
	// The refusal may come from a change someone else just made: show the
	// request as it is now.
	if fresh, ferr := s.deskStore.RequestByReference(c.Request().Context(), r.Reference); ferr == nil {
		r = fresh
	}
	if formID == "recompute" && errors.Is(err, request.ErrReasonRequired) {
		key = "staff.request.error.recompute_reason"
	}
	if formID == "extend" && errors.Is(err, request.ErrReasonRequired) {
		key = "staff.request.error.extend_reason"
	}
	p := s.catalog.Printer(localeOf(c))
	text := p.T(key, "Status", p.T("staff.status."+string(r.Status)), "MaxMB", request.MaxResponseFile>>20, "Max", refusalMax(err))
	return s.renderRequest(c, status, r, form, text, formID, nil)
}

// formText is a textarea's value as the domain expects it: Unix line ends,
// no surrounding space, and nothing PostgreSQL cannot store (a NUL or
// invalid UTF-8 used to fail the action with a 500).
func formText(c echo.Context, name string) string {
	return request.StaffText(c.FormValue(name))
}

// withRequest runs an action on the page's request, answering an unknown
// reference with the staff 404 page.
func (s *Server) withRequest(c echo.Context, action func(r request.Request) error) error {
	r, err := s.loadRequest(c)
	if errors.Is(err, store.ErrNotFound) {
		return s.requestNotFound(c)
	}
	if err != nil {
		return err
	}
	return action(r)
}

func (s *Server) staffRequestAssign(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		me := staffOf(c)
		var to int64
		switch v := c.FormValue("to"); v {
		case "me":
			to = me.ID
		case "0":
		default:
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return s.afterAction(c, r, actionForm{}, "assign", request.ErrUnknownStaff, "")
			}
			to = id
		}
		_, err := s.desk.Assign(c.Request().Context(), r.Reference, request.ByStaff(me.ID), to)
		done := "staff.request.done.assigned"
		if to == 0 {
			done = "staff.request.done.unassigned"
		}
		return s.afterAction(c, r, actionForm{AssignTo: to}, "assign", err, done)
	})
}

func (s *Server) staffRequestStart(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		_, err := s.desk.Start(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID))
		return s.afterAction(c, r, actionForm{}, "start", err, "staff.request.done.started")
	})
}

func (s *Server) staffRequestAsk(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{Message: formText(c, "message")}
		_, err := s.desk.AskForInformation(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), form.Message)
		return s.afterAction(c, r, form, "ask", err, "staff.request.done.asked")
	})
}

func (s *Server) staffRequestExtend(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{ExtendReason: formText(c, "reason")}
		_, err := s.desk.Extend(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), form.ExtendReason)
		return s.afterAction(c, r, form, "extend", err, "staff.request.done.extended")
	})
}

// staffRequestRecompute dates the request again under the policy in force
// now, with a reason (admins only).
func (s *Server) staffRequestRecompute(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{RecomputeReason: formText(c, "reason")}
		_, err := s.desk.Recompute(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID), form.RecomputeReason)
		return s.afterAction(c, r, form, "recompute", err, "staff.request.done.recomputed")
	})
}

// staffRequestNote adds an internal note. Notes are the one text staff
// type that never leaves rightsdesk, so they need no preview.
func (s *Server) staffRequestNote(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{Note: formText(c, "note")}
		_, err := s.desk.AddNote(c.Request().Context(), r, request.ByStaff(staffOf(c).ID), form.Note)
		return s.afterAction(c, r, form, "note", err, "staff.request.done.note")
	})
}

// staffRequestIdentity records how a member of staff established who the
// requester is (a method from the list and a note).
func (s *Server) staffRequestIdentity(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{IdentityMethod: c.FormValue("method"), IdentityNote: formText(c, "note")}
		_, err := s.desk.RecordIdentityCheck(c.Request().Context(), r.Reference, request.ByStaff(staffOf(c).ID),
			request.IdentityMethod(form.IdentityMethod), form.IdentityNote)
		return s.afterAction(c, r, form, "identity", err, "staff.request.done.identity")
	})
}

// staffRequestRetry has a failed email's delivery job run now.
func (s *Server) staffRequestRetry(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return s.requestNotFound(c)
		}
		err = s.deskStore.RetryEmail(c.Request().Context(), r.ID, id, staffOf(c).ID, s.clock.Now(), s.delivery)
		return s.afterAction(c, r, actionForm{}, "retry", err, "staff.request.done.retried")
	})
}

// staffRequestFile sends a file of the request to a member of staff and
// logs the download with their id. Always an attachment, under a safe name,
// so that a file never renders as a page of this site.
func (s *Server) staffRequestFile(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return s.requestNotFound(c)
		}
		f, err := s.deskStore.StaffDownload(c.Request().Context(), r.ID, id, staffOf(c).ID, s.clock.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			return s.requestNotFound(c)
		case errors.Is(err, store.ErrFileDeleted):
			return s.staffMessagePage(c, http.StatusGone, "staff.request.file_deleted.title", "staff.request.file_deleted.text")
		case err != nil:
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": request.SafeFileName(f.Name)}))
		h.Set(echo.HeaderCacheControl, "no-store")
		return c.Blob(http.StatusOK, f.ContentType, f.Content)
	})
}
