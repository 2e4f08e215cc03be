package mail_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/testkit"
)

// numbered is testMessage with its own Message-ID.
func numbered(i int) mail.Message {
	m := testMessage()
	m.MessageID = fmt.Sprintf("01JABCDEF%04d.ack@rightsdesk.local", i)
	return m
}

// assertEachOnce checks that the server holds exactly the messages 0..n-1,
// each once.
func assertEachOnce(t *testing.T, srv *testkit.SMTPServer, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range srv.WaitForMessages(t, n, 5*time.Second) {
		seen[m.MessageID]++
	}
	for i := range n {
		if id := numbered(i).MessageID; seen[id] != 1 {
			t.Errorf("message %s arrived %d times, want once", id, seen[id])
		}
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("server holds %d messages, want %d", got, n)
	}
}

func TestSendReusesTheConnectionForLaterMessages(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	t.Cleanup(func() { _ = sender.Close() })
	for i := range 10 {
		if err := send(t, sender, numbered(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	assertEachOnce(t, srv, 10)
	if got := srv.Connections(); got != 1 {
		t.Errorf("10 messages one after the other took %d connections, want 1", got)
	}
}

func TestConcurrentSendsOpenNoMoreConnectionsThanSenders(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	t.Cleanup(func() { _ = sender.Close() })
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- send(t, sender, numbered(w*each+i))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	assertEachOnce(t, srv, workers*each)
	if got := srv.Connections(); got > workers {
		t.Errorf("%d messages from %d senders took %d connections, want at most %d", workers*each, workers, got, workers)
	}
}

func TestDroppedConnectionIsReplacedWithoutSendingTwice(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	t.Cleanup(func() { _ = sender.Close() })
	if err := send(t, sender, numbered(0)); err != nil {
		t.Fatal(err)
	}
	srv.WaitForMessages(t, 1, 5*time.Second)

	srv.DropConnections() // the relay ends the idle session
	if err := send(t, sender, numbered(1)); err != nil {
		t.Fatalf("Send over a dropped connection: %v", err)
	}
	if err := send(t, sender, numbered(2)); err != nil {
		t.Fatal(err)
	}
	assertEachOnce(t, srv, 3)
	if got := srv.Connections(); got != 2 {
		t.Errorf("took %d connections, want 2 (the first, dropped, and its replacement)", got)
	}
}

func TestServerRestartBetweenDeliveriesLosesNothingAndSendsNothingTwice(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()))
	t.Cleanup(func() { _ = sender.Close() })
	if err := send(t, sender, numbered(0)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := send(t, sender, numbered(1)); err == nil {
		t.Fatal("Send to a stopped server succeeded")
	}
	srv.Restart(t)
	// The outbox retries message 1 with the same Message-ID.
	for i := 1; i < 3; i++ {
		if err := send(t, sender, numbered(i)); err != nil {
			t.Fatalf("Send %d after the restart: %v", i, err)
		}
	}
	assertEachOnce(t, srv, 3)
}

func TestMessagesPerConnectionAreLimited(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()), mail.WithConnectionReuse(2, time.Minute, 3))
	t.Cleanup(func() { _ = sender.Close() })
	for i := range 7 {
		if err := send(t, sender, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	assertEachOnce(t, srv, 7)
	if got := srv.Connections(); got != 3 {
		t.Errorf("7 messages at 3 a connection took %d connections, want 3", got)
	}
}

func TestWithoutReuseEveryMessageHasItsOwnConnection(t *testing.T) {
	srv := testkit.StartSMTP(t)
	sender := mail.NewSMTPSender(mustParseURL(t, srv.URL()), mail.WithConnectionReuse(0, 0, 0))
	for i := range 3 {
		if err := send(t, sender, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	assertEachOnce(t, srv, 3)
	if got := srv.Connections(); got != 3 {
		t.Errorf("took %d connections, want 3", got)
	}
}
