package query

import (
	"strings"
	"testing"
)

func TestPrettyInterval(t *testing.T) {
	tests := []struct {
		in      int64
		classic string
		sec     string
	}{
		{-5, "-", "-"}, {0, "-", "-"}, {1, "1", "1"}, {64, "64", "64"}, {2048, "2048", "2048"},
		{4096, "68m", "68m"}, {8192, "137m", "137m"}, {16384, "273m", "273m"},
		{18000, "300m", "5h"}, // (18000+29)/60 = 300.48: integer 300 <= 300, float > 300
		{32768, "9h", "9h"}, {65536, "18h", "18h"}, {131072, "36h", "36h"},
		{86400 * 10, "10d", "10d"}, {86400 * 999, "999d", "999d"},
		{86400 * 1000, "3y", "1000d"}, {86400 * 365 * 2000, "INF", "730000d"},
	}
	for _, tc := range tests {
		if got := prettyClassic(tc.in); got != tc.classic {
			t.Errorf("prettyClassic(%d) = %q, want %q", tc.in, got, tc.classic)
		}
		if got := prettySec(float64(tc.in)); got != tc.sec {
			t.Errorf("prettySec(%d) = %q, want %q", tc.in, got, tc.sec)
		}
	}
}

func TestMsClassic(t *testing.T) {
	tests := []struct {
		in     string
		signed bool
		want   string
	}{
		{"0.010", false, "0.010"}, {"0.019283", false, "0.019"}, {"0.0195", false, "0.020"},
		{"-0.002", true, "-0.002"}, {"0.008", true, "+0.008"}, {"0.000", true, "+0.000"},
		{"-0.000", true, "+0.000"}, {"-0.000216", true, "-0.000"}, {"250.028174", true, "+250.028"},
		{"15937.500", false, "15937.500"}, {"9.9996", false, "10.000"}, {"bogus", true, "+0.000"},
		{"99.9995", false, "100.000"},
	}
	for _, tc := range tests {
		if got := msClassic(tc.in, tc.signed); got != tc.want {
			t.Errorf("msClassic(%q, %v) = %q, want %q", tc.in, tc.signed, got, tc.want)
		}
	}
}

func TestF8(t *testing.T) {
	tests := []struct {
		in         float64
		dot4, dot3 string
	}{
		{0.0119, "  0.0119", "   0.012"}, {-0.0021, " -0.0021", "  -0.002"}, {250.0282, "250.0282", " 250.028"},
		{1937.62, "1937.620", "1937.620"}, {15937.5, "15937.50", "15937.50"}, {123456.7, "123456.7", "123456.7"},
		{-150.5, "-150.500", "-150.500"}, {-1500.25, "-1500.25", "-1500.25"}, {12345678, "12345678", "12345678"},
	}
	for _, tc := range tests {
		if got := f8dot4(tc.in); got != tc.dot4 {
			t.Errorf("f8dot4(%v) = %q, want %q", tc.in, got, tc.dot4)
		}
		if got := f8dot3(tc.in); got != tc.dot3 {
			t.Errorf("f8dot3(%v) = %q, want %q", tc.in, got, tc.dot3)
		}
	}
}

func TestRefclockName(t *testing.T) {
	tests := map[string]string{"127.127.1.0": "LOCAL(0)", "127.127.28.0": "SHM(0)", "127.127.20.1": "GPS_NMEA(1)",
		"127.127.99.3": "REFCLK(99,3)", "127.0.0.1": "", "198.18.123.5": "", "GPS": "", "::1": ""}
	for in, want := range tests {
		got, ok := refclockName(in)
		if got != want || ok != (want != "") {
			t.Errorf("refclockName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestCookClassic(t *testing.T) {
	o := RenderOptions{Names: Names{"198.18.123.7": "pool.ref.test"}}
	tests := []struct {
		name, value, want string
		ok                bool
	}{
		{"leap", "0", "00", true}, {"leap", "3", "11", true}, {"leap", "4", "", false},
		{"reach", "0xff", "377", true}, {"reach", "0x7", "007", true}, {"reach", "zz", "", false},
		{"refid", "127.127.1.0", "LOCAL(0)", true}, {"refid", "GPS", "GPS", true}, {"refid", "TOOLONG", "", false},
		{"flash", "0x0", "00 ok", true}, {"flash", "0x1600", "1600 peer_stratum peer_dist peer_unreach", true},
		{"srcadr", "198.18.123.7", "pool.ref.test", true}, {"srcadr", "127.127.28.0", "SHM(0)", true},
		{"dstadr", "198.18.123.1", "198.18.123.1", true},
		{"reftime", "0x00000000.00000000", "(no time)", true}, {"reftime", "nonsense", "", false},
		{"offset", "0.026888", "+0.026888", true}, {"offset", "-0.003", "-0.003", true},
		{"filtdelay", "0.01 0.02 0.40 0.01 0.03 0.04 0.00 0.00", "  " + "   0.01    0.02    0.40    0.01    0.03    0.04    0.00    0.00", true},
		{"filtoffset", "-0.01 0.02", " " + "  -0.01   +0.02", true},
		{"filtdisp", "16000.00 0.00", "   " + "16000.0    0.00", true},
		{"filtdelay", "\xe0I$ 0.14", "", false},
		{"version", "\"ntpd x\"", "\"ntpd x\"", true},
	}
	for _, tc := range tests {
		got, ok := CookClassic(tc.name, tc.value, o)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CookClassic(%q, %q) = %q, %v; want %q, %v", tc.name, tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassicWrap(t *testing.T) {
	// 72-column rule: ", " if the item fits (L + len + 2 <= 72), else ",\n".
	var l lineWriter
	l.maxWidth = classicLineMax
	l.item("a", strings.Repeat("x", 60)) // 62
	l.item("b", "1234567")               // 62+9+2 = 73 > 72: new line
	l.item("c", strings.Repeat("y", 59)) // 9+61+2 = 72: fits
	got := l.end()
	want := "a=" + strings.Repeat("x", 60) + ",\nb=1234567, c=" + strings.Repeat("y", 59) + "\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestCatV(t *testing.T) {
	if got := catV("\xe0I$\xa5\xfd\x7f 0\x04"); got != "M-`I$M-%M-}^? 0^D" {
		t.Errorf("catV = %q", got)
	}
}
