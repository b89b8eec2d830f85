package mode6

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// The ntpd-sec system variable text of golden/ntpstat.ntpsec.pcap (SPEC
// §1.5), built with the typed helpers.
func TestVarEncoderNtpsecSystem(t *testing.T) {
	var e VarEncoder
	e.Reset(nil)
	e.Int("leap", 0)
	e.Int("stratum", 3)
	e.Int("precision", -23)
	e.Fixed("rootdelay", 0.651, 3)
	e.Fixed("rootdisp", 2.284, 3)
	e.Raw("refid", "198.18.123.7")
	e.Timestamp("reftime", 0xeeaccef3<<32|0x509a9db8)
	e.Int("tc", 6)
	e.Int("peer", 17776)
	e.Fixed("offset", -0.003143, 6)
	got := string(e.Bytes())
	want := "leap=0, stratum=3, precision=-23, rootdelay=0.651, rootdisp=2.284,\r\n" +
		"refid=198.18.123.7, reftime=0xeeaccef3.509a9db8, tc=6, peer=17776,\r\n" +
		"offset=-0.003143"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if fin := string(e.Finish()); fin != want+"\r\n" {
		t.Errorf("finish %q", fin)
	}
}

// The 72-column rule at its boundary: with L characters on the line, an
// item of n characters goes on the same line iff n + L + 1 < 72 (L counts
// the ',' already emitted).
func TestVarEncoderBoundary(t *testing.T) {
	first := "a=" + strings.Repeat("x", 38) // 40 chars
	for n := 25; n <= 35; n++ {
		var e VarEncoder
		e.Reset(nil)
		e.Raw("a", first[2:])
		item := "b=" + strings.Repeat("y", n-2)
		e.Raw("b", item[2:])
		got := string(e.Finish())
		// L = 40 + 1 (',') = 41; break iff n + 41 + 1 >= 72, i.e. n >= 30.
		sep := ", "
		if n >= 30 {
			sep = ",\r\n"
		}
		if want := first + sep + item + "\r\n"; got != want {
			t.Errorf("n=%d: got %q want %q", n, got, want)
		}
	}
	// After a break the line counter restarts at 0.
	var e VarEncoder
	e.Reset(nil)
	long := strings.Repeat("x", 100)
	e.Raw("a", long)
	e.Raw("b", "1")
	e.Raw("c", long)
	e.Raw("d", "2")
	if got, want := string(e.Finish()), "a="+long+",\r\nb=1,\r\nc="+long+",\r\nd=2\r\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	// Empty list: no text at all.
	e.Reset(nil)
	if got := e.Finish(); len(got) != 0 {
		t.Errorf("empty list %q", got)
	}
	// Appends to a non-empty buffer; bare names; Begin/End.
	e.Reset([]byte("HDR"))
	e.Bare("flag")
	e.Begin("x")
	e.AppendString("1")
	e.Append('2')
	e.End()
	if got := string(e.Finish()); got != "HDRflag, x=12\r\n" || e.Len() != 2 {
		t.Errorf("got %q", got)
	}
}

// Fragment cuts follow the daemons' ctl_putdata: 468-octet fragments, or
// shorter when an item ends with fewer than 3 octets left.
func TestVarEncoderCuts(t *testing.T) {
	// One item of 466 octets leaves 2 free: cut right after it.
	var e VarEncoder
	e.Reset(nil)
	e.Raw("a", strings.Repeat("x", 464))
	e.Raw("b", "1")
	data := e.Finish()
	cuts, err := e.Cuts()
	if err != nil || !reflect.DeepEqual(cuts, []uint16{466}) {
		t.Fatalf("cuts %v %v", cuts, err)
	}
	if string(data[466:]) != ",\r\nb=1\r\n" {
		t.Fatalf("tail %q", data[466:])
	}
	// One item of 465 octets leaves 3: no cut, all in one fragment.
	e.Reset(nil)
	e.Raw("a", strings.Repeat("x", 463))
	e.Finish()
	if cuts, _ := e.Cuts(); len(cuts) != 0 {
		t.Fatalf("cuts %v", cuts)
	}
	// A long item is split at exactly 468.
	e.Reset(nil)
	e.Raw("a", strings.Repeat("x", 1000))
	data = e.Finish()
	if cuts, _ := e.Cuts(); !reflect.DeepEqual(cuts, []uint16{468, 936}) || len(data) != 1004 {
		t.Fatalf("cuts %v len %d", cuts, len(data))
	}
	// Too large.
	e.Reset(nil)
	for i := 0; i < 40; i++ {
		e.Raw("a", strings.Repeat("x", 500))
	}
	e.Finish()
	if _, err := e.Cuts(); err == nil {
		t.Fatal("no error for 40 fragments")
	}
}

func TestValueHelpers(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(AppendTimestamp(nil, 0)), "0x00000000.00000000"},
		{string(AppendTimestamp(nil, 0xeeaccef3509a9db8)), "0xeeaccef3.509a9db8"},
		{string(AppendHex(nil, 7)), "0x7"},
		{string(AppendHex(nil, 0x1600)), "0x1600"},
		{string(AppendHex(nil, 0)), "0x0"},
		{string(AppendFixed(nil, 0.0005, 3)), "0.001"}, // correctly rounded like glibc (0.0005 is above half)
		{string(AppendFixed(nil, -0.0001, 3)), "-0.000"},
		{string(AppendFixed(nil, 15937.5, 3)), "15937.500"},
		{string(AppendFixed(nil, -0.003143, 6)), "-0.003143"},
		{string(AppendFixed(nil, math.NaN(), 3)), "nan"},
		{string(AppendFixed(nil, math.Inf(-1), 3)), "-inf"},
		{string(AppendQuoted(nil, `ntpd "x"`)), `"ntpd 'x'"`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q want %q", tc.got, tc.want)
		}
	}
}

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Var
	}{
		{"", nil},
		{"\r\n", nil},
		{"leap=0, stratum=3, refid=198.18.123.7\r\n", []Var{
			{"leap", "0", "0", true}, {"stratum", "3", "3", true}, {"refid", "198.18.123.7", "198.18.123.7", true}}},
		{"a=1,\r\nb=2", []Var{{"a", "1", "1", true}, {"b", "2", "2", true}}},
		{`version="ntpd 4.2.8p15, x=y", system="Linux"`, []Var{
			{"version", `"ntpd 4.2.8p15, x=y"`, `"ntpd 4.2.8p15, x=y"`, true}, {"system", `"Linux"`, `"Linux"`, true}}},
		{"filtdelay= 0.01 0.02,\r\nx=1", []Var{{"filtdelay", "0.01 0.02", " 0.01 0.02", true}, {"x", "1", "1", true}}},
		{"flag, x=, =y", []Var{{"flag", "", "", false}, {"x", "", "", true}, {"", "y", "y", true}}},
		{",,, ,", nil},
		{`s="unterminated, a=b`, []Var{{"s", `"unterminated, a=b`, `"unterminated, a=b`, true}}},
		{"a=b=c", []Var{{"a", "b=c", "b=c", true}}},
		{"n\x00m=\xff\x04", []Var{{"n\x00m", "\xff\x04", "\xff\x04", true}}},
	} {
		got, err := Tokenize([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, %v\nwant %#v", tc.in, got, err, tc.want)
		}
	}
	big := strings.Repeat("a,", MaxVars+10)
	got, err := Tokenize([]byte(big))
	if err == nil || len(got) != MaxVars {
		t.Errorf("bound: %d %v", len(got), err)
	}
	vars, _ := Tokenize([]byte(`a=1, srchost="pool.ref.test"`))
	if v, ok := Lookup(vars, "srchost"); !ok || Unquote(v) != "pool.ref.test" {
		t.Errorf("lookup %q %v", v, ok)
	}
	if _, ok := Lookup(vars, "zz"); ok {
		t.Error("lookup zz")
	}
	if Unquote(`"abc`) != "abc" || Unquote("abc") != "abc" || Unquote(`"`) != "" {
		t.Error("unquote")
	}
}

func TestValueParsers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0xeeaccef3.509a9db8", 0xeeaccef3509a9db8, true},
		{"eeaccef3.509a9db8", 0xeeaccef3509a9db8, true},
		{"0x00000000.00000000", 0, true},
		{"0x1.8", 1<<32 | 0x80000000, true},
		{"0x5", 5 << 32, true},
		{"0x", 0, false},
		{"0x1.", 0, false},
		{"0x123456789.0", 0, false},
		{"0xg.0", 0, false},
		{"0x1.-1", 0, false},
	} {
		got, err := ParseTimestamp(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTimestamp(%q) = %x, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{{"0x3f", 0x3f, true}, {"ff", 0xff, true}, {" 0x0 ", 0, true}, {"0x", 0, false}, {"0x+1", 0, false}, {"z", 0, false}} {
		got, err := ParseHex(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseHex(%q) = %x, %v", tc.in, got, err)
		}
	}
	if v, err := ParseInt("-23"); err != nil || v != -23 {
		t.Error(v, err)
	}
	if _, err := ParseInt("1.5"); err == nil {
		t.Error("ParseInt 1.5")
	}
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{{"-0.003143", -0.003143, true}, {"+0.026", 0.026, true}, {"15937.500", 15937.5, true}, {"1e3", 1000, true},
		{"nan", 0, false}, {"inf", 0, false}, {"0x1p3", 0, false}, {"1_0", 0, false}, {"", 0, false}} {
		got, err := ParseFloat(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseFloat(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestAssocList(t *testing.T) {
	list := []AssocStatus{{17777, 0x3314}, {17776, 0x361a}}
	b := AppendAssocList(nil, list)
	if string(b) != "\x45\x71\x33\x14\x45\x70\x36\x1a" {
		t.Errorf("% x", b)
	}
	got, err := ParseAssocList(b)
	if err != nil || !reflect.DeepEqual(got, list) {
		t.Error(got, err)
	}
	if _, err := ParseAssocList(b[:5]); err == nil {
		t.Error("odd length accepted")
	}
}
