package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// A key restricted to addresses in the keys file authenticates only
// requests from those; from elsewhere its MAC gets a crypto-NAK.
func TestAuthKeyAddressList(t *testing.T) {
	kf := filepath.Join(t.TempDir(), "ntp.keys")
	os.WriteFile(kf, []byte("5 MD5 secret5 127.0.7.0/24\n"), 0o600)
	d := secDaemon(t, "server 127.127.1.0\nkeys "+kf+"\ntrustedkey 5\nrestrict default kod\n", nil)
	server := d.Addrs()[0]
	k5, _ := ntp.NewKey(5, ntp.MACMD5, []byte("secret5"))
	signed := ntp.AppendMAC(ntpRequest(4, 3, 99), k5)
	if r := secExchangeOnce(server, netip.MustParseAddr("127.0.7.3"), signed, 2*time.Second); r == nil {
		t.Error("listed address: no reply")
	} else if id, err := ntp.Verify(r, ntp.KeyMap{5: k5}); err != nil || id != 5 {
		t.Errorf("listed address: %d-octet reply, %d %v", len(r), id, err)
	}
	if r := secExchangeOnce(server, netip.MustParseAddr("127.0.8.3"), signed, 2*time.Second); !ntp.IsCryptoNAK(r) {
		t.Errorf("other address: %d-octet reply, want a crypto-NAK", len(r))
	}
}
