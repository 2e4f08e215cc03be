package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DevMailbox is the development sink used when SMTP_URL is unset: each email
// becomes Dir/<MessageID>.eml, readable with any mail client. The folder is
// private (0700, files 0600) because the emails carry requesters' data.
type DevMailbox struct {
	Dir string
}

// Send writes m to its file atomically (a temporary file renamed into place),
// so a reader never sees half an email. Sending the same MessageID again
// replaces the file, so a retried delivery leaves exactly one copy.
func (d DevMailbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.Dir == "" {
		return fmt.Errorf("mail: dev mailbox has no folder")
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("mail: dev mailbox: %w", err)
	}

	final := filepath.Join(d.Dir, d.FileName(m.MessageID))
	tmp, err := os.CreateTemp(d.Dir, ".incoming-*.eml") // created 0600
	if err != nil {
		return fmt.Errorf("mail: dev mailbox: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("mail: dev mailbox: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("mail: dev mailbox: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: dev mailbox: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("mail: dev mailbox: rename: %w", err)
	}
	committed = true
	return nil
}

// FileName is the file name an email with this Message-ID gets: the id with
// everything but letters, digits and ".-_@+" replaced by "_", plus a short
// hash of the original when anything was replaced, so that distinct ids never
// share a file.
func (DevMailbox) FileName(messageID string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case r == '.' || r == '-' || r == '_' || r == '@' || r == '+':
			return r
		}
		return '_'
	}, messageID)
	if clean != messageID || strings.HasPrefix(clean, ".") {
		sum := sha256.Sum256([]byte(messageID))
		clean = strings.TrimLeft(clean, ".") + "-" + hex.EncodeToString(sum[:4])
	}
	return clean + ".eml"
}
