package testkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"rightsdesk/internal/dovecotlocal"
)

// IMAPAccount is a fresh user with an empty mailbox on the test Dovecot.
type IMAPAccount struct {
	Addr     string // plain IMAP (plaintext login allowed), host:port
	TLSAddr  string // IMAPS, host:port
	User     string
	Password string
	CertPEM  []byte // the IMAPS server's self-signed certificate
}

// IMAP creates a user on the test run's Dovecot (tools/withpg
// starts one and exports RIGHTSDESK_TEST_IMAP_*), or, without one, on a
// Dovecot started for this test alone.
func IMAP(tb testing.TB) IMAPAccount {
	tb.Helper()
	var acc IMAPAccount
	usersDir := os.Getenv(dovecotlocal.EnvUsersDir)
	if usersDir != "" {
		acc.Addr = os.Getenv(dovecotlocal.EnvAddr)
		acc.TLSAddr = os.Getenv(dovecotlocal.EnvTLSAddr)
		pem, err := os.ReadFile(os.Getenv(dovecotlocal.EnvCertFile)) // #nosec G703 -- the test run's own certificate file, named by withpg
		if err != nil {
			tb.Fatalf("testkit: the test Dovecot's certificate: %v", err)
		}
		acc.CertPEM = pem
	} else {
		srv := StartDovecot(tb, dovecotlocal.Options{})
		acc.Addr, acc.TLSAddr, acc.CertPEM, usersDir = srv.Addr(), srv.TLSAddr(), srv.CertPEM(), srv.UsersDir()
	}
	acc.User = "u" + randomHex(tb, 6)
	acc.Password = randomHex(tb, 12)
	if err := dovecotlocal.AddUserIn(usersDir, acc.User, acc.Password); err != nil {
		tb.Fatal(err)
	}
	return acc
}

// StartDovecot starts a Dovecot of this test's own (for a configuration
// the shared one has not), stopped when the test ends.
func StartDovecot(tb testing.TB, opts dovecotlocal.Options) *dovecotlocal.Server {
	tb.Helper()
	srv, err := dovecotlocal.Start(context.Background(), opts)
	if err != nil {
		tb.Fatalf("testkit: start Dovecot: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			tb.Errorf("testkit: stop Dovecot: %v", err)
		}
	})
	return srv
}

// AccountOn creates a user on a Dovecot of the test's own.
func AccountOn(tb testing.TB, srv *dovecotlocal.Server) IMAPAccount {
	tb.Helper()
	acc := IMAPAccount{Addr: srv.Addr(), TLSAddr: srv.TLSAddr(), CertPEM: srv.CertPEM(),
		User: "u" + randomHex(tb, 6), Password: randomHex(tb, 12)}
	if err := srv.AddUser(acc.User, acc.Password); err != nil {
		tb.Fatal(err)
	}
	return acc
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// PlainURL is the account as an INBOUND_IMAP_URL without encryption.
func (a IMAPAccount) PlainURL(query string) string {
	u := url.URL{Scheme: "imap", User: url.UserPassword(a.User, a.Password), Host: a.Addr, Path: "/INBOX", RawQuery: "tls=none"}
	if query != "" {
		u.RawQuery += "&" + query
	}
	return u.String()
}

// TLSURL is the account as an imaps:// INBOUND_IMAP_URL.
func (a IMAPAccount) TLSURL(query string) string {
	u := url.URL{Scheme: "imaps", User: url.UserPassword(a.User, a.Password), Host: a.TLSAddr, Path: "/INBOX", RawQuery: query}
	return u.String()
}

// TLSConfig trusts the server's certificate.
func (a IMAPAccount) TLSConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	cfg, err := dovecotlocal.ClientTLS(a.CertPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Client logs in over plain IMAP, for a test to arrange and inspect the
// mailbox; it is logged out when the test ends.
func (a IMAPAccount) Client(tb testing.TB) *imapclient.Client {
	tb.Helper()
	c, err := imapclient.DialInsecure(a.Addr, nil)
	if err != nil {
		tb.Fatalf("testkit: IMAP dial: %v", err)
	}
	if err := c.Login(a.User, a.Password).Wait(); err != nil {
		tb.Fatalf("testkit: IMAP login: %v", err)
	}
	tb.Cleanup(func() { _ = c.Logout().Wait(); _ = c.Close() })
	return c
}

// Append puts a letter into a folder (created when missing), as a mail
// server delivering it would, dated at.
func (a IMAPAccount) Append(tb testing.TB, folder string, raw []byte, at time.Time) {
	tb.Helper()
	c := a.Client(tb)
	if folder != "INBOX" {
		_ = c.Create(folder, nil).Wait() // it may exist
	}
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write(raw); err != nil {
		tb.Fatalf("testkit: APPEND: %v", err)
	}
	if err := cmd.Close(); err != nil {
		tb.Fatalf("testkit: APPEND: %v", err)
	}
	if _, err := cmd.Wait(); err != nil {
		tb.Fatalf("testkit: APPEND: %v", err)
	}
}

// Letters returns the letters in a folder, oldest first; a missing folder
// has none. Letters marked \Deleted are left out.
func (a IMAPAccount) Letters(tb testing.TB, folder string) [][]byte {
	tb.Helper()
	c := a.Client(tb)
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		tb.Fatalf("testkit: SEARCH: %v", err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		tb.Fatalf("testkit: FETCH: %v", err)
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, bytes.Clone(m.FindBodySection(section)))
	}
	return out
}
