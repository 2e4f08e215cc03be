package app_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEachOperatorLooksAndSpeaksAsItsOwn: each operator's pages carry its
// own logo and colours (LOGO_FILE, BRAND_COLOR) and fall back to its own
// language (DEFAULT_LOCALE) for a browser that asks for none of ours;
// nothing of one operator's look reaches the other's pages.
func TestEachOperatorLooksAndSpeaksAsItsOwn(t *testing.T) {
	var logo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 0x8a, G: 0x1c, B: 0x4f, A: 0xff})
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	logoPath := filepath.Join(t.TempDir(), "flextok.png")
	if err := os.WriteFile(logoPath, logo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv, _ := operatorsFrom(t, `operators:
  - slug: webstapero
    BASE_URL: http://privacy.webstapero.kz
    ORG_NAME: Webstapero Dev Notes
    PRIVACY_CONTACT_EMAIL: privacy@webstapero.kz
  - slug: flextok
    BASE_URL: http://privacy.flextokxumare.kz
    ORG_NAME: Flextok Xumare
    PRIVACY_CONTACT_EMAIL: help@flextokxumare.kz
    DEFAULT_LOCALE: kk
    BRAND_COLOR: "#8a1c4f"
    LOGO_FILE: `+logoPath+`
`, nil)
	get := func(host, path, acceptLanguage string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b.String(), resp.Header
	}
	const flex, web = "privacy.flextokxumare.kz", "privacy.webstapero.kz"

	// A German browser: Flextok answers in Kazakh, Webstapero in Russian;
	// a browser that asks for English gets English from both.
	_, page, _ := get(flex, "/", "de-DE,de;q=0.9")
	if !strings.Contains(page, `<html lang="kk">`) {
		t.Errorf("flextok's page for a German browser is not in Kazakh: %s", between(page, "<html", ">"))
	}
	_, webPage, _ := get(web, "/", "de-DE,de;q=0.9")
	if !strings.Contains(webPage, `<html lang="ru">`) {
		t.Errorf("webstapero's page for a German browser is not in Russian: %s", between(webPage, "<html", ">"))
	}
	if _, en, _ := get(flex, "/", "en-GB,en;q=0.9"); !strings.Contains(en, `<html lang="en">`) {
		t.Errorf("flextok's page for an English browser is not in English: %s", between(en, "<html", ">"))
	}

	// Flextok's page links its colours and its logo; Webstapero's neither.
	css := regexp.MustCompile(`href="(/static/brand\.[0-9a-f]+\.css)"`).FindStringSubmatch(page)
	img1 := regexp.MustCompile(`<img class="logo" src="(/static/logo\.[0-9a-f]+\.png)" alt="">`).FindStringSubmatch(page)
	if css == nil || img1 == nil {
		t.Fatalf("flextok's page links brand css %v and logo %v", css, img1)
	}
	if strings.Contains(webPage, "/static/brand.") || strings.Contains(webPage, "/static/logo.") {
		t.Error("webstapero's page links a brand stylesheet or logo it never had")
	}
	if code, body, h := get(flex, css[1], ""); code != http.StatusOK || !strings.Contains(body, "--accent: #8a1c4f") || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Errorf("flextok's colours: %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, body, h := get(flex, img1[1], ""); code != http.StatusOK || body != logo.String() || h.Get("Content-Type") != "image/png" {
		t.Errorf("flextok's logo: %d, %d bytes, %q", code, len(body), h.Get("Content-Type"))
	}
	// Neither is served on the other operator's address.
	for _, p := range []string{css[1], img1[1]} {
		if code, _, _ := get(web, p, ""); code != http.StatusNotFound {
			t.Errorf("webstapero's address serves flextok's %s: %d", p, code)
		}
	}
}
