package mode6

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// capPacket is one UDP datagram of a capture file.
type capPacket struct {
	sport, dport uint16
	payload      []byte
}

// readPcap reads the UDP payloads of a classic (tcpdump -w) capture:
// Ethernet, Linux cooked v1/v2 or raw IP link types, IPv4 or IPv6.
func readPcap(t testing.TB, path string) []capPacket {
	t.Helper()
	f, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) < 24 {
		t.Fatalf("%s: short pcap", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(f) {
	case 0xa1b2c3d4, 0xa1b23c4d:
	default:
		bo = binary.BigEndian
	}
	link := bo.Uint32(f[20:])
	var out []capPacket
	for off := 24; off+16 <= len(f); {
		incl := int(bo.Uint32(f[off+8:]))
		off += 16
		if off+incl > len(f) {
			t.Fatalf("%s: truncated record", path)
		}
		frame := f[off : off+incl]
		off += incl
		var ip []byte
		switch link {
		case 1:
			ip = frame[14:]
		case 113:
			ip = frame[16:]
		case 276:
			ip = frame[20:]
		default:
			ip = frame
		}
		var udp []byte
		switch ip[0] >> 4 {
		case 4:
			if ip[9] != 17 {
				continue
			}
			udp = ip[int(ip[0]&15)*4:]
		case 6:
			if ip[6] != 17 {
				continue
			}
			udp = ip[40:]
		default:
			continue
		}
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		out = append(out, capPacket{
			sport:   binary.BigEndian.Uint16(udp[0:]),
			dport:   binary.BigEndian.Uint16(udp[2:]),
			payload: udp[8:ulen],
		})
	}
	return out
}

func allPcaps(t testing.TB) map[string][]capPacket {
	t.Helper()
	files, err := filepath.Glob("testdata/pcap/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/pcap: %v", err)
	}
	m := make(map[string][]capPacket)
	for _, fn := range files {
		m[filepath.Base(fn)] = readPcap(t, fn)
	}
	return m
}
