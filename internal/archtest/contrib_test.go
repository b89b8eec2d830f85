package archtest

import (
	"path/filepath"
	"testing"

	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// The packaged default configuration (installed as /etc/ntp.conf) must
// parse cleanly with ntpkit's own parser.
func TestContribNtpConf(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ntpconf.ParseFile(filepath.Join(root, "contrib", "ntp.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	if len(cfg.Servers) == 0 || len(cfg.Restrictions) == 0 {
		t.Errorf("no servers or no restrict lines: %+v", cfg)
	}
}
