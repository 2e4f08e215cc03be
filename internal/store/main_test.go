package store_test

import (
	"os"
	"testing"

	"rightsdesk/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
