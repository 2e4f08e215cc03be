package mail_test

import (
	"strings"
	"testing"

	"rightsdesk/internal/mail"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want mail.SMTPConfig
	}{
		{"smtp defaults to port 25 and opportunistic STARTTLS", "smtp://mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 25, TLS: mail.TLSOpportunistic}},
		{"smtp with port", "smtp://mail.example.org:587",
			mail.SMTPConfig{Host: "mail.example.org", Port: 587, TLS: mail.TLSOpportunistic}},
		{"trailing slash is fine", "smtp://mail.example.org:587/",
			mail.SMTPConfig{Host: "mail.example.org", Port: 587, TLS: mail.TLSOpportunistic}},
		{"required STARTTLS", "smtp://mail.example.org:587?tls=starttls",
			mail.SMTPConfig{Host: "mail.example.org", Port: 587, TLS: mail.TLSRequired}},
		{"tls value is case-insensitive", "smtp://mail.example.org?tls=STARTTLS",
			mail.SMTPConfig{Host: "mail.example.org", Port: 25, TLS: mail.TLSRequired}},
		{"no TLS", "smtp://127.0.0.1:1025?tls=none",
			mail.SMTPConfig{Host: "127.0.0.1", Port: 1025, TLS: mail.TLSNone}},
		{"explicit opportunistic", "smtp://relay?tls=opportunistic",
			mail.SMTPConfig{Host: "relay", Port: 25, TLS: mail.TLSOpportunistic}},
		{"smtps defaults to port 465 and implicit TLS", "smtps://mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 465, TLS: mail.TLSImplicit}},
		{"smtps with port", "smtps://mail.example.org:2465",
			mail.SMTPConfig{Host: "mail.example.org", Port: 2465, TLS: mail.TLSImplicit}},
		{"scheme is case-insensitive", "SMTPS://mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 465, TLS: mail.TLSImplicit}},
		{"credentials", "smtp://rightsdesk:secret@mail.example.org:587?tls=starttls",
			mail.SMTPConfig{Host: "mail.example.org", Port: 587, Username: "rightsdesk", Password: "secret", TLS: mail.TLSRequired}},
		{"credentials are percent-decoded", "smtps://no-reply%40example.org:p%40ss%3Aw%2Frd%23%3F%25%20x@mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 465, Username: "no-reply@example.org", Password: "p@ss:w/rd#?% x", TLS: mail.TLSImplicit}},
		{"non-ASCII password", "smtp://user:%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C@mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 25, Username: "user", Password: "пароль", TLS: mail.TLSOpportunistic}},
		{"user without password", "smtp://apikey@mail.example.org",
			mail.SMTPConfig{Host: "mail.example.org", Port: 25, Username: "apikey", TLS: mail.TLSOpportunistic}},
		{"IPv6 host", "smtp://[::1]:2525?tls=none",
			mail.SMTPConfig{Host: "::1", Port: 2525, TLS: mail.TLSNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mail.ParseSMTPURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseSMTPURL(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("ParseSMTPURL(%q)\n got %+v\nwant %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseSMTPURLRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"no scheme", "mail.example.org:25", "scheme"},
		{"http scheme", "http://mail.example.org", `unsupported scheme "http"`},
		{"submission scheme", "submission://mail.example.org", `unsupported scheme`},
		{"missing host", "smtp://", "missing host"},
		{"missing host with port", "smtp://:25", "missing host"},
		{"opaque form", "smtp:mail.example.org", "missing host"},
		{"port not a number", "smtp://mail.example.org:abc", "malformed"},
		{"port zero", "smtp://mail.example.org:0", "invalid port"},
		{"port too large", "smtp://mail.example.org:70000", "invalid port"},
		{"bad tls value", "smtp://mail.example.org?tls=yes", `invalid tls value "yes"`},
		{"tls=none on smtps", "smtps://mail.example.org?tls=none", "contradicts smtps"},
		{"tls=starttls on smtps", "smtps://mail.example.org?tls=starttls", "contradicts smtps"},
		{"unknown parameter", "smtp://mail.example.org?ssl=true", `unknown parameter "ssl"`},
		{"tls twice", "smtp://mail.example.org?tls=none&tls=starttls", "more than once"},
		{"path", "smtp://mail.example.org/inbox", "path"},
		{"unencoded # in password", "smtp://user:pa#ss@mail.example.org", ""},
		{"password without user", "smtp://:secret@mail.example.org", "without a user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mail.ParseSMTPURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseSMTPURL(%q) = %+v, want an error", tt.raw, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSMTPURL(%q) error %q, want it to mention %q", tt.raw, err, tt.wantErr)
			}
		})
	}
}

func TestParseSMTPURLErrorsNeverShowThePassword(t *testing.T) {
	for _, raw := range []string{
		"smtp://user:hunter2@mail.example.org:notaport",
		"smtp://user:hunter2@mail.example.org?tls=maybe",
		"ftp://user:hunter2@mail.example.org",
		"smtp://user:hunter2@mail.example.org/x",
		"smtp://user:hunter2@mail.exa mple.org",
		"smtp://user:hunter2@[::1",
	} {
		_, err := mail.ParseSMTPURL(raw)
		if err == nil {
			t.Fatalf("ParseSMTPURL(%q): want an error", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSMTPURL(%q) error %q shows the password", raw, err)
		}
	}
}
