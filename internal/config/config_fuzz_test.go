package config

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/mail"
)

// FuzzLoad feeds any values to the variables an operator types by hand:
// Load either names the variable that is wrong or returns a configuration
// whose values can be used as they are (URLs to build links, an address
// for the From header, ranges for the proxy check).
func FuzzLoad(f *testing.F) {
	f.Add("https://privacy.example.kz", "Школа <privacy@example.kz>", "Онлайн-школа", "10.0.0.0/8, 192.168.1.1", "10", "7d", "7,3,1", "erasure,access", "https://eotinish.kz", "30")
	f.Add("https://privacy.example.kz/", "", "Evil\r\nBcc: x@y.z", "", "0", "48h", "1", "", "javascript:alert(1)", "")
	f.Add("http://[::1]:8080/portal?x=1", "a@b\x00", "Org\x00", "::/0", "-1", "0d", "", "nope", "http://", "0")
	f.Add("ftp://x", "\"Q\" <a@b.kz>", "", "300.1.1.1/33", "9999999999999999999999", "1d", "1000000", "access,access", "https://x.kz", "x")
	f.Add("https://user:pass@example.kz", "=?utf-8?q?x?= <a@b.kz>", "O", "fe80::1%eth0", "5", "-1h", "3,3", " ", "https:///path", "1")
	f.Fuzz(func(t *testing.T, base, from, org, proxies, limit, ttl, thresholds, types, complaint, promised string) {
		vars := map[string]string{
			"BASE_URL": base, "MAIL_FROM": from, "ORG_NAME": org, "TRUSTED_PROXIES": proxies,
			"INTAKE_RATE_LIMIT": limit, "CONFIRM_LINK_TTL": ttl, "DOWNLOAD_LINK_TTL": ttl,
			"REMINDER_THRESHOLDS": thresholds, "ENABLED_TYPES": types, "COMPLAINT_URL": complaint,
			"PROMISED_DAYS": promised, "RIGHTSDESK_DATA_DIR": "/nonexistent",
		}
		c, err := Load(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Load failed without naming a variable: %v", err)
			}
			return
		}
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(c.BaseURL, "/") || u.RawQuery != "" {
			t.Fatalf("BASE_URL %q accepted as %q", base, c.BaseURL)
		}
		// MAIL_FROM goes into every email's From header as it is.
		m := mail.Message{MessageID: "a@b", From: c.MailFrom, To: "x@example.kz", Subject: "s", Text: "t", Date: time.Date(2026, 3, 2, 10, 0, 0, 0, c.Location)}
		if err := m.Validate(); err != nil {
			t.Fatalf("MAIL_FROM %q (ORG_NAME %q) accepted as %q, but no email can be sent from it: %v", from, org, c.MailFrom, err)
		}
		if c.IntakeRateLimit < 0 || c.ConfirmLinkTTL <= 0 || c.DownloadLinkTTL <= 0 || len(c.EnabledTypes) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		for _, p := range c.TrustedProxies {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("TRUSTED_PROXIES %q gave %v", proxies, p)
			}
		}
		if cu, err := url.Parse(c.ComplaintURL); err != nil || (cu.Scheme != "http" && cu.Scheme != "https") {
			t.Fatalf("COMPLAINT_URL %q accepted", c.ComplaintURL)
		}
	})
}
