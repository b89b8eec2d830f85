package mode6

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("seeds", false, "rewrite the fuzz seed corpus in testdata/fuzz from the captures")

func FuzzParse(f *testing.F) {
	f.Add(MarshalRequest(NewRequest(OpReadStat, 1, 0), nil))
	f.Add(append(MarshalRequest(NewRequest(OpReadVar, 1, 0), nil), make([]byte, 564)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		d := ValidateRequest(b)
		if err != nil {
			if d.Verdict == Accept {
				t.Fatalf("Parse failed (%v) but request accepted", err)
			}
			return
		}
		if len(p.Data) != int(p.Count) || HeaderLen+len(p.Data)+len(p.MAC) > len(b) {
			t.Fatalf("bad lengths: %v data %d mac %d len %d", p.Header, len(p.Data), len(p.MAC), len(b))
		}
		if p.MAC != nil && len(p.MAC) != 20 && len(p.MAC) != 24 {
			t.Fatalf("MAC length %d", len(p.MAC))
		}
		if p.Trailing < 0 || p.Trailing > len(b) {
			t.Fatalf("trailing %d", p.Trailing)
		}
		if got := p.Header.Append(nil); !bytes.Equal(got, b[:HeaderLen]) {
			t.Fatalf("header re-encode % x != % x", got, b[:HeaderLen])
		}
		if d.Verdict == Accept {
			if p.Response || p.Error || p.More || p.Offset != 0 || p.Version < 1 || p.Version > 4 || len(b)%4 != 0 {
				t.Fatalf("accepted bad request %v", p.Header)
			}
			re := AppendRequest(nil, p.Header, p.Data)
			if !bytes.Equal(re[:HeaderLen+len(p.Data)], b[:HeaderLen+len(p.Data)]) {
				t.Fatalf("request re-encode differs")
			}
		}
		if p.Op == OpReadStat && p.Response {
			if l, err := ParseAssocList(p.Data); err == nil && !bytes.Equal(AppendAssocList(nil, l), p.Data) {
				t.Fatal("assoc list round trip")
			}
		}
	})
}

// FuzzAssembler feeds a sequence of fragments described by the input
// (6 octets each: offset u16, count u8, flags, seq/assoc perturbation) to an
// Assembler. Fragment contents are derived from their offsets, so a
// completed response must read back as byte(i*7) at every position i.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 0, 200, 1, 0, 0, 0, 200, 100, 0, 0, 0})
	f.Add([]byte{0, 100, 50, 0, 0, 0, 0, 0, 100, 1, 0, 0, 0, 0, 100, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := NewRequest(OpReadVar, 77, 5)
		a := NewAssembler(req, 4000)
		var done bool
		var err error
		for len(b) >= 6 {
			off := int(binary.BigEndian.Uint16(b)) % 5000
			n := int(b[2])
			fl := b[3]
			h := req
			if b[4]&1 != 0 {
				h.Sequence++
			}
			if b[4]&2 != 0 {
				h.AssocID++
			}
			if b[4]&4 != 0 {
				h.Op = OpReadStat
			}
			h.Response = fl&4 == 0
			h.Error = fl&8 != 0
			h.More = fl&1 != 0
			h.Mode = Mode
			h.Offset, h.Count = uint16(off), uint16(n)
			h.Status = uint16(b[5]) << 8
			data := make([]byte, n)
			for i := range data {
				data[i] = byte((off + i) * 7)
			}
			var pkt []byte
			if fl&2 != 0 {
				pkt = AppendFragmentRange(nil, h, data, off, h.More)
				if h.Error || !h.Response {
					pkt[1] = byte(h.Op)
					if h.Response {
						pkt[1] |= 0x80
					}
					if h.Error {
						pkt[1] |= 0x40
					}
					if h.More {
						pkt[1] |= 0x20
					}
				}
				done, err = a.AddBytes(pkt)
			} else {
				done, err = a.Add(Packet{Header: h, Data: data})
			}
			b = b[6:]
			if a.Fragments() > MaxFrags {
				t.Fatalf("%d fragments accepted", a.Fragments())
			}
			if done {
				break
			}
		}
		if !done {
			if a.Err() == nil {
				t.Fatal("not done but Err() == nil")
			}
			if a.Data() != nil {
				t.Fatal("data before done")
			}
			return
		}
		if err != nil {
			if a.Data() != nil {
				t.Fatal("data with error")
			}
			return
		}
		d := a.Data()
		if len(d) > 4000 {
			t.Fatalf("size cap exceeded: %d", len(d))
		}
		for i, c := range d {
			if c != byte(i*7) {
				t.Fatalf("octet %d = %d, want %d", i, c, byte(i*7))
			}
		}
	})
}

func FuzzTokenize(f *testing.F) {
	f.Add([]byte("leap=0, stratum=3, refid=198.18.123.7\r\n"))
	f.Add([]byte(`version="ntpd 4.2.8p15, x=y", flag,, =z`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := Tokenize(b)
		if len(vars) > MaxVars {
			t.Fatalf("%d vars", len(vars))
		}
		if err != nil {
			return
		}
		balanced := true
		var e VarEncoder
		e.Reset(nil)
		for _, v := range vars {
			if strings.ContainsAny(v.Name, ",=") || (len(v.Name) > 0 && strings.ContainsAny(v.Name[:1], " \t\r\n")) {
				t.Fatalf("bad name %q", v.Name)
			}
			if !v.HasValue && v.Value != "" {
				t.Fatalf("value without '=': %+v", v)
			}
			if strings.Count(v.RawValue, `"`)%2 != 0 {
				balanced = false
			}
			if v.HasValue {
				e.Raw(v.Name, v.RawValue)
			} else {
				e.Bare(v.Name)
			}
		}
		text := e.Finish()
		if _, err := e.Cuts(); err == nil {
			if _, err := FragmentAt(Header{}, text, mustCuts(e)); err != nil {
				t.Fatalf("cuts rejected: %v", err)
			}
		}
		if !balanced {
			return
		}
		again, err := Tokenize(text)
		if err != nil || len(again) != len(vars) {
			t.Fatalf("re-tokenize: %d vs %d vars (%v)\n%q", len(again), len(vars), err, text)
		}
		for i := range vars {
			if again[i] != vars[i] {
				t.Fatalf("var %d: %+v != %+v", i, again[i], vars[i])
			}
		}
		for _, v := range vars { // value parsers must not panic
			ParseTimestamp(v.Value)
			ParseHex(v.Value)
			ParseFloat(v.Value)
			ParseInt(v.Value)
		}
	})
}

func mustCuts(e VarEncoder) []uint16 { c, _ := e.Cuts(); return c }

// TestWriteFuzzSeeds rewrites testdata/fuzz/* from the captures when run
// with -seeds; otherwise it checks the seed corpus exists.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		for _, d := range []string{"FuzzParse", "FuzzAssembler", "FuzzTokenize"} {
			m, _ := filepath.Glob(filepath.Join("testdata/fuzz", d, "*"))
			if len(m) == 0 {
				t.Errorf("no seeds in testdata/fuzz/%s", d)
			}
		}
		return
	}
	write := func(dir string, b []byte) {
		t.Helper()
		p := filepath.Join("testdata/fuzz", dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(p, fmt.Sprintf("%x", sum[:8])), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, ex := range exchanges(t) {
		if !seen[string(ex.raw)] {
			seen[string(ex.raw)] = true
			write("FuzzParse", ex.raw)
		}
		for _, r := range ex.resps {
			if !seen[string(r)] {
				seen[string(r)] = true
				write("FuzzParse", r)
			}
		}
		if ex.done && ex.err == nil && ex.req.Op == OpReadVar {
			if d := ex.asm.Data(); !seen[string(d)] {
				seen[string(d)] = true
				write("FuzzTokenize", d)
			}
		}
	}
	// Assembler descriptors: in order, reversed, duplicate, overlap, hole.
	for _, s := range [][]byte{
		{0, 0, 255, 1, 0, 0, 0, 255, 10, 0, 0, 0},
		{0, 255, 10, 2, 0, 0, 0, 0, 255, 3, 0, 0},
		{0, 0, 10, 1, 0, 0, 0, 0, 10, 1, 0, 0, 0, 5, 10, 1, 0, 0, 0, 10, 3, 0, 0, 0},
		{0, 0, 10, 1, 0, 0, 0, 20, 3, 0, 0, 0},
		{0, 0, 0, 8, 0, 5},
		{0, 0, 10, 1, 1, 0, 0, 0, 10, 1, 2, 0, 0, 0, 10, 4, 4, 0},
	} {
		write("FuzzAssembler", s)
	}
}
