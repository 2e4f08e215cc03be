package inbound

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"

	"rightsdesk/internal/request"
)

// inlineImageKeep is the size from which an image embedded in an HTML
// letter (multipart/related, with a Content-ID) is kept as an attachment:
// smaller ones are signature logos, larger ones are usually a photo of a
// document pasted into the letter.
const inlineImageKeep = 64 << 10

// walker collects a letter's text, files and reports from its MIME tree.
type walker struct {
	letter  *Letter
	parts   int
	plain   []string
	html    []string
	uploads []request.Upload
	cut     bool // some text was cut at MaxTextSize
}

func malformed(detail string) error {
	return &Refusal{Err: ErrMalformed, Key: "error.letter_malformed", Detail: detail}
}

func (w *walker) walk(e *message.Entity, depth int, parent string) error {
	w.parts++
	if w.parts > maxParts {
		return malformed(fmt.Sprintf("more than %d MIME parts", maxParts))
	}
	if depth > maxDepth {
		return malformed(fmt.Sprintf("MIME parts nested deeper than %d", maxDepth))
	}
	mediaType, params, _ := e.Header.ContentType()
	mediaType = strings.ToLower(mediaType)
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && part == nil {
				// A broken boundary ends the walk of this multipart; what
				// was read so far stands, and the raw letter keeps the rest.
				return nil
			}
			if err := w.walk(part, depth+1, mediaType); err != nil {
				return err
			}
		}
	}
	return w.leaf(e, mediaType, params, parent)
}

func (w *walker) leaf(e *message.Entity, mediaType string, params map[string]string, parent string) error {
	disp, dparams, _ := e.Header.ContentDisposition()
	disp = strings.ToLower(disp)
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	name = decodeWords(name)

	switch mediaType {
	case "message/delivery-status", "message/global-delivery-status":
		body, _ := readUpTo(e.Body, 64<<10)
		w.letter.reports = append(w.letter.reports, parseReport(body)...)
		return nil
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
		if parent == "multipart/report" || disp != "attachment" {
			body, _ := readUpTo(e.Body, maxHeaderBytes)
			if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body))); err == nil || h.Len() > 0 {
				if id := firstMsgID(h.Get("Message-Id")); id != "" {
					w.letter.origIDs = append(w.letter.origIDs, id)
				}
			}
			if parent == "multipart/report" {
				return nil
			}
			w.skip(name, mediaType, int64(len(body)), "file_type")
			return nil
		}
	}

	isText := mediaType == "text/plain" || mediaType == "text/html"
	if isText && disp != "attachment" && (name == "" || disp == "inline") {
		body, cut := readUpTo(e.Body, MaxTextSize)
		w.cut = w.cut || cut
		text := decodeText(body, params["charset"])
		if mediaType == "text/html" {
			w.html = append(w.html, text)
		} else {
			w.plain = append(w.plain, text)
		}
		return nil
	}

	content, cut := readUpTo(e.Body, request.MaxUploadSize)
	size := int64(len(content))
	if cut {
		n, _ := io.Copy(io.Discard, e.Body)
		size += n
	}
	display := request.SafeFileName(name)
	switch {
	case size == 0:
		w.skip(display, mediaType, 0, "empty")
		return nil
	case request.SniffFile(request.FileRequester, name, content) == "":
		w.skip(display, mediaType, size, "file_type")
		return nil
	case parent == "multipart/related" && e.Header.Get("Content-Id") != "" && size < inlineImageKeep:
		w.skip(display, mediaType, size, "inline")
		return nil
	case cut:
		return &Refusal{Err: ErrAttachmentTooLarge, Key: "error.file_too_large",
			Params: map[string]any{"Name": display, "MaxMB": request.MaxUploadSize >> 20},
			Detail: fmt.Sprintf("%d bytes", size)}
	}
	if name == "" {
		name = "attachment"
	}
	w.uploads = append(w.uploads, request.Upload{Name: name, Content: content})
	return nil
}

func (w *walker) skip(name, mediaType string, size int64, reason string) {
	if name == "" {
		name = "file"
	}
	w.letter.Skipped = append(w.letter.Skipped, SkippedPart{Name: name, ContentType: cleanLine(mediaType, 100), Size: size, Reason: reason})
}

// finish sets the text and applies the form's rules to the files.
func (w *walker) finish() error {
	l := w.letter
	switch {
	case len(w.plain) > 0:
		l.Text = strings.Join(w.plain, "\n\n")
	case len(w.html) > 0:
		parts := make([]string, len(w.html))
		for i, h := range w.html {
			parts[i] = HTMLToText(h)
		}
		l.Text = strings.Join(parts, "\n\n")
		l.FromHTML = true
	}
	l.Text = CleanText(l.Text)
	if len(l.Text) > MaxTextSize {
		l.Text = strings.ToValidUTF8(l.Text[:MaxTextSize], "")
		w.cut = true
	}
	l.TextTruncated = w.cut

	if len(w.uploads) == 0 {
		return nil
	}
	// The form's rules, from their one place: count, size, file type.
	var verr request.ValidationError
	files := request.CheckUploads("attachments", request.FileRequester, w.uploads, 0, &verr)
	if fe, ok := verr.Fields["attachments"]; ok {
		err := errUnexpectedRefusalKey
		switch fe.Key {
		case "error.too_many_files":
			err = ErrTooManyAttachments
		case "error.file_too_large":
			err = ErrAttachmentTooLarge
		}
		return &Refusal{Err: err, Key: fe.Key, Params: fe.Params, Detail: fmt.Sprintf("%d files", len(w.uploads))}
	}
	l.Attachments = files
	return nil
}

// readUpTo reads at most limit bytes of r; cut says there was more.
func readUpTo(r io.Reader, limit int) (b []byte, cut bool) {
	b, _ = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		return b[:limit], true
	}
	return b, false
}

// decodeText turns a text part into UTF-8. go-message has already
// converted a declared charset; a part that declares none (or a wrong one)
// and is not UTF-8 is, in this part of the world, nearly always
// Windows-1251.
func decodeText(b []byte, declared string) string {
	if utf8.Valid(b) {
		return string(b)
	}
	if declared == "" || strings.EqualFold(declared, "us-ascii") || strings.EqualFold(declared, "utf-8") {
		if d, err := charmap.Windows1251.NewDecoder().Bytes(b); err == nil {
			return string(d)
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
