package main_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/testkit"
)

// These tests run the real binary as an operator would: no DATABASE_URL, no
// SMTP_URL, just a data folder.

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rightsdesk")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type serving struct {
	cmd    *exec.Cmd
	logs   *testkit.Buffer
	base   string
	exited chan error
}

func serve(t *testing.T, bin, dataDir, addr string) *serving {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "RIGHTSDESK_DATA_DIR="+dataDir, "LISTEN_ADDR="+addr,
		"PRIVACY_CONTACT_EMAIL=privacy@example.kz", "INTAKE_RATE_LIMIT=0")
	logs := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serving{cmd: cmd, logs: logs, base: "http://" + addr, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.exited:
			t.Fatalf("serve exited (%v):\n%s", err, logs)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not become ready:\n%s", logs)
		}
	}
}

func (s *serving) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, s.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", s.logs)
	}
}

func TestServeRunsOnItsOwnDatabaseAndKeepsDataAcrossRestarts(t *testing.T) {
	bin := build(t)
	data, err := os.MkdirTemp("", "rdsv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	// PostgreSQL runs as an unprivileged user when the tests run as root.
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)

	s := serve(t, bin, data, addr)
	body := `{"type":"erasure","full_name":"Ерлан","email":"erlan@example.kz","consent":true}`
	resp, err := http.Post(s.base+"/api/v1/requests", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var receipt struct {
		Reference string `json:"reference"`
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &receipt) != nil {
		t.Fatalf("submission: %d %s", resp.StatusCode, raw)
	}

	// Without SMTP the emails land in the development mailbox, and the
	// acknowledgement there is where the status link is (the answer has none).
	deadline := time.Now().Add(20 * time.Second)
	var files []string
	for {
		files, _ = filepath.Glob(filepath.Join(data, "mailbox", "*.eml"))
		if len(files) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails in the dev mailbox, want 2:\n%s", len(files), s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	statusURL := ""
	for _, f := range files {
		raw, err := os.ReadFile(f) // #nosec G304 -- a file the test's own portal wrote
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if link := regexp.MustCompile(`http://\S+/s/[A-Za-z0-9_-]{43}`).FindString(m.Text); link != "" && strings.Contains(m.Header.Get("To"), "erlan@example.kz") {
			statusURL = link
		}
	}
	if statusURL == "" || strings.Contains(string(raw), "/s/") {
		t.Fatalf("the status link is not in the acknowledgement in the dev mailbox, or the answer holds one: %s", raw)
	}
	// An operator adds the first admin while the portal runs: the command
	// borrows serve's database and must leave it running.
	add := exec.Command(bin, "user", "add", "--email", "officer@example.kz", "--name", "Officer", "--role", "admin")
	add.Env = append(os.Environ(), "RIGHTSDESK_DATA_DIR="+data)
	add.Stdin = strings.NewReader("correct horse battery staple\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add next to serve: %v\n%s", err, out)
	}
	resp, err = http.Get(s.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("serve is not ready after user add: %d\n%s", resp.StatusCode, s.logs)
	}
	s.stop(t)
	if _, err := os.Stat(filepath.Join(data, "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("the private PostgreSQL is still running after serve stopped (postmaster.pid: %v)", err)
	}

	s = serve(t, bin, data, addr)
	resp, err = http.Get(statusURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), receipt.Reference) {
		t.Fatalf("after a restart the status page answers %d without the reference %s", resp.StatusCode, receipt.Reference)
	}
	s.stop(t)
	if strings.Contains(s.logs.String(), "erlan@example.kz") {
		t.Error("the requester's email address is in the logs")
	}
}

func TestWrongSettingStopsStartWithOneLineNamingIt(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "INTAKE_RATE_LIMIT=lots", "RIGHTSDESK_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "INTAKE_RATE_LIMIT") {
		t.Errorf("output %q: want one line naming INTAKE_RATE_LIMIT", out)
	}
}

func TestHelpAndVersion(t *testing.T) {
	bin := build(t)
	for _, args := range [][]string{{"help"}, {"help", "serve"}, {"help", "migrate"}, {"version"}, {"serve", "-h"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || len(out) == 0 {
			t.Errorf("rightsdesk %v: %v %s", args, err, out)
		}
	}
	out, err := exec.Command(bin, "frobnicate").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v %s", err, out)
	}
	out, _ = exec.Command(bin, "version").Output()
	if !strings.HasPrefix(string(out), "rightsdesk ") {
		t.Errorf("version: %q", out)
	}
}
