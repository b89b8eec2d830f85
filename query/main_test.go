package query_test

import (
	"os"
	"testing"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

// TestMain removes the ntpkit binary the live tests build (once).
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
