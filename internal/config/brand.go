package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
)

// An operator's look (issue 15: "name, logo and colours"): LOGO_FILE is an
// image shown beside ORG_NAME at the top of every page, BRAND_COLOR the
// colour of its links and buttons. Both are optional; with neither, pages
// look as they always have.

// MaxLogoSize is the largest LOGO_FILE: a logo, not a photograph.
const MaxLogoSize = 256 << 10

// Logo is LOGO_FILE, read and checked at start.
type Logo struct {
	Data []byte
	Ext  string // the file type as a name ending: png, jpg, webp or gif
}

// logoTypes are the image types a logo may be, by what their bytes say
// (never by the file's name). SVG is not among them: it is a document that
// may carry scripts and links, and a raster logo is all a page header needs.
var logoTypes = map[string]string{"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

func loadLogo(path string) (*Logo, error) {
	f, err := os.Open(path) // #nosec G304 -- LOGO_FILE is the operator's own setting, read once at start
	if err != nil {
		return nil, &Error{"LOGO_FILE", fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, MaxLogoSize+1))
	if err != nil {
		return nil, &Error{"LOGO_FILE", fmt.Sprintf("cannot read %s: %v", path, err)}
	}
	if len(b) > MaxLogoSize {
		return nil, &Error{"LOGO_FILE", fmt.Sprintf("%s is larger than %d KiB", path, MaxLogoSize>>10)}
	}
	ext, ok := logoTypes[http.DetectContentType(b)]
	if !ok {
		return nil, &Error{"LOGO_FILE", fmt.Sprintf("%s is not a PNG, JPEG, WebP or GIF image", path)}
	}
	return &Logo{Data: b, Ext: ext}, nil
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// MinBrandContrast is the contrast BRAND_COLOR must have against white:
// links are that colour on white, and buttons white text on it (WCAG 2.2,
// success criterion 1.4.3, normal text).
const MinBrandContrast = 4.5

func checkBrandColor(v string) error {
	if !hexColor.MatchString(v) {
		return &Error{"BRAND_COLOR", fmt.Sprintf("want a colour as #rrggbb, got %q", v)}
	}
	if c := ContrastWithWhite(v); c < MinBrandContrast {
		return &Error{"BRAND_COLOR", fmt.Sprintf("%s has a contrast of %.2f:1 against white; links and buttons need at least %.1f:1 (WCAG 2.2, 1.4.3): choose a darker shade", v, c, MinBrandContrast)}
	}
	return nil
}

// ContrastWithWhite is the WCAG contrast ratio of colour #rrggbb against
// white, from 1 (white) to 21 (black).
func ContrastWithWhite(hex string) float64 {
	return 1.05 / (luminance(hex) + 0.05)
}

func luminance(hex string) float64 {
	channel := func(i int) float64 {
		n, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		c := float64(n) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(1) + 0.7152*channel(3) + 0.0722*channel(5)
}

// Darker is colour #rrggbb with every channel at four fifths: the shade a
// link or button takes under the pointer.
func Darker(hex string) string {
	out := "#"
	for i := 1; i < 7; i += 2 {
		n, _ := strconv.ParseUint(hex[i:i+2], 16, 8)
		out += fmt.Sprintf("%02x", n*4/5)
	}
	return out
}
