package mode6

import (
	"bytes"
	"errors"
	"testing"
)

func TestValidateRequest(t *testing.T) {
	base := func(mod func(b []byte) []byte) []byte {
		b := MarshalRequest(NewRequest(OpReadVar, 1, 0), nil)
		if mod != nil {
			b = mod(b)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want Verdict
		code ErrorCode
	}{
		{"classic", base(nil), Accept, 0},
		{"ntpq-sec LI=3", base(func(b []byte) []byte { b[0] = 0xd6; return b }), Accept, 0},
		{"VN 1", base(func(b []byte) []byte { b[0] = 0x0e; return b }), Accept, 0},
		{"VN 4", base(func(b []byte) []byte { b[0] = 0x26; return b }), Accept, 0},
		{"VN 0", base(func(b []byte) []byte { b[0] = 0x06; return b }), Drop, 0},
		{"VN 5", base(func(b []byte) []byte { b[0] = 0x2e; return b }), Drop, 0},
		{"mode 3", base(func(b []byte) []byte { b[0] = 0x13; return b }), Drop, 0},
		{"short", []byte{0x16, 2, 0, 1}, Drop, 0},
		{"empty", nil, Drop, 0},
		{"R bit", base(func(b []byte) []byte { b[1] |= 0x80; return b }), Drop, 0},
		{"E bit", base(func(b []byte) []byte { b[1] |= 0x40; return b }), Drop, 0},
		{"M bit", base(func(b []byte) []byte { b[1] |= 0x20; return b }), Drop, 0},
		{"offset", base(func(b []byte) []byte { b[9] = 4; return b }), Drop, 0},
		{"ntpstat 576", base(func(b []byte) []byte { return append(b, make([]byte, 564)...) }), Accept, 0},
		{"length not multiple of 4", base(func(b []byte) []byte { return append(b, 0) }), Reject, ErrCodeBadFmt},
		{"count too big", base(func(b []byte) []byte { b[11] = 8; return append(b, 'a', 'b', 'c', 'd') }), Reject, ErrCodeBadFmt},
		{"varlist", MarshalRequest(NewRequest(OpReadVar, 2, 0), []byte("leap,stratum,refid")), Accept, 0},
		{"varlist + MD5 MAC", append(MarshalRequest(NewRequest(OpReadVar, 2, 0), []byte("leap,stratum,refid")), make([]byte, 4+20)...), Accept, 0},
		{"unknown opcode is accepted here", MarshalRequest(NewRequest(17, 2, 0), nil), Accept, 0},
	} {
		d := ValidateRequest(tc.b)
		if d.Verdict != tc.want || d.Code != tc.code {
			t.Errorf("%s: got %v/%v (%s), want %v/%v", tc.name, d.Verdict, d.Code, d.Reason, tc.want, tc.code)
		}
	}
}

func TestParseMAC(t *testing.T) {
	req := MarshalRequest(NewRequest(OpReadVar, 2, 0), []byte("leap,stratum,refid")) // 32 octets, 8-aligned
	for _, n := range []int{16, 20} {
		mac := append([]byte{0, 0, 0, 42}, bytes.Repeat([]byte{0xaa}, n)...)
		p := mustParse(t, append(append([]byte{}, req...), mac...))
		if !bytes.Equal(p.MAC, mac) || p.KeyID() != 42 || p.Trailing != 0 || string(p.Data) != "leap,stratum,refid" {
			t.Errorf("MAC %d: %+v", n, p)
		}
	}
	// Data ending at 4 mod 8: the MAC starts after 4 octets of alignment.
	r2 := MarshalRequest(NewRequest(OpReadVar, 2, 0), []byte("leap,str")) // 20 octets
	p := mustParse(t, append(append(r2, 0, 0, 0, 0, 0, 0, 0, 7), make([]byte, 16)...))
	if p.KeyID() != 7 || len(p.MAC) != 20 {
		t.Errorf("aligned MAC: %+v", p)
	}
	// Neither MAC size: trailing octets.
	p = mustParse(t, append(append([]byte{}, req...), make([]byte, 12)...))
	if p.MAC != nil || p.Trailing != 12 || p.KeyID() != 0 {
		t.Errorf("trailing: %+v", p)
	}
	if _, err := Parse([]byte{0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}); !errors.Is(err, ErrCount) {
		t.Error(err)
	}
	if _, err := Parse([]byte{0x13, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrNotMode6) {
		t.Error(err)
	}
}

func TestFragmentSplits(t *testing.T) {
	req := NewRequest(OpReadVar, 3, 4)
	tmpl := ReplyHeader(req, LeapAlarm, 0x8011)
	for _, n := range []int{0, 1, 467, 468, 469, 936, 937, MaxResponse} {
		data := bytes.Repeat([]byte{'z'}, n)
		frags, err := Fragment(tmpl, data)
		if err != nil {
			t.Fatal(n, err)
		}
		if len(frags) != NumFragments(n) {
			t.Fatalf("%d: %d fragments", n, len(frags))
		}
		var got []byte
		for i, f := range frags {
			p := mustParse(t, f)
			if p.LI != LeapAlarm || p.Version != 2 || p.Sequence != 3 || p.AssocID != 4 || p.Status != 0x8011 ||
				!p.Response || p.Error || p.More != (i < len(frags)-1) || int(p.Offset) != len(got) ||
				(p.More && p.Count != MaxFragData) || len(f)%4 != 0 {
				t.Fatalf("%d/%d: %v", n, i, p.Header)
			}
			got = append(got, p.Data...)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d: data differs", n)
		}
		// EachFragment gives the same datagrams.
		i := 0
		err = EachFragment(nil, tmpl, data, func(pkt []byte) error {
			if !bytes.Equal(pkt, frags[i]) {
				t.Fatalf("%d: EachFragment %d differs", n, i)
			}
			i++
			return nil
		})
		if err != nil || i != len(frags) {
			t.Fatal(err, i)
		}
	}
	if _, err := Fragment(tmpl, make([]byte, MaxResponse+1)); !errors.Is(err, ErrTooLarge) {
		t.Error(err)
	}
	for _, cuts := range [][]uint16{{0}, {469}, {5, 5}, {10, 3}, {100}} {
		if _, err := FragmentAt(tmpl, make([]byte, 50), cuts); err == nil {
			t.Errorf("cuts %v accepted", cuts)
		}
	}
	if _, err := FragmentAt(tmpl, make([]byte, 500), []uint16{}); err == nil {
		t.Error("500 octets in one fragment accepted")
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		c              ErrorCode
		classic, ntpsc string
	}{
		{ErrCodeUnknownVar, "***A request variable unknown to the server", "***Server error code UNKNOWNVAR"},
		{ErrCodeBadAssoc, "***Association ID 12345 unknown to server", "***Server error code BADASSOC"},
		{ErrCodePermission, "***Server disallowed request (authentication?)", "***Server error code PERMISSION"},
		{ErrCodeBadFmt, "***Server reports a bad format request packet", "***Server error code BADFMT"},
		{ErrCodeBadOp, "***Server reports a bad opcode in request", "***Server error code BADOP"},
		{ErrCodeBadValue, "***Server indicates a request variable was bad", "***Server error code BADVALUE"},
		{ErrCodeUnspec, "***Server returned an unspecified error", "***Server error code UNSPEC"},
		{ErrCodeRestrict, "***Server returns unknown error code 7", "***Server error code RESTRICT"},
		{9, "***Server returns unknown error code 9", "***Server error code 9"},
	} {
		if got := tc.c.ClassicMessage(12345); got != tc.classic {
			t.Errorf("%v classic: %q", tc.c, got)
		}
		if got := tc.c.SecMessage(); got != tc.ntpsc {
			t.Errorf("%v sec: %q", tc.c, got)
		}
	}
	if OpReadVar.String() != "READVAR" || Opcode(20).String() != "OP_20" || !OpUnsetTrap.Known() {
		t.Error("opcode names")
	}
}
