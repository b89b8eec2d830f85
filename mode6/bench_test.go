package mode6

import "testing"

// encodePeer writes a peer variable list shaped like ntpd-sec's (SPEC §3.2).
func encodePeer(e *VarEncoder, buf []byte) []byte {
	e.Reset(buf[:0])
	e.Raw("srcadr", "198.18.123.2")
	e.Int("srcport", 123)
	e.Raw("dstadr", "198.18.123.1")
	e.Int("dstport", 123)
	e.Int("leap", 0)
	e.Int("hmode", 3)
	e.Int("stratum", 3)
	e.Int("ppoll", 6)
	e.Int("hpoll", 6)
	e.Int("precision", -25)
	e.Fixed("rootdelay", 0, 3)
	e.Fixed("rootdisp", 0, 3)
	e.Raw("refid", "127.127.1.1")
	e.Timestamp("reftime", 0xeeaccfb9fdb9ba02)
	e.Timestamp("rec", 0xeeaccfbb5094e886)
	e.Timestamp("xmt", 0xeeaccfbb50944322)
	e.Hex("reach", 0x3f)
	e.Int("unreach", 0)
	e.Fixed("delay", 0.019283, 6)
	e.Fixed("offset", -0.000216, 6)
	e.Fixed("jitter", 0.015280, 6)
	e.Fixed("dispersion", 0.959563, 6)
	e.Int("keyid", 0)
	for _, name := range []string{"filtdelay", "filtoffset"} {
		e.Begin(name)
		for i := 0; i < 8; i++ {
			e.AppendString(" ")
			e.AppendFixed(0.02*float64(i), 2)
		}
		e.End()
	}
	e.Int("pmode", 4)
	e.Begin("filtdisp")
	for i := 0; i < 8; i++ {
		e.AppendString(" ")
		e.AppendFixed(1.01*float64(i), 2)
	}
	e.End()
	e.Hex("flash", 0)
	e.Int("headway", 297)
	e.Quoted("srchost", "pool.ref.test")
	return e.Finish()
}

// BenchmarkPeerResponse: encode a two-fragment peer variable list and build
// its datagrams, as the daemon's hot path does with reused buffers.
// Expect 0 allocs/op.
func BenchmarkPeerResponse(b *testing.B) {
	var e VarEncoder
	text := make([]byte, 0, 2048)
	pkt := make([]byte, 0, HeaderLen+MaxFragData)
	tmpl := ReplyHeader(NewRequest(OpReadVar, 2, 17767), 0, 0xb41a)
	var sent int
	send := func(p []byte) error { sent += len(p); return nil }
	b.ReportAllocs()
	for b.Loop() {
		data := encodePeer(&e, text)
		cuts, err := e.Cuts()
		if err != nil {
			b.Fatal(err)
		}
		if err := EachFragmentAt(pkt, tmpl, data, cuts, send); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(sent / max(b.N, 1)))
}

// BenchmarkVarEncoder: the text alone.
func BenchmarkVarEncoder(b *testing.B) {
	var e VarEncoder
	text := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		encodePeer(&e, text)
	}
}

// BenchmarkAssembler: client-side reassembly of the same response, reusing
// the Assembler.
func BenchmarkAssembler(b *testing.B) {
	var e VarEncoder
	data := encodePeer(&e, nil)
	cuts, _ := e.Cuts()
	req := NewRequest(OpReadVar, 2, 17767)
	frags, err := FragmentAt(ReplyHeader(req, 0, 0xb41a), data, cuts)
	if err != nil {
		b.Fatal(err)
	}
	a := NewAssembler(req, 0)
	b.ReportAllocs()
	for b.Loop() {
		a.Reset(req, 0)
		for i := len(frags) - 1; i >= 0; i-- {
			if _, err := a.AddBytes(frags[i]); err != nil {
				b.Fatal(err)
			}
		}
		if !a.Done() {
			b.Fatal("not done")
		}
	}
}

// BenchmarkTokenize: client-side parsing of the response text.
func BenchmarkTokenize(b *testing.B) {
	var e VarEncoder
	data := encodePeer(&e, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Tokenize(data); err != nil {
			b.Fatal(err)
		}
	}
}
