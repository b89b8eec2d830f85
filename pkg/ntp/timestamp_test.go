package ntp

import (
	"net/netip"
	"testing"
	"time"
)

func TestTimestampEras(t *testing.T) {
	tests := []struct {
		name string
		when time.Time
		sec  uint32
		frac uint32
		era  int64
	}{
		{"prime epoch 1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 0, 0, 0},
		{"before 1900", time.Date(1899, 12, 31, 23, 59, 59, 0, time.UTC), 0xffffffff, 0, -1},
		{"unix epoch 1970", time.Unix(0, 0), 2208988800, 0, 0},
		{"before 1970 with half second", time.Date(1969, 12, 31, 23, 59, 59, 5e8, time.UTC), 2208988799, 1 << 31, 0},
		{"last second of era 0", time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), 0xffffffff, 0, 0},
		{"2036 rollover", time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0, 0, 1},
		{"era 1 later", time.Date(2040, 1, 1, 0, 0, 0, 250e6, time.UTC), 0x0754fd00, 1 << 30, 1},
		{"golden reftime 2026", time.Unix(0xeeaccef3-unixEpochOffset, 0), 0xeeaccef3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := TimestampFromTime(tt.when)
			if ts.Seconds() != tt.sec || ts.Fraction() != tt.frac {
				t.Fatalf("TimestampFromTime = %08x.%08x, want %08x.%08x", ts.Seconds(), ts.Fraction(), tt.sec, tt.frac)
			}
			if got := Era(tt.when); got != tt.era {
				t.Fatalf("Era = %d, want %d", got, tt.era)
			}
			if got := ts.TimeInEra(tt.era); !got.Equal(tt.when) {
				t.Fatalf("TimeInEra = %v, want %v", got, tt.when)
			}
			// Any pivot within a few decades resolves the right era.
			for _, p := range []time.Duration{0, 40 * 365 * 24 * time.Hour, -40 * 365 * 24 * time.Hour} {
				if got := ts.Time(tt.when.Add(p)); !got.Equal(tt.when) {
					t.Fatalf("Time(pivot %+v) = %v, want %v", p, got, tt.when)
				}
			}
		})
	}
}

func TestTimestampSubAcrossRollover(t *testing.T) {
	before := TimestampFromTime(time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC))
	after := TimestampFromTime(time.Date(2036, 2, 7, 6, 28, 17, 5e8, time.UTC))
	if d := after.Sub(before); d != 2500*time.Millisecond {
		t.Fatalf("after-before = %v, want 2.5s", d)
	}
	if d := before.Sub(after); d != -2500*time.Millisecond {
		t.Fatalf("before-after = %v, want -2.5s", d)
	}
	if got := before.Add(2500 * time.Millisecond); got != after {
		t.Fatalf("Add = %v, want %v", got, after)
	}
	if got := after.Add(-2500 * time.Millisecond); got != before {
		t.Fatalf("Add negative = %v, want %v", got, before)
	}
}

func TestTimestampNanosecondRoundTrip(t *testing.T) {
	base := time.Date(2026, 11, 22, 2, 18, 33, 0, time.UTC)
	for _, ns := range []int{0, 1, 999, 123456789, 999999999} {
		w := base.Add(time.Duration(ns))
		if got := TimestampFromTime(w).Time(base); !got.Equal(w) {
			t.Errorf("ns %d: round trip %v, want %v", ns, got, w)
		}
	}
}

func TestTimestampString(t *testing.T) {
	if s := NewTimestamp(0xeeaccef3, 0x509a9db8).String(); s != "0xeeaccef3.509a9db8" {
		t.Fatal(s)
	}
}

func TestShort(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want Short
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Second, 0x10000},
		{1500 * time.Millisecond, 0x18000},
		{100 * time.Hour, 0xffffffff},
	}
	for _, tt := range tests {
		if got := ShortFromDuration(tt.d); got != tt.want {
			t.Errorf("ShortFromDuration(%v) = %#x, want %#x", tt.d, got, tt.want)
		}
	}
	if d := Short(0x18000).Duration(); d != 1500*time.Millisecond {
		t.Errorf("Duration = %v", d)
	}
}

func TestRefID(t *testing.T) {
	tests := []struct {
		name    string
		id      RefID
		stratum uint8
		want    string
	}{
		{"gps code", RefIDFromString("GPS"), 1, "GPS"},
		{"kiss rate", KissRate, 0, "RATE"},
		{"init unsynced", KissInit, 16, "INIT"},
		{"ipv4", RefIDFromAddr(netip.MustParseAddr("198.18.123.7")), 3, "198.18.123.7"},
		{"ipv6 md5 prefix", RefIDFromAddr(netip.MustParseAddr("fd7e:5ee0:123::5")), 3, "12.230.212.89"},
		{"unprintable and comma", RefID{'A', ',', 0x01, ' '}, 1, "A..."},
		{"chrony local", RefID{127, 127, 1, 1}, 10, "127.127.1.1"},
	}
	for _, tt := range tests {
		if got := tt.id.Render(tt.stratum); got != tt.want {
			t.Errorf("%s: Render = %q, want %q", tt.name, got, tt.want)
		}
	}
}
