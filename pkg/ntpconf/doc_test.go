package ntpconf

import (
	"os"
	"strings"
	"testing"
)

// TestDirectivesDocumented keeps DIRECTIVES.md in step with the directive
// table and the restrict flags.
func TestDirectivesDocumented(t *testing.T) {
	b, err := os.ReadFile("DIRECTIVES.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name := range directives {
		if !strings.Contains(doc, "`"+name) {
			t.Errorf("directive %q is not documented in DIRECTIVES.md", name)
		}
	}
	for _, n := range restrictNames {
		if !strings.Contains(doc, "`"+n.name+"`") {
			t.Errorf("restrict flag %q is not documented", n.name)
		}
	}
	for name := range refclockTypes {
		if !strings.Contains(doc, name) {
			t.Errorf("refclock driver %q is not documented", name)
		}
	}
}
