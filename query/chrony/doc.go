// Package chrony is a client for chronyd's own monitoring protocol
// ("cmdmon", protocol version 6): UDP port 323 on 127.0.0.1 / ::1, or the
// unix datagram socket /run/chrony/chronyd.sock. chronyd has no NTP mode 6,
// so ntpkit's ntpq -p and ntpstat use this package on chrony hosts.
//
// Wire format (all integers big-endian): a request is a 20-octet header
// (version 6, packet type 1, two reserved zero octets, command, attempt,
// sequence, two 32-bit pads) plus command data, zero-padded so that it is
// never shorter than the reply it asks for: chronyd refuses shorter
// requests so it cannot amplify traffic. A reply is a 28-octet header
// (version, type 2, reserved, command, reply type, status, pads, sequence)
// plus data. Numbers with a fraction use chrony's 32-bit float (7-bit
// signed exponent, 25-bit signed coefficient, value coef*2^(exp-25));
// addresses are 16 octets plus a family code; timestamps are seconds
// (high and low 32 bits, high 0x7fffffff meaning none) and nanoseconds.
//
// The package has three layers: pure encoders and decoders (Request,
// DecodeTracking, DecodeSourceData, ...), a small Client with context
// deadlines and an injectable transport (Options.Dial), and helpers mapping
// chrony's reports onto ntpq's peers table and ntpstat (Peer, NtpqTally,
// StatusFrom).
//
// chronyd answers tracking, sources and sourcestats on UDP from localhost,
// but ntpdata (the per-source NTP detail: the server's refid, the delay)
// only on its unix socket; over UDP it replies "not authorised". The unix
// socket is host-wide, not per network namespace.
//
// Verified live against chronyd 4.3 (see live_linux_test.go): chronyc's
// requests equal ours byte for byte but for the sequence number, and
// decoding the replies chronyc received reproduces its output exactly
// (testdata/capture).
package chrony
