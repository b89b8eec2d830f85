package mode6

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func mustParse(t testing.TB, b []byte) Packet {
	t.Helper()
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Encode a long variable list, fragment it, shuffle the datagrams, add
// strays and duplicates, reassemble and tokenize: the variables come back.
func TestRoundTripShuffled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		nvars := 1 + rng.IntN(300)
		var e VarEncoder
		e.Reset(nil)
		var want []Var
		for i := 0; i < nvars; i++ {
			name := "v" + strings.Repeat("x", rng.IntN(10)) + string(rune('a'+i%26))
			var v string
			switch rng.IntN(4) {
			case 0:
				e.Int(name, int64(rng.IntN(100000))-50000)
				v = string(e.Bytes()[len(e.Bytes())-len(itoa(e.Bytes())):])
			case 1:
				s := "a, b=c " + strings.Repeat("y", rng.IntN(80))
				e.Quoted(name, s)
				v = `"` + s + `"`
			case 2:
				ts := rng.Uint64()
				e.Timestamp(name, ts)
				v = string(AppendTimestamp(nil, ts))
			default:
				f := rng.NormFloat64() * 1000
				e.Fixed(name, f, 6)
				v = string(AppendFixed(nil, f, 6))
			}
			want = append(want, Var{Name: name, Value: v})
		}
		data := e.Finish()
		cuts, err := e.Cuts()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				continue
			}
			t.Fatal(err)
		}
		req := NewRequest(OpReadVar, uint16(iter), 7)
		frags, err := FragmentAt(ReplyHeader(req, 0, 0x961a), data, cuts)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range frags {
			p := mustParse(t, f)
			if p.Count > MaxFragData || (i < len(frags)-1) != p.More || len(f)%4 != 0 {
				t.Fatalf("fragment %d: %v len %d", i, p.Header, len(f))
			}
		}
		// Strays: other sequence, other assoc, a request, garbage.
		stray := [][]byte{
			MarshalRequest(req, nil),
			{1, 2, 3},
		}
		other := req
		other.Sequence++
		o, _ := Fragment(ReplyHeader(other, 0, 0), []byte("x=1\r\n"))
		stray = append(stray, o...)
		other = req
		other.AssocID++
		o, _ = Fragment(ReplyHeader(other, 0, 0), []byte("x=1\r\n"))
		stray = append(stray, o...)
		pkts := append(append([][]byte{}, frags...), stray...)
		pkts = append(pkts, frags[rng.IntN(len(frags))]) // a duplicate
		rng.Shuffle(len(pkts), func(i, j int) { pkts[i], pkts[j] = pkts[j], pkts[i] })

		a := NewAssembler(req, 0)
		done := false
		for _, p := range pkts {
			d, err := a.AddBytes(p)
			if err != nil {
				t.Fatalf("iter %d: %v", iter, err)
			}
			if d {
				done = true
			}
		}
		if !done || a.Err() != nil {
			t.Fatalf("iter %d: not done: %v", iter, a.Err())
		}
		if !bytes.Equal(a.Data(), data) {
			t.Fatalf("iter %d: data differs", iter)
		}
		if a.Status() != 0x961a {
			t.Fatalf("status %04x", a.Status())
		}
		got, err := Tokenize(a.Data())
		if err != nil || len(got) != len(want) {
			t.Fatalf("iter %d: %d vars (want %d), %v", iter, len(got), len(want), err)
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
				t.Fatalf("iter %d var %d: got %+v want %+v", iter, i, got[i], want[i])
			}
		}
	}
}

// itoa returns the trailing decimal integer of b (helper for the Int case).
func itoa(b []byte) string {
	i := len(b)
	for i > 0 && (b[i-1] >= '0' && b[i-1] <= '9' || b[i-1] == '-') {
		i--
	}
	return string(b[i:])
}

func frag(h Header, off int, data string, more bool) Packet {
	h.Response, h.More, h.Mode = true, more, Mode
	h.Offset, h.Count = uint16(off), uint16(len(data))
	return Packet{Header: h, Data: []byte(data)}
}

func TestAssembler(t *testing.T) {
	req := NewRequest(OpReadVar, 5, 9)
	t.Run("in order", func(t *testing.T) {
		a := NewAssembler(req, 0)
		if d, err := a.Add(frag(req, 0, "abc", true)); d || err != nil {
			t.Fatal(d, err)
		}
		if d, err := a.Add(frag(req, 3, "de", false)); !d || err != nil {
			t.Fatal(d, err)
		}
		if string(a.Data()) != "abcde" || a.Fragments() != 2 {
			t.Fatalf("%q", a.Data())
		}
	})
	t.Run("last first, duplicate and overlap ignored", func(t *testing.T) {
		a := NewAssembler(req, 0)
		a.Add(frag(req, 6, "gh", false))
		a.Add(frag(req, 6, "gh", false))   // duplicate
		a.Add(frag(req, 2, "XXXXX", true)) // overlaps [6,8)
		a.Add(frag(req, 0, "ab", true))
		a.Add(frag(req, 1, "QQ", true))  // overlaps [0,2)
		a.Add(frag(req, 7, "Z", true))   // overlaps the last fragment
		a.Add(frag(req, 8, "Z", true))   // beyond the last fragment
		a.Add(frag(req, 4, "ZZ", false)) // second, different last fragment
		if a.Done() {
			t.Fatal("done early")
		}
		if d, err := a.Add(frag(req, 2, "cdef", true)); !d || err != nil {
			t.Fatal(d, err)
		}
		if string(a.Data()) != "abcdefgh" || a.Ignored != 6 {
			t.Errorf("%q ignored %d", a.Data(), a.Ignored)
		}
	})
	t.Run("hole reported", func(t *testing.T) {
		a := NewAssembler(req, 0)
		a.Add(frag(req, 0, "ab", true))
		a.Add(frag(req, 4, "ef", false))
		if a.Done() {
			t.Fatal("done with a hole")
		}
		err := a.Err()
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "2-4") {
			t.Fatalf("%v", err)
		}
		if d, err := a.Add(frag(req, 2, "cd", true)); !d || err != nil || string(a.Data()) != "abcdef" {
			t.Fatal(d, err, a.Data())
		}
	})
	t.Run("no last fragment", func(t *testing.T) {
		a := NewAssembler(req, 0)
		a.Add(frag(req, 0, "ab", true))
		if err := a.Err(); !errors.Is(err, ErrIncomplete) {
			t.Fatal(err)
		}
		if err := NewAssembler(req, 0).Err(); !errors.Is(err, ErrIncomplete) {
			t.Fatal(err)
		}
	})
	t.Run("empty response", func(t *testing.T) {
		a := NewAssembler(req, 0)
		if d, err := a.Add(frag(req, 0, "", false)); !d || err != nil || len(a.Data()) != 0 {
			t.Fatal(d, err)
		}
	})
	t.Run("strays ignored", func(t *testing.T) {
		a := NewAssembler(req, 0)
		bad := []Packet{}
		h := req
		h.Sequence++
		bad = append(bad, frag(h, 0, "x", false))
		h = req
		h.AssocID++
		bad = append(bad, frag(h, 0, "x", false))
		h = req
		h.Op = OpReadStat
		bad = append(bad, frag(h, 0, "x", false))
		p := frag(req, 0, "x", false)
		p.Response = false
		bad = append(bad, p)
		p = frag(req, 0, "x", false)
		p.Mode = 4
		bad = append(bad, p)
		p = frag(req, 0, "x", false)
		p.Count = 9
		bad = append(bad, p)
		for _, p := range bad {
			if d, err := a.Add(p); d || err != nil {
				t.Fatal(d, err)
			}
		}
		if a.Ignored != len(bad) {
			t.Fatal(a.Ignored)
		}
	})
	t.Run("server error", func(t *testing.T) {
		a := NewAssembler(req, 0)
		b := AppendError(nil, req, 0, ErrCodeBadAssoc)
		d, err := a.AddBytes(b)
		var se *ServerError
		if !d || !errors.As(err, &se) || se.Code != ErrCodeBadAssoc {
			t.Fatal(d, err)
		}
		if se.Code.ClassicMessage(se.AssocID) != "***Association ID 9 unknown to server" {
			t.Error(se.Code.ClassicMessage(se.AssocID))
		}
		if d, err2 := a.Add(frag(req, 0, "x", false)); !d || err2 != err {
			t.Fatal("state changed after done")
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		a := NewAssembler(req, 0)
		var err error
		for i := 0; i <= MaxFrags; i++ {
			_, err = a.Add(frag(req, i, "x", true))
		}
		if !errors.Is(err, ErrTooMany) {
			t.Fatal(err)
		}
	})
	t.Run("size cap", func(t *testing.T) {
		a := NewAssembler(req, 100)
		if _, err := a.Add(frag(req, 98, "xyz", true)); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	})
	t.Run("zero value", func(t *testing.T) {
		var a Assembler
		if d, err := a.Add(frag(Header{}, 0, "ok", false)); !d || err != nil || string(a.Data()) != "ok" {
			t.Fatal(d, err)
		}
	})
	t.Run("reset reuses", func(t *testing.T) {
		a := NewAssembler(req, 0)
		a.Add(frag(req, 0, "abc", false))
		r2 := req
		r2.Sequence = 6
		a.Reset(r2, 0)
		if a.Done() || a.Ignored != 0 {
			t.Fatal("not reset")
		}
		if d, _ := a.Add(frag(r2, 0, "z", false)); !d || string(a.Data()) != "z" {
			t.Fatal("reuse")
		}
	})
}
