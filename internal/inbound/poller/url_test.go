package poller

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	m, err := ParseURL("imaps://privacy%40operator.kz:p%40ss%3Aword@mail.hoster.kz/INBOX?processed=INBOX.Done&interval=30s")
	if err != nil {
		t.Fatal(err)
	}
	want := Mailbox{Addr: "mail.hoster.kz:993", Host: "mail.hoster.kz", TLS: TLSImplicit, Username: "privacy@operator.kz", Password: "p@ss:word",
		Mailbox: "INBOX", Processed: "INBOX.Done", Refused: "Refused", Interval: 30 * time.Second, refusedDefault: true}
	if m != want {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	if strings.Contains(m.String(), "p@ss") {
		t.Errorf("String() shows the password: %s", m)
	}

	m, err = ParseURL("imap://u:p@127.0.0.1:1143/Privacy/Requests?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr != "127.0.0.1:1143" || m.TLS != TLSNone || m.Mailbox != "Privacy/Requests" || m.Processed != "Processed" || m.Interval != time.Minute {
		t.Errorf("got %+v", m)
	}
	if m, _ := ParseURL("imap://u:p@mail.hoster.kz"); m.TLS != TLSStartTLS || m.Addr != "mail.hoster.kz:143" || m.Mailbox != "INBOX" {
		t.Errorf("imap:// = %+v", m)
	}
}

func TestParseURLRefusesWithoutRepeatingThePassword(t *testing.T) {
	for _, raw := range []string{
		"https://u:secretpw@host/INBOX",
		"imaps://host/INBOX",
		"imaps://u@host/INBOX",
		"imaps://u:secretpw@/INBOX",
		"imaps://u:secretpw@host/INBOX?interval=1s",
		"imaps://u:secretpw@host/INBOX?interval=soon",
		"imaps://u:secretpw@host/INBOX?tls=none",
		"imap://u:secretpw@host/INBOX?tls=maybe",
		"imaps://u:secretpw@host/INBOX?folder=x",
		"imaps://u:secretpw@host/INBOX?processed=INBOX",
		"imaps://u:secretpw@host/INBOX?refused=a%0Db",
		"imaps://u:secretpw@host/%2A",
		"::not a url secretpw",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("%s accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the error repeats the password: %v", raw, err)
		}
	}
}
