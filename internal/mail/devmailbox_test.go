package mail_test

import (
	"context"
	"errors"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rdmail "rightsdesk/internal/mail"
)

func TestDevMailboxWritesParseableEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mailbox")
	box := rdmail.DevMailbox{Dir: dir}
	m := testMessage()

	if err := box.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	path := filepath.Join(dir, m.MessageID+".eml")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v (folder has %v)", path, err, listDir(t, dir))
	}
	defer f.Close()
	parsed, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("parse .eml: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
	}
	if id := parsed.Header.Get("Message-Id"); id != "<"+m.MessageID+">" {
		t.Errorf("Message-ID = %q", id)
	}

	assertMode(t, dir, 0o700)
	assertMode(t, path, 0o600)
}

func TestDevMailboxIsIdempotentPerMessageID(t *testing.T) {
	dir := t.TempDir()
	box := rdmail.DevMailbox{Dir: dir}
	m := testMessage()

	for range 3 {
		if err := box.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	other := testMessage()
	other.MessageID = "another@rightsdesk.local"
	if err := box.Send(context.Background(), other); err != nil {
		t.Fatalf("Send: %v", err)
	}

	names := listDir(t, dir)
	want := []string{m.MessageID + ".eml", "another@rightsdesk.local.eml"}
	if len(names) != 2 || !slices.Contains(names, want[0]) || !slices.Contains(names, want[1]) {
		t.Errorf("folder holds %v, want exactly %v (no temporary files left)", names, want)
	}
}

func TestDevMailboxFileNamesCannotEscapeTheFolder(t *testing.T) {
	dir := t.TempDir()
	box := rdmail.DevMailbox{Dir: dir}
	ids := []string{"../../etc/passwd@x", "..@x", "a/b@x", "a_b@x", "a:b@x", "a%2Fb@x"}
	for _, id := range ids {
		m := testMessage()
		m.MessageID = id
		if err := box.Send(context.Background(), m); err != nil {
			t.Fatalf("Send(%q): %v", id, err)
		}
	}
	names := listDir(t, dir)
	if len(names) != len(ids) {
		t.Errorf("folder holds %d files %v, want one per distinct id (%d)", len(names), names, len(ids))
	}
	for _, name := range names {
		if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".eml") {
			t.Errorf("unsafe file name %q", name)
		}
	}
}

func TestDevMailboxRefusesInvalidMessage(t *testing.T) {
	dir := t.TempDir()
	m := testMessage()
	m.Subject = "x\r\nBcc: x@evil.example"

	err := rdmail.DevMailbox{Dir: dir}.Send(context.Background(), m)
	if !errors.Is(err, rdmail.ErrHeaderInjection) {
		t.Fatalf("Send = %v, want ErrHeaderInjection", err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("folder holds %v after a refused message", names)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}
