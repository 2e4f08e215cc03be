package web

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/mail"
)

type mailboxEntry struct {
	Subject, To, State, Text string
	CreatedAt                time.Time
}

// devMailbox shows the newest messages the development mailbox received,
// read from its .eml files: they hold the real links, the database does not.
func (s *Server) devMailbox(c echo.Context) error {
	files, err := filepath.Glob(filepath.Join(s.cfg.DevMailboxDir, "*.eml"))
	if err != nil {
		return err
	}
	type stamped struct {
		path string
		mod  time.Time
	}
	var all []stamped
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			all = append(all, stamped{f, st.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.After(all[j].mod) })
	var entries []mailboxEntry
	for i, f := range all {
		if i == 50 {
			break
		}
		raw, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		m, _ := mail.Parse(raw)
		entries = append(entries, mailboxEntry{
			Subject: m.Subject, To: m.Header.Get("To"), State: "sent", Text: m.Text,
			CreatedAt: f.mod.In(s.cfg.Location),
		})
	}
	p := s.catalog.Printer(localeOf(c))
	return s.render(c, http.StatusOK, "mailbox", p.T("mailbox.title"), map[string]any{"Emails": entries, "Dir": s.cfg.DevMailboxDir})
}
