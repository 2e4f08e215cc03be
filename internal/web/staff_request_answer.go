package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/request"
)

// Limits on a response file and the form that carries it.
const (
	maxResponseFile = 25 << 20
	maxResponseBody = maxResponseFile + 1<<20
)

// responseMagic are the binary kinds of response file, recognised by their
// first bytes as well as by net/http's sniffer: both must agree.
var responseMagic = []struct {
	contentType string
	magic       []byte
}{
	{"application/pdf", []byte("%PDF-")},
	{"image/jpeg", []byte{0xFF, 0xD8, 0xFF}},
	{"image/png", []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}},
	{"application/zip", []byte("PK\x03\x04")}, // a local file header: an archive with something in it
}

// sniffResponseFile names the content type of a response file from its
// content, or "" when it is not one staff may send. A name or a browser's
// Content-Type proves nothing; text is JSON when it parses as JSON, and CSV
// when it is called .csv and parses as CSV.
func sniffResponseFile(name string, content []byte) string {
	detected := http.DetectContentType(content)
	for _, m := range responseMagic {
		if bytes.HasPrefix(content, m.magic) && detected == m.contentType {
			return m.contentType
		}
	}
	if !strings.HasPrefix(detected, "text/plain") || !utf8.Valid(content) {
		return ""
	}
	if json.Valid(content) {
		return "application/json"
	}
	if strings.EqualFold(path.Ext(name), ".csv") {
		if _, err := csv.NewReader(bytes.NewReader(content)).ReadAll(); err == nil {
			return "text/csv"
		}
	}
	return ""
}

// responseUpload reads the response file of the form, nil when none was
// chosen.
func responseUpload(c echo.Context) (*request.File, error) {
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
	content, err := io.ReadAll(io.LimitReader(f, maxResponseFile+1))
	if err != nil {
		return nil, err
	}
	if len(content) > maxResponseFile {
		return nil, errFileTooLarge
	}
	ct := sniffResponseFile(fh.Filename, content)
	if len(content) == 0 || ct == "" {
		return nil, request.ErrResponseFileType
	}
	sum := sha256.Sum256(content)
	return &request.File{Purpose: request.FileResponse, Name: request.SafeFileName(fh.Filename), ContentType: ct,
		Size: int64(len(content)), SHA256: sum[:], Content: content}, nil
}

// answerPreview renders the email an answer will send, in the requester's
// language, exactly as Desk will compose it, and, when staff work in
// another language, the same email in theirs for reference.
func (s *Server) answerPreview(c echo.Context, r request.Request, kind string, extra map[string]any, draftID int64, file *request.File) (*previewView, error) {
	subject, text, err := s.desk.Preview(r, kind, extra)
	if err != nil {
		return nil, err
	}
	pv := &previewView{Kind: kind, Subject: subject, Text: maskSecrets(text), Lang: string(r.Locale), DraftID: draftID}
	h := sha256.New()
	for _, part := range []string{kind, subject, text} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	if file != nil {
		pv.FileName, pv.FileSizeKB = file.Name, (int64(len(file.Content))+1023)/1024
		sum := sha256.Sum256(file.Content)
		h.Write(sum[:])
	}
	pv.Digest = hex.EncodeToString(h.Sum(nil))
	if mine := localeOf(c); mine != r.Locale {
		other := r
		other.Locale = mine
		if subj, txt, err := s.desk.Preview(other, kind, extra); err == nil {
			p := s.catalog.Printer(mine)
			pv.Translation = &previewTranslation{Lang: string(mine), LangName: p.T("lang." + string(mine)), Subject: subj, Text: maskSecrets(txt)}
		}
	}
	return pv, nil
}

// sendsPreviewed reports whether the form is the Send of the preview shown:
// what would be sent now is what was previewed. Anything changed since, and
// staff see the new email first.
func sendsPreviewed(c echo.Context, pv *previewView) bool {
	return c.FormValue("step") == "send" && c.FormValue("digest") == pv.Digest
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

// staffRequestComplete previews, then sends, the answer to a request: the
// response text and, optionally, a file the requester downloads.
func (s *Server) staffRequestComplete(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		ctx := c.Request().Context()
		me := staffOf(c)
		form := actionForm{Response: formText(c, "response")}
		if err := s.desk.CheckAnswer(r); err != nil {
			return s.afterAction(c, r, form, "complete", err, "")
		}
		if form.Response == "" {
			return s.afterAction(c, r, form, "complete", request.ErrTextRequired, "")
		}
		upload, err := responseUpload(c)
		if err != nil {
			return s.afterAction(c, r, form, "complete", err, "")
		}
		// The file is the one just chosen, or the one held since the preview.
		draftID, _ := strconv.ParseInt(c.FormValue("draft"), 10, 64)
		if c.FormValue("no_file") != "" {
			draftID = 0
		}
		file := upload
		if upload != nil {
			if draftID, err = s.deskStore.SaveResponseDraft(ctx, r.ID, me.ID, *upload, s.clock.Now()); err != nil {
				return err
			}
		} else if draftID != 0 {
			draft, err := s.deskStore.ResponseDraft(ctx, r.ID, me.ID, draftID)
			if err != nil {
				return s.afterAction(c, r, form, "complete", errDraftGone, "")
			}
			file = &draft
		}
		extra := map[string]any{"Response": form.Response}
		if file != nil {
			// As Desk.Complete words it: the link itself is a secret added
			// when the email is sent.
			extra["DownloadURL"] = s.desk.Links.BaseURL + "/d/" + request.SecretPlaceholder(request.SecretDownload)
			extra["DownloadBy"] = s.clock.Now().Add(s.desk.Config.DownloadFor)
		}
		pv, err := s.answerPreview(c, r, request.EmailCompleted, extra, draftID, file)
		if err != nil {
			return err
		}
		if upload != nil || !sendsPreviewed(c, pv) {
			return s.renderPreview(c, r, form, "complete", pv)
		}
		_, err = s.desk.Complete(ctx, r.Reference, me.ID, form.Response, file)
		if err == nil {
			if derr := s.deskStore.DeleteResponseDrafts(ctx, r.ID); derr != nil {
				s.log.WarnContext(ctx, "delete response drafts", "error", derr, "request_id", requestIDOf(c))
			}
		}
		return s.afterAction(c, r, form, "complete", err, "staff.request.done.completed")
	})
}

// staffRequestReject previews, then sends, a refusal: a ground from the
// list and a text.
func (s *Server) staffRequestReject(c echo.Context) error {
	return s.withRequest(c, func(r request.Request) error {
		form := actionForm{RejectReason: c.FormValue("reason"), RejectText: formText(c, "text")}
		if err := request.CheckTransition(r.Status, request.Rejected, request.ActorStaff); err != nil {
			return s.afterAction(c, r, form, "reject", err, "")
		}
		extra, err := s.desk.RejectionEmailData(r, form.RejectReason, form.RejectText)
		if err != nil {
			return s.afterAction(c, r, form, "reject", err, "")
		}
		if form.RejectText == "" {
			return s.afterAction(c, r, form, "reject", request.ErrTextRequired, "")
		}
		pv, err := s.answerPreview(c, r, request.EmailRejected, extra, 0, nil)
		if err != nil {
			return err
		}
		if !sendsPreviewed(c, pv) {
			return s.renderPreview(c, r, form, "reject", pv)
		}
		_, err = s.desk.Reject(c.Request().Context(), r.Reference, staffOf(c).ID, form.RejectReason, form.RejectText)
		return s.afterAction(c, r, form, "reject", err, "staff.request.done.rejected")
	})
}
