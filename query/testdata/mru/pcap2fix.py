#!/usr/bin/env python3
"""Turn a tcpdump -w capture of one ntpq run into the packet lines of an
mrulist fixture: "> hex" for datagrams to port 123, "< hex" for answers."""
import struct, sys
f = open(sys.argv[1], "rb").read()
endian = "<" if struct.unpack("<I", f[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
lt = struct.unpack(endian + "I", f[20:24])[0]
off = 24
while off + 16 <= len(f):
    ts, tus, incl, orig = struct.unpack(endian + "IIII", f[off:off + 16]); off += 16
    pkt = f[off:off + incl]; off += incl
    if lt == 1: pkt = pkt[14:]
    elif lt == 113: pkt = pkt[16:]
    elif lt == 276: pkt = pkt[20:]
    v = pkt[0] >> 4
    if v == 4:
        ihl = (pkt[0] & 15) * 4; proto = pkt[9]; l4 = pkt[ihl:]
    else:
        proto = pkt[6]; l4 = pkt[40:]
    if proto != 17: continue
    sp, dp, ulen = struct.unpack(">HHH", l4[:6]); data = l4[8:ulen]
    if not data or data[0] & 7 != 6: continue
    print(("> " if dp == 123 else "< ") + data.hex())
