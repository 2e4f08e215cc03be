package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/testkit"
)

// child is `rightsdesk serve` in a process of its own (the test binary
// itself, see TestMain), so that a test can kill it as a crash would.
type child struct {
	cmd    *exec.Cmd
	base   string
	logs   *testkit.Buffer
	exited chan error
}

// startChild starts serve with env and waits until it is ready.
func startChild(t *testing.T, env []string) *child {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$") // #nosec G204 -- this test binary
	cmd.Env = append(append([]string{childServe + "=1", "LISTEN_ADDR=" + addr, "BASE_URL=http://" + addr}, env...),
		"PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	c := &child{cmd: cmd, base: "http://" + addr, logs: &testkit.Buffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() { c.kill(t) })
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(c.base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("serve exited before it was ready (%v):\n%s", err, c.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve was not ready within a minute:\n%s", c.logs)
		}
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would:
// nothing of it runs after, no deferred code, no graceful stop.
func (c *child) kill(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	select {
	case err := <-c.exited:
		c.exited <- err
	case <-time.After(10 * time.Second):
		t.Fatal("a killed serve did not exit")
	}
}

// TestDeliveriesOfAKilledInstanceAreSentOnceByTheNext kills an instance
// while every delivery it took is under way (the relay has not answered
// yet), starts a new one on the same database, and checks on durable state
// that every email of every submission reached the relay exactly once and
// that the new instance, not River's minutes-long stuck-job timeout, ran
// the orphaned jobs again.
func TestDeliveriesOfAKilledInstanceAreSentOnceByTheNext(t *testing.T) {
	smtp := testkit.StartSMTP(t)
	dbURL := testkit.DBURL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	count := func(query string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	env := []string{
		"DATABASE_URL=" + dbURL, "SMTP_URL=" + smtp.URL(), "ENCRYPTION_KEY=" + testkit.EncryptionKey,
		"PRIVACY_CONTACT_EMAIL=privacy@school.example.kz", "INTAKE_RATE_LIMIT=0", "LOG_LEVEL=info",
		"RIGHTSDESK_DATA_DIR=" + t.TempDir(),
	}

	// The relay takes connections but answers none: every delivery the
	// first instance starts waits, mid-way, for the relay.
	smtp.Hold()
	a := startChild(t, env)
	const submissions = 4
	for i := range submissions {
		body := fmt.Sprintf(`{"type":"erasure","full_name":"Ерлан Серікұлы","email":"erlan%d@example.kz","locale":"kk","consent":true}`, i)
		resp, err := http.Post(a.base+"/api/v1/requests", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("submission %d: %d %s", i, resp.StatusCode, out)
		}
	}
	waitUntil(t, 30*time.Second, a.logs, "the first instance to take every delivery", func() bool {
		return count(`SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND state = 'running'`) == submissions && smtp.Held() > 0
	})
	a.kill(t)
	if n := len(smtp.Messages()); n != 0 {
		t.Fatalf("%d messages reached the relay before the kill, want none", n)
	}
	// The relay answers again; the sessions of the dead instance are gone.
	smtp.Release()

	b := startChild(t, env)
	waitUntil(t, 90*time.Second, b.logs, "every email sent and every delivery job settled", func() bool {
		return count(`SELECT count(*) FROM emails WHERE state <> 'sent'`) == 0 &&
			count(`SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND state IN ('available', 'running', 'retryable', 'scheduled')`) == 0
	})

	rows, err := pool.Query(context.Background(), `SELECT message_id FROM emails ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.Trim(id, "<>"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2*submissions {
		t.Fatalf("%d emails recorded, want %d (an acknowledgement and a notice per submission)", len(ids), 2*submissions)
	}
	received := map[string]int{}
	for _, m := range smtp.Messages() {
		received[m.MessageID]++
	}
	for _, id := range ids {
		if received[id] != 1 {
			t.Errorf("email %s reached the relay %d times, want exactly once", id, received[id])
		}
		delete(received, id)
	}
	for id, n := range received {
		t.Errorf("the relay got %d message(s) %s that no email row is", n, id)
	}
	if n := count(`SELECT count(*) FROM river_job WHERE kind = 'deliver_email'
		AND EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE 'rescued: the instance running this attempt is gone%')`); n != submissions {
		t.Errorf("%d delivery jobs rescued as the jobs of a dead instance, want %d\n%s", n, submissions, b.logs)
	}
}

// waitUntil polls done until it holds, failing the test with the
// instance's log after timeout.
func waitUntil(t *testing.T, timeout time.Duration, logs fmt.Stringer, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; the instance logged:\n%s", timeout, what, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
