package query

import "testing"

// The column formats of NTPsec 1.2.2's ntpq (SPEC §4.1): decimals drop one
// per decade so a value always fills exactly 8 columns.
func TestNTPsecNumberColumns(t *testing.T) {
	tests := []struct {
		f    float64
		dot4 string
		dot3 string
	}{
		{0.0119, "  0.0119", "   0.012"},
		{-0.0021, " -0.0021", "  -0.002"},
		{999.5, "999.5000", " 999.500"},
		{1000, "1000.000", "1000.000"},
		{15937.5, "15937.50", "15937.50"},
		{123456.7, "123456.7", "123456.7"},
		{1234567, " 1234567", " 1234567"},
		{-99.5, "-99.5000", " -99.500"},
		{-250.022, "-250.022", "-250.022"},
		{-1000, "-1000.00", "-1000.00"},
		{-12345.6, "-12345.6", "-12345.6"},
		{-123456, " -123456", " -123456"},
	}
	for _, tt := range tests {
		if got := f8dot4(tt.f); got != tt.dot4 {
			t.Errorf("f8dot4(%v) = %q, want %q", tt.f, got, tt.dot4)
		}
		if got := f8dot3(tt.f); got != tt.dot3 {
			t.Errorf("f8dot3(%v) = %q, want %q", tt.f, got, tt.dot3)
		}
	}
}
