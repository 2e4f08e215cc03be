package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestDevMailboxIsServedOnlyToThisMachineThroughNoProxy(t *testing.T) {
	for _, tc := range []struct {
		name, base, peer string
		header           map[string]string
		served           bool
		host             string
	}{
		{"at the machine", "http://localhost:8080", "127.0.0.1:50000", nil, true, ""},
		{"at the machine, IPv6", "http://[::1]:8080", "[::1]:50000", nil, true, ""},
		{"at the machine, any 127/8 base", "http://127.0.0.2:8080", "127.0.0.1:50000", nil, true, ""},
		{"mapped loopback peer", "http://localhost:8080", "[::ffff:127.0.0.1]:50000", nil, true, ""},
		{"another machine", "http://localhost:8080", "192.0.2.10:50000", nil, false, ""},
		{"another machine, IPv6", "http://localhost:8080", "[2001:db8::1]:50000", nil, false, ""},
		{"public BASE_URL, loopback peer (a same-host proxy adding nothing)", "https://portal.example", "127.0.0.1:50000", nil, false, ""},
		{"BASE_URL on the LAN", "http://192.168.1.5:8080", "127.0.0.1:50000", nil, false, ""},
		{"BASE_URL a name under localhost", "http://mail.localhost.example:8080", "127.0.0.1:50000", nil, false, ""},
		{"X-Forwarded-For", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, false, ""},
		{"X-Forwarded-For, empty", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"X-Forwarded-For": ""}, false, ""},
		{"Forwarded", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"Forwarded": "for=203.0.113.7"}, false, ""},
		{"X-Real-IP", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"X-Real-IP": "203.0.113.7"}, false, ""},
		{"Via", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"Via": "1.1 proxy"}, false, ""},
		{"X-Forwarded-Proto", "http://localhost:8080", "127.0.0.1:50000", map[string]string{"X-Forwarded-Proto": "https"}, false, ""},
		{"asked for 127.0.0.1", "http://localhost:8080", "127.0.0.1:50000", nil, true, "127.0.0.1:8080"},
		{"asked for [::1]", "http://localhost:8080", "[::1]:50000", nil, true, "[::1]:8080"},
		{"asked for localhost, no port", "http://localhost", "127.0.0.1:50000", nil, true, "localhost"},
		{"a rebound name (DNS rebinding)", "http://localhost:8080", "127.0.0.1:50000", nil, false, "attacker.example:8080"},
		{"an operator's name under localhost (several operators, RFC 6761)", "http://flextok.localhost:8080", "127.0.0.1:50000", nil, true, "flextok.localhost:8080"},
		{"a rebound name ending in localhost but not under it", "http://localhost:8080", "127.0.0.1:50000", nil, false, "evillocalhost:8080"},
		{"a rebound name with localhost inside it", "http://localhost:8080", "127.0.0.1:50000", nil, false, "localhost.attacker.example:8080"},
		{"a public name through TLS passthrough", "http://localhost:8080", "127.0.0.1:50000", nil, false, "portal.example"},
		{"no host at all", "http://localhost:8080", "127.0.0.1:50000", nil, false, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{BaseURL: tc.base, DevMailboxDir: t.TempDir()}}
			e := echo.New()
			req := httptest.NewRequest(http.MethodGet, "/dev/mailbox", nil)
			req.RemoteAddr = tc.peer
			switch tc.host {
			case "":
				req.Host = "localhost:8080"
			case "-":
				req.Host = ""
			default:
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			c := e.NewContext(req, httptest.NewRecorder())
			served := false
			err := s.devOnly(func(echo.Context) error { served = true; return nil })(c)
			if served != tc.served || (!served && err != echo.ErrNotFound) {
				t.Errorf("served %v (%v), want %v", served, err, tc.served)
			}
		})
	}
	// Without a dev mailbox (SMTP configured) nothing is served.
	s := &Server{cfg: Config{BaseURL: "http://localhost:8080"}}
	req := httptest.NewRequest(http.MethodGet, "/dev/mailbox", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	req.Host = "localhost:8080"
	if err := s.devOnly(func(echo.Context) error { return nil })(echo.New().NewContext(req, httptest.NewRecorder())); err != echo.ErrNotFound {
		t.Errorf("with SMTP configured: %v", err)
	}
}

func TestServeSaysWhyTheDevMailboxIsOff(t *testing.T) {
	for base, off := range map[string]bool{
		"http://localhost:8080": false, "http://LOCALHOST:8080": false, "http://127.0.0.1:8092": false, "http://[::1]:8080": false,
		"https://portal.example": true, "http://10.0.0.5:8080": true, "http://0.0.0.0:8080": true, "http://localhost.example.kz": true, "http://flextok.localhost:8080": false, "http://flextoklocalhost:8080": true,
	} {
		if why := DevMailboxRefusal(base); (why != "") != off {
			t.Errorf("%s: %q", base, why)
		}
	}
	if why := DevMailboxRefusal("https://portal.example"); why != "BASE_URL's host portal.example is not a loopback address (localhost, *.localhost, 127.0.0.0/8, ::1)" {
		t.Errorf("reason: %q", why)
	}
}

func TestOnlyTrustedProxiesNameTheClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("2001:db8:ff::/48")}
	extract := ipExtractor(trusted)
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"10.0.0.1:4000", "203.0.113.5", "203.0.113.5"},         // the proxy
		{"[2001:db8:ff::7]:4000", "203.0.113.5", "203.0.113.5"}, // a proxy in a trusted range
		{"10.0.0.1:4000", "198.51.100.1, 10.0.0.2", "10.0.0.2"}, // an untrusted hop is the client
		{"10.0.0.2:4000", "203.0.113.5", "10.0.0.2"},            // private, not listed: not a proxy
		{"127.0.0.1:4000", "203.0.113.5", "127.0.0.1"},          // loopback, not listed
		{"[::1]:4000", "203.0.113.5", "::1"},                    // nor IPv6 loopback
		{"169.254.1.1:4000", "203.0.113.5", "169.254.1.1"},      // nor link-local
		{"192.168.1.10:4000", "203.0.113.5", "192.168.1.10"},    // nor the office LAN
		{"[fd00::1]:4000", "203.0.113.5", "fd00::1"},            // nor unique local
		{"203.0.113.9:4000", "198.51.100.1", "203.0.113.9"},     // the internet
		{"10.0.0.1:4000", "", "10.0.0.1"},                       // the proxy's own request
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.peer
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := extract(req); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
	// Without TRUSTED_PROXIES the peer is the client, whatever it says.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	req.Header.Set("X-Forwarded-For", "203.0.113.5")
	if got := ipExtractor(nil)(req); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: %q", got)
	}
}

func TestAProxyWithoutTrustedProxiesIsReportedOnce(t *testing.T) {
	var logs strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	extract := s.warnUntrustedProxy(ipExtractor(nil))
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "127.0.0.1:4000"
		req.Header.Set("X-Forwarded-For", "203.0.113.5")
		if got := extract(req); got != "127.0.0.1" {
			t.Errorf("client %q", got)
		}
	}
	if n := strings.Count(logs.String(), "TRUSTED_PROXIES is empty"); n != 1 {
		t.Errorf("warned %d times, want once: %s", n, logs.String())
	}
}
