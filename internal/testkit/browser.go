package testkit

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromiumPath names the variable that points the browser tests at a
// particular Chromium or Chrome binary.
const EnvChromiumPath = "CHROMIUM_PATH"

// BrowserTimeout bounds everything one test does in its browser.
const BrowserTimeout = 60 * time.Second

// Browser viewport when a test sets none: a common phone (emulated, with a
// mobile user agent's viewport rules), because requesters use one as often
// as a desktop.
const (
	BrowserWidth  = 390
	BrowserHeight = 844
)

// BrowserLanguage is what the test browser sends as Accept-Language: a
// Russian-speaking requester in Kazakhstan, the portal's usual visitor.
const BrowserLanguage = "ru-KZ,ru;q=0.9"

// FindChromium returns the path of a Chromium-compatible browser: the
// CHROMIUM_PATH variable, then chromium, chromium-browser or google-chrome on
// PATH, then Debian's /usr/bin/chromium.
func FindChromium() (string, error) {
	if p := os.Getenv(EnvChromiumPath); p != "" {
		if _, err := os.Stat(p); err != nil { // #nosec G703 -- looking for the Chromium binary in known places
			return "", errors.New(EnvChromiumPath + "=" + p + ": " + err.Error())
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("no Chromium found")
}

// Browser starts a headless Chromium of the test's own (fresh profile, no
// network chatter, a phone-sized window) and returns a context for
// chromedp.Run. The browser stops when the test ends; everything the test
// does in it must finish within BrowserTimeout.
//
// A missing browser fails the test rather than skipping it: browser tests
// that silently skip protect nothing.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	path, err := FindChromium()
	if err != nil {
		tb.Fatalf("browser tests need Chromium: %v. Run the tests with the README's test command, scripts/test, which installs it; "+
			"or install it yourself (`apt-get install chromium`), or point %s at a Chromium or Chrome binary.", err, EnvChromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests often run as root in containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Without these Chromium keeps calling Google's services, which on a
		// closed network means a stream of refused connections in the log.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "ru-KZ"),
		chromedp.Flag("accept-lang", BrowserLanguage),
		chromedp.WindowSize(BrowserWidth, BrowserHeight),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(tb.Logf))
	tb.Cleanup(func() {
		cancelBrowser() // closes the tab and the browser
		cancelAlloc()   // waits for the process to exit
	})
	// Start the browser now, on a context without the deadline (the first
	// run binds the browser's life to its context), so that a broken
	// installation shows up here and a timed-out test can still be
	// photographed.
	// Chromium will not make a window narrower than about 500 px, so the
	// phone size comes from device emulation rather than the window.
	if err := chromedp.Do(browserCtx, chromedp.EmulateViewport(BrowserWidth, BrowserHeight, chromedp.EmulateMobile)); err != nil {
		tb.Fatalf("start Chromium (%s): %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(browserCtx, BrowserTimeout)
	tb.Cleanup(cancelTimeout)
	return ctx
}

// Screenshot saves a full-page PNG of the browser's current page as
// docs/screenshots/failures/<test>-<name>.png under the repository root, and
// logs where it went. Failing to take it is logged, not fatal: a screenshot
// is evidence, not the test.
func Screenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join(root, "docs", "screenshots", "failures")
	if err := os.MkdirAll(dir, 0o755); err != nil { // #nosec G301 -- test screenshots, meant to be opened by the developer
		tb.Logf("screenshot %s: %v", name, err)
		return
	}
	// The test's own context may have run out (a timeout is a common reason
	// to fail), so capture on a fresh deadline in the same tab.
	shotCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(shotCtx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(dir, fileSafe(tb.Name()+"-"+name)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil { // #nosec G306 -- test screenshots, meant to be opened by the developer
		tb.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.Logf("screenshot: %s", file)
}

// ScreenshotOnFailure registers a cleanup that saves a screenshot of the
// page the browser was on when the test failed. Call it right after Browser,
// so the cleanup runs before the browser closes (cleanups run last first).
func ScreenshotOnFailure(tb testing.TB, ctx context.Context) {
	tb.Helper()
	tb.Cleanup(func() {
		if tb.Failed() {
			Screenshot(tb, ctx, "failure")
		}
	})
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return unsafeFileChars.ReplaceAllString(s, "_") }

// RepoRoot returns the folder holding go.mod, found by walking up from the
// working directory (a package's folder under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
