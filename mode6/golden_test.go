package mode6

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
)

// exchange is one request and the response datagrams captured for it.
type exchange struct {
	file  string
	port  uint16
	req   Packet
	raw   []byte
	resps [][]byte // in capture order
	asm   *Assembler
	done  bool
	err   error
}

// exchanges pairs the mode 6 requests and responses of every capture in
// testdata/pcap (copied from /work/shared/compat/golden), feeding every
// response from the server to every open request of the same client port so
// that the Assembler's stray filtering is exercised too.
func exchanges(t *testing.T) []*exchange {
	t.Helper()
	var all []*exchange
	caps := allPcaps(t)
	names := make([]string, 0, len(caps))
	for n := range caps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		open := map[uint16][]*exchange{}
		for _, cp := range caps[name] {
			if len(cp.payload) < HeaderLen || cp.payload[0]&7 != Mode {
				continue
			}
			switch {
			case cp.dport == 123:
				d := ValidateRequest(cp.payload)
				if d.Verdict != Accept {
					t.Errorf("%s: captured request % x: verdict %v (%s)", name, cp.payload[:HeaderLen], d.Verdict, d.Reason)
					continue
				}
				ex := &exchange{file: name, port: cp.sport, req: d.Request, raw: cp.payload,
					asm: NewAssembler(d.Request.Header, 0)}
				open[cp.sport] = append(open[cp.sport], ex)
				all = append(all, ex)
			case cp.sport == 123:
				for _, ex := range open[cp.dport] {
					if ex.done {
						continue
					}
					before := ex.asm.Ignored
					ex.done, ex.err = ex.asm.AddBytes(cp.payload)
					if ex.asm.Ignored == before {
						ex.resps = append(ex.resps, cp.payload)
					}
				}
			}
		}
	}
	if len(all) < 50 {
		t.Fatalf("only %d exchanges found in captures", len(all))
	}
	return all
}

func TestGoldenCaptures(t *testing.T) {
	exs := exchanges(t)
	var nFrag, nVar, nStat int
	for _, ex := range exs {
		name := fmt.Sprintf("%s:%d/seq%d/%v/assoc%d", ex.file, ex.port, ex.req.Sequence, ex.req.Op, ex.req.AssocID)
		// The request re-encodes byte for byte (up to the surplus octets).
		want := ex.raw[:HeaderLen+pad4(int(ex.req.Count))]
		if got := AppendRequest(nil, Header{LI: ex.req.LI, Version: ex.req.Version, Op: ex.req.Op,
			Sequence: ex.req.Sequence, AssocID: ex.req.AssocID}, ex.req.Data); !bytes.Equal(got, want) {
			t.Errorf("%s: request re-encode\n got % x\nwant % x", name, got, want)
		}
		if len(ex.resps) == 0 {
			continue // some captures hold requests only
		}
		if !ex.done {
			t.Errorf("%s: response not complete: %v", name, ex.asm.Err())
			continue
		}
		var se *ServerError
		if ex.err != nil {
			if !asServerError(ex.err, &se) {
				t.Errorf("%s: %v", name, ex.err)
				continue
			}
			got := AppendError(nil, ex.req.Header, ex.resps[0][0]>>6, se.Code)
			if !bytes.Equal(got, ex.resps[0]) {
				t.Errorf("%s: error response\n got % x\nwant % x", name, got, ex.resps[0])
			}
			continue
		}
		data := ex.asm.Data()
		caught := append([][]byte(nil), ex.resps...)
		sort.Slice(caught, func(i, j int) bool {
			hi, _ := ParseHeader(caught[i])
			hj, _ := ParseHeader(caught[j])
			return hi.Offset < hj.Offset
		})
		tmpl := ReplyHeader(ex.req.Header, ex.resps[0][0]>>6, ex.asm.Status())
		var cuts []uint16
		if ex.req.Op == OpReadVar {
			// Tokenize and re-encode with the 72-column rule: must give the
			// daemon's text byte for byte, and the daemon's fragment cuts.
			vars, err := Tokenize(data)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			var e VarEncoder
			e.Reset(nil)
			for _, v := range vars {
				if v.HasValue {
					e.Raw(v.Name, v.RawValue)
				} else {
					e.Bare(v.Name)
				}
			}
			if got := e.Finish(); !bytes.Equal(got, data) {
				t.Errorf("%s: varlist re-encode differs\n got %q\nwant %q", name, got, data)
			}
			if cuts, err = e.Cuts(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			nVar++
		}
		// Re-fragment: must reproduce the captured datagrams (the daemons
		// leave stale octets in the padding; we send zeros).
		frags, err := FragmentAt(tmpl, data, cuts)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) != len(caught) {
			t.Errorf("%s: %d fragments, captured %d", name, len(frags), len(caught))
			continue
		}
		for i := range frags {
			h, _ := ParseHeader(caught[i])
			n := HeaderLen + int(h.Count)
			if len(frags[i]) != len(caught[i]) || !bytes.Equal(frags[i][:n], caught[i][:n]) {
				t.Errorf("%s: fragment %d differs\n got % x\nwant % x", name, i, frags[i], caught[i])
			}
		}
		nFrag++
		switch ex.req.Op {
		case OpReadStat:
			list, err := ParseAssocList(data)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if got := AppendAssocList(nil, list); !bytes.Equal(got, data) {
				t.Errorf("%s: assoc list re-encode differs", name)
			}
			for i := 1; i < len(list); i++ {
				if list[i].AssocID >= list[i-1].AssocID {
					t.Errorf("%s: assoc list not descending: %v", name, list)
				}
			}
			nStat++
		}
	}
	t.Logf("%d exchanges, %d responses re-fragmented exactly, %d READVAR texts, %d READSTAT lists", len(exs), nFrag, nVar, nStat)
	if nVar < 20 || nStat < 3 {
		t.Errorf("too few responses checked: %d READVAR, %d READSTAT", nVar, nStat)
	}
}

func asServerError(err error, se **ServerError) bool {
	e, ok := err.(*ServerError)
	if ok {
		*se = e
	}
	return ok
}

// Byte-exact checks of individual packets quoted in SPEC §1.5.
func TestSpecPackets(t *testing.T) {
	t.Run("classic READSTAT request", func(t *testing.T) {
		got := MarshalRequest(NewRequest(OpReadStat, 1, 0), nil)
		want := []byte{0x16, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(got, want) {
			t.Errorf("got % x want % x", got, want)
		}
	})
	t.Run("ntpq-sec READVAR request", func(t *testing.T) {
		h := NewRequest(OpReadVar, 2, 17767)
		h.LI = 3
		got := MarshalRequest(h, nil)
		want := []byte{0xd6, 0x02, 0x00, 0x02, 0, 0, 0x45, 0x67, 0, 0, 0, 0}
		if !bytes.Equal(got, want) {
			t.Errorf("got % x want % x", got, want)
		}
	})
	t.Run("varlist request", func(t *testing.T) {
		h := NewRequest(OpReadVar, 2, 0)
		h.LI = 3
		got := MarshalRequest(h, []byte("leap,stratum,refid"))
		want := append([]byte{0xd6, 0x02, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x12}, "leap,stratum,refid\x00\x00"...)
		if !bytes.Equal(got, want) {
			t.Errorf("got % x want % x", got, want)
		}
	})
	t.Run("peer response header, two fragments", func(t *testing.T) {
		req := NewRequest(OpReadVar, 2, 17767)
		data := bytes.Repeat([]byte("x"), 468+181)
		frags, err := Fragment(ReplyHeader(req, 0, 0xb41a), data)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) != 2 {
			t.Fatalf("%d fragments", len(frags))
		}
		if want := []byte{0x16, 0xa2, 0x00, 0x02, 0xb4, 0x1a, 0x45, 0x67, 0x00, 0x00, 0x01, 0xd4}; !bytes.Equal(frags[0][:12], want) || len(frags[0]) != 480 {
			t.Errorf("fragment 0: % x (len %d)", frags[0][:12], len(frags[0]))
		}
		if want := []byte{0x16, 0x82, 0x00, 0x02, 0xb4, 0x1a, 0x45, 0x67, 0x01, 0xd4, 0x00, 0xb5}; !bytes.Equal(frags[1][:12], want) || len(frags[1]) != 12+184 {
			t.Errorf("fragment 1: % x (len %d)", frags[1][:12], len(frags[1]))
		}
		if tail := frags[1][12+181:]; !bytes.Equal(tail, []byte{0, 0, 0}) {
			t.Errorf("padding % x", tail)
		}
	})
	t.Run("varlist response count 39", func(t *testing.T) {
		var e VarEncoder
		e.Reset(nil)
		e.Int("leap", 0)
		e.Int("stratum", 3)
		e.Raw("refid", "198.18.123.7")
		data := e.Finish()
		if string(data) != "leap=0, stratum=3, refid=198.18.123.7\r\n" || len(data) != 39 {
			t.Errorf("data %q", data)
		}
		req := NewRequest(OpReadVar, 2, 0)
		req.LI = 3
		frags, _ := Fragment(ReplyHeader(req, 0, 0x0015), data)
		want := append([]byte{0x16, 0x82, 0x00, 0x02, 0x00, 0x15, 0, 0, 0, 0, 0, 39}, "leap=0, stratum=3, refid=198.18.123.7\r\n\x00"...)
		if len(frags) != 1 || !bytes.Equal(frags[0], want) {
			t.Errorf("got % x\nwant % x", frags[0], want)
		}
	})
	t.Run("UNKNOWNVAR error response", func(t *testing.T) {
		req := NewRequest(OpReadVar, 2, 0)
		req.LI = 3
		got := AppendError(nil, req, 0, ErrCodeUnknownVar)
		want := []byte{0x16, 0xc2, 0x00, 0x02, 0x05, 0x00, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(got, want) {
			t.Errorf("got % x want % x", got, want)
		}
	})
	t.Run("ntpstat 576-octet request", func(t *testing.T) {
		b := make([]byte, 576)
		copy(b, []byte{0x16, 0x02, 0x00, 0x01})
		d := ValidateRequest(b)
		if d.Verdict != Accept || d.Request.MAC != nil || d.Request.Trailing != 564 || len(d.Request.Data) != 0 {
			t.Errorf("decision %+v", d)
		}
	})
}
