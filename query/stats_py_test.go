package query

import (
	"math"
	"testing"
)

// Python's str() of the values NTPsec's ntpq parses (checked with
// python3: repr(float), int(s, 0), round()).
func TestPyFloatRepr(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {1, "1.0"}, {94, "94.0"}, {0.001, "0.001"}, {1e-06, "1e-06"}, {0.0001, "0.0001"},
		{-12.345678, "-12.345678"}, {16000, "16000.0"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"},
		{1.5e16, "1.5e+16"}, {123456789.125, "123456789.125"}, {2.5e-05, "2.5e-05"},
		{0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	} {
		if got := pyRepr(c.f); got != c.want {
			t.Errorf("repr(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestPyParse(t *testing.T) {
	for _, c := range []struct {
		raw  string
		kind pyKind
		want string
	}{
		{"12", pyInt, "12"}, {"0x3", pyInt, "3"}, {"0", pyInt, "0"}, {"00", pyInt, "0"}, {"-7", pyInt, "-7"},
		{"012", pyFloat, "12.0"}, {"0.000", pyFloat, "0.0"}, {"1e-06", pyFloat, "1e-06"},
		{`"pll nano"`, pyStr, "pll nano"}, {"unsync", pyStr, "unsync"}, {"", pyStr, ""},
		{"123456789012345678901234567890", pyInt, "123456789012345678901234567890"},
		{"198.18.201.1", pyStr, "198.18.201.1"},
	} {
		v := pyParse(c.raw)
		if v.kind != c.kind || v.String() != c.want {
			t.Errorf("pyParse(%q) = kind %d %q, want kind %d %q", c.raw, v.kind, v.String(), c.kind, c.want)
		}
	}
}

func TestPeriodizePacketize(t *testing.T) {
	for _, c := range []struct {
		raw, want string
	}{
		{"0", "00:00:00"}, {"59", "00:00:59"}, {"3600", "01:00:00"}, {"86399", "23:59:59"},
		{"93784", "1D 02:03:04"}, {"864000", "10D 00:00:00"}, {"2.5", "00:00:02"}, {"3.5", "00:00:04"},
		{"?", "???"},
	} {
		if _, got := periodize(pyParse(c.raw)); got != c.want {
			t.Errorf("periodize(%s) = %q, want %q", c.raw, got, c.want)
		}
	}
	run := func(n int64) pyValue { return pyValue{kind: pyInt, i: n} }
	for _, c := range []struct {
		packets string
		period  pyValue
		want    [3]string
	}{
		{"0", run(10), [3]string{"0", "", ""}},
		{"31", run(26), [3]string{"31", "1.0", "p/s"}},
		{"23", run(124), [3]string{"23", "5.0", "s/p"}},
		{"2", run(5), [3]string{"2", "2.0", "s/p"}}, // 2.5 rounds to even
		{"2", run(7), [3]string{"2", "4.0", "s/p"}}, // 3.5 rounds to even
		{"7", pyValue{}, [3]string{"7", "", ""}},
		{"5", run(0), [3]string{"5", "", ""}},
		{"???", run(3), [3]string{"???", "", ""}},
		{"1.5", run(3), [3]string{"???", "", ""}},
	} {
		if got := packetize(pyParse(c.packets), c.period); got != c.want {
			t.Errorf("packetize(%s, %v) = %q, want %q", c.packets, c.period, got, c.want)
		}
	}
}

// The commands are in the interpreter's table (stats.go's init must run
// after interp.go's) and resolve by unique prefix as in both ntpqs.
func TestStatsCommandsRegistered(t *testing.T) {
	for _, c := range []struct{ typed, want string }{
		{"sysstats", "sysstats"}, {"kern", "kerninfo"}, {"io", "iostats"}, {"mon", "monstats"},
		{"authinfo", "authinfo"}, {"timer", "timerstats"}, {"pst", "pstats"}, {"sys", ""}, {"tim", ""},
	} {
		cmd, _ := findCommand(c.typed)
		got := ""
		if cmd != nil {
			got = cmd.name
		}
		if got != c.want {
			t.Errorf("%q runs %q, want %q", c.typed, got, c.want)
		}
	}
}

// ntpq-sec's mrulist arguments go through the same conversion (values
// checked with python3: int(s, 0), else float(s), then str()).
func TestSecMRUValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1e6", "1000000.0"}, {"010", "10.0"}, {"inf", "inf"}, {"0x10", "16"}, {"1.5", "1.5"},
		{`"abc"`, "abc"}, {"1_000", "1000"},
	} {
		if got, _, _ := secValue(c.in); got != c.want {
			t.Errorf("secValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
