package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Parsed is a decoded message: what a mail client would show.
type Parsed struct {
	Header    mail.Header
	Subject   string // RFC 2047 decoded
	MessageID string // without angle brackets
	Text      string // first text/plain part, transfer-decoded (UTF-8 assumed)
	HTML      string // first text/html part, likewise
}

// Parse decodes a raw RFC 5322 message, walking multipart bodies and undoing
// quoted-printable and base64. On error the fields found so far are returned.
func Parse(raw []byte) (Parsed, error) {
	var m Parsed
	var perr error
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, err
	}
	m.Header = parsed.Header
	var dec mime.WordDecoder
	// A subject that only looks like an encoded word ("=?x-unknown?q?…?=")
	// is shown as it is, as mail clients do, not refused.
	if m.Subject, err = dec.DecodeHeader(parsed.Header.Get("Subject")); err != nil {
		m.Subject = parsed.Header.Get("Subject")
	}
	m.MessageID = strings.Trim(strings.TrimSpace(parsed.Header.Get("Message-Id")), "<>")
	err = walkPart(parsed.Header.Get("Content-Type"), parsed.Header.Get("Content-Transfer-Encoding"), parsed.Body, &m)
	if err != nil && perr == nil {
		perr = err
	}
	return m, perr
}

func walkPart(contentType, transferEncoding string, body io.Reader, m *Parsed) error {
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content-type: %w", err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart() // raw: we decode transfer encodings ourselves
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			err = walkPart(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, m)
			if err != nil {
				return err
			}
		}
	}

	var decoded io.Reader = body
	switch strings.ToLower(strings.TrimSpace(transferEncoding)) {
	case "quoted-printable":
		decoded = quotedprintable.NewReader(body)
	case "base64":
		decoded = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	content, err := io.ReadAll(decoded)
	if err != nil {
		return fmt.Errorf("%s body: %w", mediaType, err)
	}
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = string(content)
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = string(content)
		}
	}
	return nil
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
