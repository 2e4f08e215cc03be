package dovecotlocal

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// imapSession logs in over conn and returns the server's answers to each
// command, raw: this package tests the launcher, not a client.
func imapSession(t *testing.T, conn net.Conn, cmds ...string) []string {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	greeting, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	var answers []string
	for i, c := range cmds {
		tag := string(rune('a' + i))
		if _, err := conn.Write([]byte(tag + " " + c + "\r\n")); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v (so far %q)", c, err, b.String())
			}
			b.WriteString(line)
			if strings.HasPrefix(line, tag+" ") {
				break
			}
		}
		answers = append(answers, b.String())
	}
	return answers
}

func TestStartServesPlainAndTLSIMAPToItsUsersAndStopRemovesEverything(t *testing.T) {
	srv, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.dir
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if err := srv.AddUser("alice", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddUser("alice", "again"); err == nil {
		t.Error("a user added twice")
	}

	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	a := imapSession(t, conn, "LOGIN alice s3cret", "SELECT INBOX", "LOGOUT")
	conn.Close()
	if !strings.Contains(a[0], "a OK") || !strings.Contains(a[1], "* 0 EXISTS") {
		t.Errorf("plain session: %q", a)
	}

	cfg, err := ClientTLS(srv.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	tconn, err := tls.Dial("tcp", srv.TLSAddr(), cfg) // verifies the self-signed certificate for 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	a = imapSession(t, tconn, "LOGIN alice s3cret", "CAPABILITY", "LOGOUT")
	tconn.Close()
	if !strings.Contains(a[0], "a OK") || !strings.Contains(a[1], "MOVE") || !strings.Contains(a[1], "UIDPLUS") {
		t.Errorf("TLS session: %q", a)
	}

	// Last: Dovecot slows later logins from an address that failed one.
	conn, err = net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if a := imapSession(t, conn, "LOGIN alice wrong"); !strings.Contains(a[0], "a NO") {
		t.Errorf("a wrong password: %q", a)
	}
	conn.Close()

	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("folder %s still there: %v", dir, err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Error("still listening after Stop")
	}
}

func TestCapabilitiesReplaceWhatDovecotAnnounces(t *testing.T) {
	srv, err := Start(context.Background(), Options{Capabilities: "IMAP4rev1 UIDPLUS IDLE"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if err := srv.AddUser("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := imapSession(t, conn, "LOGIN bob pw", "CAPABILITY")
	if strings.Contains(a[1], "MOVE") || !strings.Contains(a[1], "UIDPLUS") {
		t.Errorf("capabilities: %q", a[1])
	}
}

func TestAddUserRefusesNamesThatAreNotPlain(t *testing.T) {
	for _, name := range []string{"", "Alice", "../x", "a b", "a:b"} {
		if err := AddUserIn(t.TempDir(), name, "pw"); err == nil {
			t.Errorf("user %q accepted", name)
		}
	}
	if err := AddUserIn(t.TempDir(), "x", "p:w"); err == nil {
		t.Error("a password with a colon accepted")
	}
}
