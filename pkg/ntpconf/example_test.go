package ntpconf_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

func ExampleParse() {
	conf := `server 192.0.2.1 iburst maxpoll 8
server 127.127.1.0
fudge 127.127.1.0 stratum 10
restrict default kod limited nomodify noquery
restrict 127.0.0.1
frobnicate
restrict 10.0.0.0 mask 255.0.0.0 bogus
`
	c, err := ntpconf.Parse("ntp.conf", strings.NewReader(conf))
	fmt.Println(err)
	for _, w := range c.Warnings {
		fmt.Println("warning:", w)
	}
	for _, s := range c.Servers {
		fmt.Println(s.Address, s.IsRefclock, s.MinPoll, s.MaxPoll)
	}
	r := c.Restrictor() // compile once, use per packet
	fmt.Println(r.Flags(netip.MustParseAddr("127.0.0.1")))
	fmt.Println(r.Flags(netip.MustParseAddr("198.51.100.1")))
	// Output:
	// ntp.conf:7: restrict: unknown flag "bogus", expected mask M or one of ignore, kod, limited, lowpriotrap, nomodify, noquery, nopeer, noserve, notrap, notrust, version, nomrulist
	// warning: ntp.conf:6: unknown directive "frobnicate", ignored
	// 192.0.2.1 false 6 8
	// 127.127.1.0 true 6 10
	// none
	// kod limited nomodify noquery
}
