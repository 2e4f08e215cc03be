package pglocal

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"rightsdesk/internal/launch"
)

// shortTempDir returns a folder under /tmp (not t.TempDir, whose long path
// would not leave room for the socket) that the server's user can traverse.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.Settings = EphemeralSettings()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

func TestFindBinDirFindsServerBinaries(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if !launch.IsExecutable(filepath.Join(dir, name)) {
			t.Errorf("%s has no executable %s", dir, name)
		}
	}
}

func TestDataSurvivesStopAndStart(t *testing.T) {
	t.Parallel()
	opts := Options{DataDir: filepath.Join(shortTempDir(t), "var", "postgres")}
	ctx := t.Context()

	s := startServer(t, opts)
	conn, err := pgx.Connect(ctx, s.ConnString("rightsdesk"))
	if err != nil {
		t.Fatalf("connect to created database: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE note (body text); INSERT INTO note VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(s.socketPath()); !os.IsNotExist(err) {
		t.Errorf("socket %s still exists after Stop: %v", s.socketPath(), err)
	}

	s = startServer(t, opts)
	// database/sql with the pgx driver must accept the same URL.
	db, err := sql.Open("pgx", s.ConnString("rightsdesk"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var body string
	if err := db.QueryRowContext(ctx, "SELECT body FROM note").Scan(&body); err != nil {
		t.Fatalf("read row after restart: %v", err)
	}
	if body != "kept" {
		t.Errorf("body = %q, want kept", body)
	}
}

func TestConnStringParses(t *testing.T) {
	s := &Server{user: "rightsdesk", socketDir: "/srv/rd/var/postgres", port: 5433}
	cfg, err := pgx.ParseConfig(s.ConnString("app"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "/srv/rd/var/postgres" || cfg.Port != 5433 || cfg.User != "rightsdesk" || cfg.Database != "app" || cfg.TLSConfig != nil {
		t.Errorf("parsed %s as host=%q port=%d user=%q db=%q tls=%v", s.ConnString("app"), cfg.Host, cfg.Port, cfg.User, cfg.Database, cfg.TLSConfig != nil)
	}
}

func TestSecondStartAdoptsRunningServer(t *testing.T) {
	t.Parallel()
	opts := Options{DataDir: filepath.Join(shortTempDir(t), "pg"), Database: "app"}
	first := startServer(t, opts)

	// As when `rightsdesk user add` runs next to a running `serve`.
	second := startServer(t, opts)
	if second.PID() != first.PID() {
		t.Fatalf("second Start ran pid %d, want to adopt %d", second.PID(), first.PID())
	}
	if err := second.Stop(t.Context()); err != nil {
		t.Fatalf("Stop adopted server: %v", err)
	}
	// The server belongs to whoever started it: the adopter leaves it
	// running. A stop waits for the server to exit, so had the adopter's
	// stopped it, it would be gone by now and refuse the owner's query.
	select {
	case <-first.proc.Exited():
		t.Fatal("stopping the adopter stopped the server its owner still uses")
	default:
	}
	conn, err := pgx.Connect(t.Context(), first.ConnString("app"))
	if err != nil {
		t.Fatalf("the owner cannot connect after the adopter stopped: %v", err)
	}
	if err := conn.Ping(t.Context()); err != nil {
		t.Errorf("the owner's server does not answer after the adopter stopped: %v", err)
	}
	_ = conn.Close(t.Context())
	if err := first.Stop(t.Context()); err != nil {
		t.Fatalf("Stop the owner: %v", err)
	}
}

func TestStalePIDFileDoesNotPreventStart(t *testing.T) {
	t.Parallel()
	opts := Options{DataDir: filepath.Join(shortTempDir(t), "pg")}
	s := startServer(t, opts)
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}

	// A killed server's PID recycled by an unrelated live process, the case
	// where postgres itself would refuse to start.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	lock := strings.Join([]string{strconv.Itoa(other.Process.Pid), s.DataDir(), "1700000000", "5432", s.SocketDir(), "", "0 0", "ready", ""}, "\n")
	for _, f := range []string{filepath.Join(s.DataDir(), "postmaster.pid"), s.socketPath() + ".lock"} {
		if err := os.WriteFile(f, []byte(lock), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s = startServer(t, opts)
	if s.PID() == other.Process.Pid {
		t.Fatal("adopted an unrelated process as the server")
	}
	conn, err := pgx.Connect(t.Context(), s.ConnString("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	conn.Close(t.Context())
}

func TestTooLongSocketPathIsRefused(t *testing.T) {
	dir := filepath.Join(os.TempDir(), strings.Repeat("d", 110))
	_, err := Start(t.Context(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "socket path") {
		t.Fatalf("Start with a %d-byte folder: err = %v, want a socket path error", len(dir), err)
	}
	if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
		t.Errorf("Start created %s before refusing it", dir)
	}
}

func TestUnreachableParentIsNamed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	parent, err := os.MkdirTemp("", "pgl") // 0700, root's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	_, err = Start(t.Context(), Options{DataDir: filepath.Join(parent, "pg")})
	if err == nil || !strings.Contains(err.Error(), "cannot enter folder "+parent) {
		t.Fatalf("err = %v, want it to name %s", err, parent)
	}
}

func TestSharedSocketFolderIsRefused(t *testing.T) {
	dir := shortTempDir(t)
	_, err := Start(t.Context(), Options{DataDir: filepath.Join(dir, "pg"), SocketDir: os.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("err = %v, want a shared socket folder error", err)
	}
}

func TestTemporaryClusterIsRemovedOnStop(t *testing.T) {
	t.Parallel()
	s, err := StartTemporary(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), s.ConnString("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	conn.Close(t.Context())
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.DataDir()); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop", s.DataDir())
	}
}

func TestCompareVersionsOrdersNumerically(t *testing.T) {
	got := []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin"}
	want := []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin"}
	sortByVersion(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFolderWithOtherFilesIsNotInitialised(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "var")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v, want a not-empty folder error", err)
	}
}
