package mailer

import (
	"os"
	"testing"

	"newsletter/internal/testkit"
)

// TestMain stops the test PostgreSQL cluster after the tests, when
// NEWSLETTER_TEST_ENGINE=postgres made them start one.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
