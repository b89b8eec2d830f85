// Package ntp holds the NTP wire types of RFC 5905: the 48-octet header, the
// 64-bit timestamp and 32-bit short formats, modes, leap indicators,
// reference IDs and kiss codes.
//
// Everything here is a pure function of its inputs: nothing reads the clock
// or touches the network, so the codec can be table-tested and fuzzed alone.
package ntp
