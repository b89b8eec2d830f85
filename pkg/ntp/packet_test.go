package ntp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// ntpdateRequest is the mode 3 request classic ntpdate sends (SPEC §5):
// LI 3, VN 4, mode 3, poll 3, precision -6, root delay and dispersion 1 s.
const ntpdateRequest = "e30003fa000100000001000000000000" +
	"000000000000000000000000000000000000000000000000eeaccf7950000000"

func TestHeaderRoundTrip(t *testing.T) {
	raw, _ := hex.DecodeString(ntpdateRequest)
	h, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.Leap != LeapAlarm || h.Version != 4 || h.Mode != ModeClient || h.Poll != 3 || h.Precision != -6 {
		t.Fatalf("decoded %+v", h)
	}
	if h.RootDelay != 0x10000 || h.RootDispersion != 0x10000 {
		t.Fatalf("root delay/disp %#x %#x", h.RootDelay, h.RootDispersion)
	}
	if !bytes.Equal(h.Marshal(), raw) {
		t.Fatalf("re-encoded %x", h.Marshal())
	}
}

func TestParseTrailers(t *testing.T) {
	hdr := make([]byte, HeaderLen)
	hdr[0] = 0x23
	ext := []byte{0x01, 0x04, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	mac := append([]byte{0, 0, 0, 7}, bytes.Repeat([]byte{0xaa}, 16)...)
	tests := []struct {
		name    string
		pkt     []byte
		exts    int
		keyID   int64 // -1: no MAC
		wantErr error
	}{
		{"bare header", hdr, 0, -1, nil},
		{"short", hdr[:47], 0, -1, ErrShort},
		{"md5 mac", cat(hdr, mac), 0, 7, nil},
		{"sha1 mac", cat(hdr, []byte{0, 0, 0, 9}, make([]byte, 20)), 0, 9, nil},
		{"crypto nak", cat(hdr, []byte{0, 0, 0, 0}), 0, 0, nil},
		{"extension then mac", cat(hdr, ext, mac), 1, 7, nil},
		{"extension only", cat(hdr, ext, ext), 2, -1, nil},
		{"odd length", cat(hdr, []byte{1, 2}), 0, -1, ErrBadLength},
		{"8 trailing octets", cat(hdr, make([]byte, 8)), 0, -1, ErrTrailer},
		{"extension too long", cat(hdr, []byte{0, 1, 0xff, 0xf0}, make([]byte, 28)), 0, -1, ErrTrailer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.pkt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(p.Extensions) != tt.exts {
				t.Fatalf("extensions = %d, want %d", len(p.Extensions), tt.exts)
			}
			if (p.MAC == nil) != (tt.keyID < 0) || (p.MAC != nil && int64(p.MAC.KeyID) != tt.keyID) {
				t.Fatalf("MAC = %+v, want key %d", p.MAC, tt.keyID)
			}
			if got := p.Append(nil); !bytes.Equal(got, tt.pkt) {
				t.Fatalf("Append = %x\nwant     %x", got, tt.pkt)
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func FuzzParse(f *testing.F) {
	raw, _ := hex.DecodeString(ntpdateRequest)
	f.Add(raw)
	f.Add(append(append([]byte{}, raw...), 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
	f.Add(append(append([]byte{}, raw...), 0, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		// A packet that parses re-encodes to the same bytes.
		if got := p.Append(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
	})
}
