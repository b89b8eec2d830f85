package query

import (
	"strings"
	"testing"
)

func TestClassicVars(t *testing.T) {
	tests := []struct {
		in   string
		want string // name=value;... (bare names without '=')
	}{
		{"a=1, b=2,\r\nc=3\r\n", "a=1;b=2;c=3"},
		{`version="ntpd, x", y=2`, `version="ntpd, x";y=2`},
		{`a=x"y, b=2`, `a=x"y;b=2`},                      // a quote inside a value is plain text
		{`a="x"y, b=2`, ``},                              // quoted value not followed by ',' or CR: stop
		{"a=1, b=\"unterminated", `a=1;b="unterminated`}, // the quote runs to the end of the text
		{"a=x\x00y, b=2", "a=x;b=2"},                     // C string
		{"a=x\ry, b=2", "a=x;y;b=2"},                     // CR ends a value; the rest reads as a name
		{"bare, c=1", "bare;c=1"},
		{"a=" + strings.Repeat("v", 2048) + ", b=1", ""}, // too long: stop
		{strings.Repeat("n", 256) + "=1, b=1", ""},
	}
	for _, tc := range tests {
		var parts []string
		for _, v := range classicVars([]byte(tc.in)) {
			if v.HasValue {
				parts = append(parts, v.Name+"="+v.Value)
			} else {
				parts = append(parts, v.Name)
			}
		}
		got := strings.Join(parts, ";")
		if got != tc.want {
			t.Errorf("classicVars(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzClassicVars: the classic parser never panics and never returns
// more items than octets.
func FuzzClassicVars(f *testing.F) {
	f.Add([]byte("leap=0, stratum=3, refid=GPS,\r\nversion=\"a, b\"\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if vars := classicVars(b); len(vars) > len(b) {
			t.Fatalf("%d items from %d octets", len(vars), len(b))
		}
	})
}
