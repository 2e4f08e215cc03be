package testkit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// AxeScript is where axe-core's browser bundle lies under the repository
// root once `npm ci` has installed the browser tests' npm packages.
const AxeScript = "internal/e2e/axe/node_modules/axe-core/axe.min.js"

// AxeInstall is the command that installs axe-core for the browser tests.
const AxeInstall = "npm ci --prefix internal/e2e/axe --no-audit --no-fund"

// AxeTags are the rule sets the public pages must pass: WCAG 2.0 and 2.1,
// levels A and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// AxeViolation is one rule a page breaks, as axe-core reports it.
type AxeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []AxeNode `json:"nodes"`
}

// AxeNode is one element that breaks a rule.
type AxeNode struct {
	Target         []any  `json:"target"` // selectors; nested arrays for frames and shadow roots
	FailureSummary string `json:"failureSummary"`
}

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// loadAxe reads axe-core once per test binary.
func loadAxe() (string, error) {
	axeSource.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			axeSource.err = err
			return
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(AxeScript))) // #nosec G304 -- test helper reading axe-core from the repository
		if err != nil {
			axeSource.err = err
			return
		}
		axeSource.js = string(b)
	})
	return axeSource.js, axeSource.err
}

// Axe runs axe-core on the page the browser shows and fails the test,
// listing every violation with the elements behind it and saving a
// screenshot, unless the page meets WCAG 2.1 AA as far as axe can tell.
//
// axe is injected through the DevTools protocol (Runtime.evaluate), which
// the page's Content-Security-Policy does not govern: the pages forbid
// every script of their own, and a <script> tag would be refused. A missing
// axe-core fails the test, never skips it.
func Axe(tb testing.TB, ctx context.Context) {
	tb.Helper()
	violations, err := AxeViolations(ctx)
	if err != nil {
		tb.Fatalf("axe: %v", err)
	}
	if len(violations) == 0 {
		return
	}
	var b strings.Builder
	where, _ := chromedp.Run(ctx, chromedp.Location())
	fmt.Fprintf(&b, "axe-core found %d WCAG 2.1 AA violation(s) on %s:", len(violations), where)
	for _, v := range violations {
		fmt.Fprintf(&b, "\n- %s (%s): %s <%s>", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n    %s", axeTarget(n.Target))
			if s := strings.TrimSpace(n.FailureSummary); s != "" {
				fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(s, "\n", "\n      "))
			}
		}
	}
	tb.Error(b.String())
	Screenshot(tb, ctx, "axe-"+violations[0].ID)
}

// AxeViolations injects axe-core into the current page (once per page) and
// returns what it reports for AxeTags.
func AxeViolations(ctx context.Context) ([]AxeViolation, error) {
	js, err := loadAxe()
	if err != nil {
		return nil, fmt.Errorf("axe-core is not installed (%v): run `%s` in the repository root (scripts/test does it)", err, AxeInstall)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, fmt.Errorf("look for axe on the page: %w", err)
	}
	if !loaded {
		// Void: the bundle's value is of no use, and large.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			return nil, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	tags, _ := json.Marshal(AxeTags)
	run := `axe.run(document, {runOnly: {type: "tag", values: ` + string(tags) + `}, resultTypes: ["violations"]})
		.then(r => r.violations)`
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]AxeViolation](run, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	return violations, nil
}

// axeTarget prints a node's selectors, joining the steps into frames or
// shadow roots with " >> ".
func axeTarget(target []any) string {
	var parts []string
	for _, t := range target {
		switch v := t.(type) {
		case string:
			parts = append(parts, v)
		case []any:
			parts = append(parts, axeTarget(v))
		default:
			parts = append(parts, fmt.Sprint(v))
		}
	}
	return strings.Join(parts, " >> ")
}
