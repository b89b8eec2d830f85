package netns

import "encoding/binary"

// /proc/net/udp prints addresses as 32-bit words in host byte order.
var nativeEndian = binary.NativeEndian
