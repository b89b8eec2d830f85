package sync

import (
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Symmetric-key authentication of an association ("server ADDR key N"),
// as ntpd: every packet we send to the source carries a MAC made with key
// N, and a packet from it counts only when its MAC verifies under the same
// (trusted) key. Anything else (no MAC, a crypto-NAK, another key, a bad
// digest) sets flash TEST5 and is otherwise ignored, so an impostor or a
// server that does not know the key never becomes reachable.

// sign appends the MAC of the association's key to pkt. When the key is
// unknown or untrusted the packet goes out unsigned (the source's replies
// will not authenticate either) and the problem is logged once.
func (e *Engine) sign(a *assoc, pkt []byte) []byte {
	var k *ntp.Key
	ok := false
	if e.o.Keys != nil {
		k, ok = e.o.Keys.LookupKey(a.cfg.Key)
	}
	if !ok {
		if a.flash&flashAuth == 0 {
			e.log.Warn("key of association not in the trusted keys: packets go out unsigned and no reply will authenticate", "peer", a.label(), "key", a.cfg.Key)
		}
		a.flash |= flashAuth
		return pkt
	}
	return ntp.AppendMAC(pkt, k)
}

// authentic reports whether pkt, received from a's source, carries a MAC
// made with a's key; otherwise it sets TEST5 on a.
func (e *Engine) authentic(a *assoc, pkt []byte) bool {
	id, err := ntp.Verify(pkt, e.o.Keys)
	if err == nil && id == a.cfg.Key {
		return true
	}
	a.flash |= flashAuth
	e.log.Debug("packet does not authenticate", "peer", a.label(), "key", a.cfg.Key, "err", err)
	return false
}
