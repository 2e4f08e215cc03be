package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInboundIsOffUntilConfigured(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Inbound.Enabled() || c.Inbound.IMAP != nil || c.Inbound.SMTPAddr != "" {
		t.Errorf("inbound = %+v", c.Inbound)
	}
}

func TestInboundSettingsParsed(t *testing.T) {
	c, ok := loadCase(t, map[string]string{
		"BASE_URL":            "https://privacy.operator.kz",
		"INBOUND_IMAP_URL":    "imaps://privacy%40operator.kz:pw@mail.hoster.kz/INBOX?interval=2m",
		"INBOUND_SMTP_ADDR":   ":2525",
		"INBOUND_SMTP_ACCEPT": "privacy@operator.kz, requests.operator.kz",
	}, "")
	if !ok {
		return
	}
	in := c.Inbound
	if in.IMAP == nil || in.IMAP.Username != "privacy@operator.kz" || in.IMAP.Interval != 2*time.Minute || in.IMAP.Addr != "mail.hoster.kz:993" {
		t.Errorf("IMAP = %+v", in.IMAP)
	}
	if in.SMTPAddr != ":2525" || strings.Join(in.SMTPAccept, "|") != "privacy@operator.kz|requests.operator.kz" || in.SMTPHostname != "privacy.operator.kz" || in.SMTPTLS != nil {
		t.Errorf("SMTP = %+v", in)
	}
}

func TestInboundIMAPURLFromAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imap-url")
	if err := os.WriteFile(path, []byte("imaps://u:secret@mail.hoster.kz/INBOX\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, ok := loadCase(t, map[string]string{"INBOUND_IMAP_URL_FILE": path}, "")
	if ok && (c.Inbound.IMAP == nil || c.Inbound.IMAP.Password != "secret") {
		t.Errorf("IMAP = %+v", c.Inbound.IMAP)
	}
}

func TestInboundWrongValueNamesTheVariableAndNeverThePassword(t *testing.T) {
	cases := []struct {
		bad string
		env map[string]string
	}{
		{"INBOUND_IMAP_URL", map[string]string{"INBOUND_IMAP_URL": "pop3://u:hunter2@host/INBOX"}},
		{"INBOUND_IMAP_URL", map[string]string{"INBOUND_IMAP_URL": "imaps://u:hunter2@host/INBOX?interval=1s"}},
		{"INBOUND_IMAP_URL", map[string]string{"INBOUND_IMAP_URL": "x", "INBOUND_IMAP_URL_FILE": "/x"}},
		{"INBOUND_SMTP_ADDR", map[string]string{"INBOUND_SMTP_ADDR": "2525", "INBOUND_SMTP_ACCEPT": "operator.kz"}},
		{"INBOUND_SMTP_ADDR", map[string]string{"INBOUND_SMTP_ADDR": ":8080", "INBOUND_SMTP_ACCEPT": "operator.kz"}},
		{"INBOUND_SMTP_ACCEPT", map[string]string{"INBOUND_SMTP_ADDR": ":2525"}},
		{"INBOUND_SMTP_ACCEPT", map[string]string{"INBOUND_SMTP_ADDR": ":2525", "INBOUND_SMTP_ACCEPT": "operator"}},
		{"INBOUND_SMTP_ACCEPT", map[string]string{"INBOUND_SMTP_ACCEPT": "operator.kz"}},
		{"INBOUND_SMTP_TLS_KEY_FILE", map[string]string{"INBOUND_SMTP_ADDR": ":2525", "INBOUND_SMTP_ACCEPT": "operator.kz", "INBOUND_SMTP_TLS_CERT_FILE": "/c.pem"}},
		{"INBOUND_SMTP_TLS_CERT_FILE", map[string]string{"INBOUND_SMTP_ADDR": ":2525", "INBOUND_SMTP_ACCEPT": "operator.kz", "INBOUND_SMTP_TLS_CERT_FILE": "/no/c.pem", "INBOUND_SMTP_TLS_KEY_FILE": "/no/k.pem"}},
	}
	for _, tt := range cases {
		_, err := Load(envOf(tt.env))
		if err == nil {
			t.Errorf("%v accepted", tt.env)
			continue
		}
		if cerr, ok := err.(*Error); !ok || cerr.Var != tt.bad {
			t.Errorf("%v: %v, want an error naming %s", tt.env, err, tt.bad)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: the error is not one line without the password: %q", tt.env, err)
		}
	}
}

func TestReplyAddressAndPlusAddressingDefaults(t *testing.T) {
	imap := "imaps://privacy%40operator.kz:pw@mail.hoster.kz/INBOX"
	for _, tc := range []struct {
		name      string
		env       map[string]string
		replyTo   string
		plus      bool
		mailboxes string
	}{
		{"a hosted mailbox: its address, no plus (the host may refuse it)", map[string]string{"INBOUND_IMAP_URL": imap},
			"privacy@operator.kz", false, "privacy@operator.kz"},
		{"the operator says the host takes plus-addresses", map[string]string{"INBOUND_IMAP_URL": imap, "INBOUND_PLUS_ADDRESSING": "true"},
			"privacy@operator.kz", true, "privacy@operator.kz"},
		{"the listener: its first address, with plus", map[string]string{"INBOUND_SMTP_ADDR": ":25", "INBOUND_SMTP_ACCEPT": "requests.operator.kz, privacy@operator.kz"},
			"privacy@operator.kz", true, "privacy@operator.kz"},
		{"a reply address in the listener's domain", map[string]string{"INBOUND_SMTP_ADDR": ":25", "INBOUND_SMTP_ACCEPT": "requests.operator.kz",
			"INBOUND_REPLY_TO": "Replies@Requests.Operator.kz"}, "replies@requests.operator.kz", true, "replies@requests.operator.kz"},
		{"a mailbox whose login is no address: replies not read", map[string]string{"INBOUND_IMAP_URL": "imaps://u123:pw@mail.hoster.kz/INBOX"},
			"", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := loadCase(t, tc.env, "")
			if !ok {
				return
			}
			if in := c.Inbound; in.ReplyTo != tc.replyTo || in.PlusAddressing != tc.plus || strings.Join(in.Mailboxes(), ",") != tc.mailboxes {
				t.Errorf("reply to %q, plus %v, mailboxes %v; want %q, %v, %s", in.ReplyTo, in.PlusAddressing, in.Mailboxes(), tc.replyTo, tc.plus, tc.mailboxes)
			}
		})
	}
	for _, bad := range []map[string]string{
		{"INBOUND_REPLY_TO": "privacy@operator.kz"}, // no way in
		{"INBOUND_IMAP_URL": imap, "INBOUND_REPLY_TO": "Privacy <privacy@operator.kz>"},
		{"INBOUND_IMAP_URL": imap, "INBOUND_REPLY_TO": "privacy+x@operator.kz"},
	} {
		loadCase(t, bad, "INBOUND_REPLY_TO")
	}
	loadCase(t, map[string]string{"INBOUND_IMAP_URL": imap, "INBOUND_PLUS_ADDRESSING": "maybe"}, "INBOUND_PLUS_ADDRESSING")
}
