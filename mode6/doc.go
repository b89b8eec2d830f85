// Package mode6 implements the NTP mode 6 control protocol (the protocol
// of ntpq and ntpstat) in both directions, as pure functions over byte
// slices: the caller owns sockets, deadlines and clocks.
//
// Wire format (SPEC §1): a 12-octet Header (LI, VN, mode 6, R/E/M bits,
// Opcode, sequence, status word, association id, offset, count), Count
// octets of data padded with zeros to 4 octets, optionally an
// authenticator (key id + 16/20 octet MAC) at the 8-aligned end of the
// data. ParseHeader and Parse decode; Header.Append, AppendRequest and
// MarshalRequest encode.
//
// Server side: ValidateRequest applies the daemons' acceptance rules and
// returns a Decision (Accept, Drop silently, or Reject with BADFMT).
// ReplyHeader builds the response template (VN, opcode, sequence and
// association id echoed, LI = system leap); Fragment and EachFragment split
// a response into datagrams of exactly MaxFragData (468) data octets (the
// last one shorter) with the M bit and offsets set; AppendError builds an
// error response. VarEncoder writes READVAR text with the daemons' exact
// 72-column line-break rule and final CRLF, without allocating, and
// VarEncoder.Cuts tells where the daemons end each fragment (at 468 octets
// inside an item, or earlier when an item leaves fewer than 3 octets free);
// FragmentAt/EachFragmentAt with those cuts reproduce the captured
// datagrams of both reference daemons byte for byte (except the padding,
// where they leave stale octets and we send zeros). AppendAssocList writes
// the READSTAT payload.
//
// Client side: Assembler reassembles fragments by offset (out of order,
// duplicates and overlaps ignored, at most MaxFrags fragments and a size
// cap), ignoring stray datagrams; a server error becomes a *ServerError
// whose ErrorCode gives the ntpq-classic and ntpq-sec messages. Tokenize
// splits variable text into ordered Var items; ParseTimestamp, ParseHex,
// ParseInt and ParseFloat parse values; ParseAssocList decodes READSTAT.
//
// Status words (SPEC §2): SysStatus, PeerStatus and ClockStatus decode and
// encode the 16-bit words; their String methods give ntpq-classic's rv
// text ("leap_none, sync_ntp, 1 event, clock_sync"), and Tally, Condition,
// SelName, PeerEventName and PeerEventListName give the other tables.
//
// Typical daemon path (no allocations with reused buffers):
//
//	d := mode6.ValidateRequest(pkt)
//	switch d.Verdict {
//	case mode6.Drop:
//		return
//	case mode6.Reject:
//		send(mode6.AppendError(buf[:0], d.Request.Header, leap, d.Code))
//		return
//	}
//	enc.Reset(text[:0])
//	enc.Int("stratum", 3) // ...
//	data := enc.Finish()
//	cuts, err := enc.Cuts()
//	tmpl := mode6.ReplyHeader(d.Request.Header, leap, sysStatus.Word())
//	err = mode6.EachFragmentAt(buf, tmpl, data, cuts, send)
//
// Typical client path: build the request with NewRequest + MarshalRequest
// (set LI 3 to look like ntpq-sec), create an Assembler for its header,
// feed every datagram read before the deadline to AddBytes until done,
// then Tokenize(a.Data()) or ParseAssocList(a.Data()).
package mode6
