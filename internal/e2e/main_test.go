// Package e2e drives a whole rightsdesk instance through a real headless
// Chromium, as a requester would: clicking links, typing, submitting forms.
package e2e

import (
	"os"
	"testing"

	"rightsdesk/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
