package config

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBrandColorNeedsContrastAgainstWhite(t *testing.T) {
	for v, want := range map[string]string{
		"":        "",
		"#0b5cad": "",                                       // the default accent
		"#8a1c4f": "",                                       // a dark berry
		"#ffcc00": "has a contrast of 1.51:1 against white", // yellow links are unreadable
		"#777777": "has a contrast of 4.48:1",               // 4.48: just below
		"0b5cad":  "want a colour as #rrggbb",
		"#0b5":    "want a colour as #rrggbb",
		"red":     "want a colour as #rrggbb",
	} {
		c, err := Load(envOf(map[string]string{"BRAND_COLOR": v}))
		if want == "" {
			if err != nil || c.BrandColor != v {
				t.Errorf("BRAND_COLOR=%q: %v", v, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), "BRAND_COLOR") || !strings.Contains(err.Error(), want) {
			t.Errorf("BRAND_COLOR=%q: %v, want an error saying %q", v, err, want)
		}
	}
	for hex, ratio := range map[string]float64{"#ffffff": 1, "#000000": 21, "#0b5cad": 6.67} {
		if got := ContrastWithWhite(hex); math.Abs(got-ratio) > 0.01 {
			t.Errorf("contrast of %s: %.2f, want %.2f", hex, got, ratio)
		}
	}
	if got := Darker("#8a1c4f"); got != "#6e163f" {
		t.Errorf("darker #8a1c4f: %s", got)
	}
}

func TestLogoFileIsARasterImageOfAFewKilobytes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"LOGO_FILE": write("logo.svg", img.Bytes())}))
	if err != nil || c.Logo == nil || c.Logo.Ext != "png" || !bytes.Equal(c.Logo.Data, img.Bytes()) {
		t.Errorf("a PNG named .svg: %+v, %v; want it read as the PNG it is", c.Logo, err)
	}
	for name, tc := range map[string]struct {
		path, want string
	}{
		"svg":     {write("logo2.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)), "is not a PNG, JPEG, WebP or GIF image"},
		"text":    {write("logo.png", []byte("hello")), "is not a PNG, JPEG, WebP or GIF image"},
		"large":   {write("big.png", append(img.Bytes(), make([]byte, MaxLogoSize)...)), "is larger than 256 KiB"},
		"missing": {filepath.Join(dir, "none.png"), "cannot read"},
	} {
		_, err := Load(envOf(map[string]string{"LOGO_FILE": tc.path}))
		if err == nil || !strings.HasPrefix(err.Error(), "LOGO_FILE") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func TestDefaultLocale(t *testing.T) {
	if c, err := Load(envOf(nil)); err != nil || c.DefaultLocale != "ru" {
		t.Errorf("default: %q %v", c.DefaultLocale, err)
	}
	if c, err := Load(envOf(map[string]string{"DEFAULT_LOCALE": "kk"})); err != nil || c.DefaultLocale != "kk" {
		t.Errorf("kk: %q %v", c.DefaultLocale, err)
	}
	if _, err := Load(envOf(map[string]string{"DEFAULT_LOCALE": "de"})); err == nil || !strings.HasPrefix(err.Error(), "DEFAULT_LOCALE") {
		t.Errorf("de: %v", err)
	}
}
