package launch

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv, when set, makes the test binary the launcher of
// TestAServerDiesWithTheLauncherThatStartedIt instead of running tests.
const helperEnv = "RIGHTSDESK_LAUNCH_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperLauncher()
		return
	}
	os.Exit(m.Run())
}

// runHelperLauncher starts a server, prints its PID and waits to be killed.
func runHelperLauncher() {
	p, err := Start(exec.Command("sleep", "300"), Options{DeathSignal: syscall.SIGTERM})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString(strconv.Itoa(p.PID()) + "\n")
	<-p.Exited()
	os.Exit(1)
}

// startServer starts args as a server and stops it when the test ends.
func startServer(t *testing.T, opts Options, args ...string) *Process {
	t.Helper()
	p, err := Start(exec.Command(args[0], args[1:]...), opts) // #nosec G204 -- the test's own command
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop(context.Background(), Step{Signal: syscall.SIGKILL, Wait: 10 * time.Second}) })
	return p
}

// startStubborn starts a server that ignores SIGTERM, once it does.
func startStubborn(t *testing.T) *Process {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "ignoring")
	p := startServer(t, Options{}, "sh", "-c", `trap "" TERM; : > "$0"; exec sleep 300`, marker)
	err := p.WaitReady(t.Context(), 10*time.Millisecond, func(context.Context) error {
		_, err := os.Stat(marker)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStopTakesOneSignalWhenTheServerHonoursIt(t *testing.T) {
	p := startServer(t, Options{}, "sleep", "300")
	sent, err := p.Stop(t.Context(),
		Step{Signal: syscall.SIGTERM, Wait: 30 * time.Second},
		Step{Signal: syscall.SIGKILL, Wait: 30 * time.Second})
	if err != nil || sent != 1 {
		t.Fatalf("Stop = %d, %v; want 1 signal", sent, err)
	}
	if !p.HasExited() || p.ExitErr() == nil || !strings.Contains(p.ExitErr().Error(), "terminated") {
		t.Errorf("exited %v with %v, want ended by SIGTERM", p.HasExited(), p.ExitErr())
	}
	if sent, err := p.Stop(t.Context(), Step{Signal: syscall.SIGKILL, Wait: time.Second}); sent != 0 || err != nil {
		t.Errorf("Stop of a stopped server = %d, %v; want nothing sent", sent, err)
	}
}

func TestStopEscalatesWhenTheServerIgnoresThePoliteSignal(t *testing.T) {
	p := startStubborn(t)
	sent, err := p.Stop(t.Context(),
		Step{Signal: syscall.SIGTERM, Wait: 200 * time.Millisecond},
		Step{Signal: syscall.SIGKILL, Wait: 30 * time.Second})
	if err != nil || sent != 2 {
		t.Fatalf("Stop = %d, %v; want the second signal to end it", sent, err)
	}
	if p.ExitErr() == nil || !strings.Contains(p.ExitErr().Error(), "killed") {
		t.Errorf("exit %v, want killed", p.ExitErr())
	}
}

func TestStopSaysWhenTheServerOutlivesEverySignal(t *testing.T) {
	p := startStubborn(t)
	sent, err := p.Stop(t.Context(), Step{Signal: syscall.SIGTERM, Wait: 100 * time.Millisecond})
	if !errors.Is(err, ErrStillRunning) || sent != 1 || p.HasExited() {
		t.Fatalf("Stop = %d, %v (exited %v); want ErrStillRunning", sent, err, p.HasExited())
	}
}

func TestACancelledContextCutsOnlyThePoliteWait(t *testing.T) {
	p := startStubborn(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan int, 1)
	go func() {
		sent, _ := p.Stop(ctx,
			Step{Signal: syscall.SIGTERM, Wait: time.Hour},
			Step{Signal: syscall.SIGKILL, Wait: 30 * time.Second})
		done <- sent
	}()
	select {
	case sent := <-done:
		if sent != 2 || !p.HasExited() {
			t.Errorf("Stop sent %d signals (exited %v), want SIGKILL to have ended it", sent, p.HasExited())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Stop waited out the polite step's hour although its context was cancelled")
	}
}

func TestKillGroupEndsWhatTheServerLeftBehind(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "service.pid")
	// A master that starts a service in its group and exits.
	p := startServer(t, Options{}, "sh", "-c", `sleep 300 & echo $! > "$0"`, pidFile)
	<-p.Exited()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	service, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !ProcessAlive(service) {
		t.Fatalf("service %q (%v) is not running", b, err)
	}
	if err := p.KillGroup(); err != nil {
		t.Fatal(err)
	}
	if !gone(service, 10*time.Second) {
		t.Errorf("service %d still runs after KillGroup", service)
	}
	if err := p.KillGroup(); err != nil {
		t.Errorf("KillGroup of an empty group: %v", err)
	}
}

func TestAServerRunsInAProcessGroupOfItsOwn(t *testing.T) {
	p := startServer(t, Options{}, "sleep", "300")
	pgid, err := syscall.Getpgid(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.PID() || pgid == syscall.Getpgrp() {
		t.Errorf("server %d is in group %d (ours %d): a terminal's Ctrl-C would reach it", p.PID(), pgid, syscall.Getpgrp())
	}
}

func TestWaitReadyReturnsOnceTheProbeSucceeds(t *testing.T) {
	p := startServer(t, Options{}, "sleep", "300")
	calls := 0
	err := p.WaitReady(t.Context(), time.Millisecond, func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("WaitReady = %v after %d probes, want nil after 3", err, calls)
	}
}

func TestWaitReadyReportsAServerThatExitsWhileStarting(t *testing.T) {
	p := startServer(t, Options{}, "sh", "-c", "exit 3")
	err := p.WaitReady(t.Context(), 10*time.Millisecond, func(context.Context) error { return errors.New("refused") })
	if err == nil || !strings.Contains(err.Error(), "sh exited while starting") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v, want the server's exit status 3", err)
	}
}

func TestWaitReadyGivesUpWithTheLastAttemptWhenTimeRunsOut(t *testing.T) {
	p := startServer(t, Options{}, "sleep", "300")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := p.WaitReady(ctx, 10*time.Millisecond, func(context.Context) error { return errors.New("connection refused") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want the deadline and the last attempt's error", err)
	}
	if p.HasExited() {
		t.Error("WaitReady ended the server: stopping it is the caller's choice")
	}
}

func TestAsRootTheServerRunsAsItsOwnUserElseNobody(t *testing.T) {
	acc, err := Unprivileged("rightsdesk-no-such-user")
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(os.Getuid())
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		if acc.Name() != "nobody" {
			t.Fatalf("as root without the server's own user: account %q, want nobody", acc.Name())
		}
		want = nobody.Uid
		if own, err := Unprivileged("daemon"); err != nil || own.Name() != "daemon" {
			t.Errorf("the server's own user is taken when it exists: %v, %v", own.Name(), err)
		}
	} else if acc != nil {
		t.Fatalf("not root: account %q, want ourselves (nil)", acc.Name())
	}
	var out bytes.Buffer
	cmd := exec.Command("id", "-u")
	cmd.Stdout = &out
	p, err := Start(cmd, Options{Account: acc})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if got := strings.TrimSpace(out.String()); got != want || p.ExitErr() != nil {
		t.Errorf("server ran as uid %q (%v), want %s", got, p.ExitErr(), want)
	}
}

func TestCheckReachableNamesTheFolderTheAccountCannotEnter(t *testing.T) {
	base, err := os.MkdirTemp("", "rdlaunch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // #nosec G302 -- a test folder others must traverse
		t.Fatal(err)
	}
	closed := filepath.Join(base, "closed")
	if err := os.MkdirAll(filepath.Join(closed, "inner"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(closed, "inner"), 0o711); err != nil { // #nosec G302 -- traversable, not listable
		t.Fatal(err)
	}
	// Someone else, in no group of ours.
	other := &Account{name: "someone", uid: 4242424, gid: 4242424, groups: []uint32{4242424}}
	err = other.CheckReachable(filepath.Join(closed, "inner", "data"))
	if err == nil || !strings.Contains(err.Error(), "cannot enter folder "+closed+" ") {
		t.Fatalf("err = %v, want it to name %s", err, closed)
	}
	if err := os.Chmod(closed, 0o711); err != nil { // #nosec G302 -- traversable, not listable
		t.Fatal(err)
	}
	if err := other.CheckReachable(filepath.Join(closed, "inner", "data")); err != nil {
		t.Errorf("traversable folders refused: %v", err)
	}
	var ourselves *Account
	if err := ourselves.CheckReachable("/root/whatever"); err != nil {
		t.Errorf("running as ourselves, nothing is checked: %v", err)
	}
}

func TestFindProgramLooksOnPATHThenInTheGivenFolders(t *testing.T) {
	onPath, elsewhere := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(elsewhere, "rd-notrunnable", 0o644)
	server := write(elsewhere, "rd-server", 0o755)
	t.Setenv("PATH", onPath)
	if got := FindProgram([]string{"rd-notrunnable", "rd-server"}, "/nonexistent", elsewhere); got != server {
		t.Errorf("FindProgram = %q, want %s (the first name that can run)", got, server)
	}
	if got := FindProgram([]string{"rd-notrunnable", "rd-missing"}, elsewhere); got != "" {
		t.Errorf("FindProgram = %q, want none", got)
	}
	first := write(onPath, "rd-server", 0o755)
	if got := FindProgram([]string{"rd-server"}, elsewhere); got != first {
		t.Errorf("FindProgram = %q, want PATH's %s first", got, first)
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d: %v", port, err)
	}
	l.Close()
}

func TestTempDirIsPrivate(t *testing.T) {
	dir, err := TempDir("rdlaunch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || filepath.Dir(dir) != filepath.Clean(os.TempDir()) {
		t.Errorf("%s has mode %v, want 0700 directly under %s", dir, fi.Mode().Perm(), os.TempDir())
	}
}

func TestLogTailIsTheLastLinesSinceTheOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	old := "an earlier run\nthat ended well\n"
	if err := os.WriteFile(path, []byte(old+"one\ntwo\nthree\nFATAL: no space\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(path, int64(len(old)), 2); got != "three\nFATAL: no space" {
		t.Errorf("LogTail = %q", got)
	}
	if got := LogTail(path, int64(len(old)), 10); strings.Contains(got, "earlier") || !strings.HasPrefix(got, "one") {
		t.Errorf("LogTail = %q, want only this run's lines", got)
	}
	if got := LogTail(filepath.Join(t.TempDir(), "none.log"), 0, 5); got != "" {
		t.Errorf("LogTail of no log = %q", got)
	}
}

// gone waits up to limit for pid to end.
func gone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for ProcessAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
