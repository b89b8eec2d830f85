package daemon

import (
	"os"
	"testing"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

// TestMain removes the ntpkit binary that the live tests build (once per
// test binary, on first use by testenv.BuildNtpkit).
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
