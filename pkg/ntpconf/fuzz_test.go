package ntpconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, always returns a
// Config, and reports errors as an ErrorList of positioned diagnostics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(DefaultConfig))
	f.Add([]byte("server 192.0.2.1 iburst minpoll 4 maxpoll 4\nincludefile inc.conf\n"))
	f.Add([]byte("trustedkey (1 ... 5) 7\nrestrict -6 default ignore\nrestrict 10.0.0.0 mask 255.0.0.0\n"))
	fsys := mapFS(map[string]string{
		"inc.conf":  "server 192.0.2.7\nincludefile loop.conf\n",
		"loop.conf": "includefile inc.conf\nrestrict 192.0.2.0/24 noquery\n",
	})
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), {}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		c, err := Options{FS: fsys}.Parse("fuzz.conf", bytes.NewReader(data))
		if c == nil {
			t.Fatal("nil Config")
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
			}
			for _, d := range list {
				if d.Pos.File == "" || d.Pos.Line < 1 || d.Msg == "" {
					t.Fatalf("bad diagnostic %+v", d)
				}
			}
		}
		for _, a := range c.Servers {
			if a.MinPoll > a.MaxPoll || a.MinPoll < MinPollLimit || a.MaxPoll > MaxPollLimit {
				t.Fatalf("bad poll range %+v", a)
			}
		}
		r := c.Restrictor()
		for _, a := range addrs {
			if r.Flags(a) != c.RestrictFor(a) {
				t.Fatalf("Restrictor and RestrictFor disagree for %v: %v vs %v", a, r.Flags(a), c.RestrictFor(a))
			}
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}
