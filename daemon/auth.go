package daemon

import (
	"log/slog"
	"net/netip"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// Symmetric-key authentication (issue 7), as classic ntpd does it:
//
//   - keys come from the "keys" file of ntp.conf; only "trustedkey" ids
//     authenticate anything;
//   - a mode 3 request with a MAC that verifies under a trusted key gets a
//     reply signed with the same key; a MAC that does not verify (unknown
//     or untrusted key, wrong digest) gets a crypto-NAK: the 48-octet
//     reply followed by a 4-octet zero key id. Neither is ever longer than
//     the request. Octets after the header that are neither extension
//     fields nor a MAC drop the request;
//   - "restrict ... notrust" sources are served only when their request
//     authenticates;
//   - mode 6 requests with a MAC that verifies get every response
//     fragment signed with that key; writes need a MAC made with the
//     trusted "controlkey" (else PERMISSION).

// authState is the daemon's read-only key material, shared by all workers.
type authState struct {
	keys       *ntpconf.Keys
	trusted    ntp.KeyLookup // nil when no keys are configured
	controlKey uint32
	requestKey uint32
}

// newAuth loads the keys named by the configuration. Errors in the keys
// file are logged and the good keys kept, as ntpd does.
func newAuth(cfg *ntpconf.Config, log *slog.Logger) *authState {
	a := &authState{controlKey: uint32(max(cfg.ControlKey, 0)), requestKey: uint32(max(cfg.RequestKey, 0))}
	keys, warn, err := ntpconf.LoadKeys(cfg)
	if err != nil {
		log.Warn("keys file", "file", cfg.Keys, "err", err)
	}
	for _, w := range warn {
		log.Warn(w)
	}
	a.keys = keys
	if keys.Len() > 0 {
		a.trusted = keys.Trusted()
	}
	return a
}

// checkClient classifies the MAC of a mode 3 request from addr. A plain
// 48-octet request is decided without any work (the unauthenticated hot
// path). A key whose keys-file entry lists addresses authenticates only
// requests from those (classic 4.2.8p7+).
func (a *authState) checkClient(pkt []byte, addr netip.Addr) (ntp.ServerAuth, *ntp.Key) {
	if len(pkt) == ntp.HeaderLen {
		return ntp.AuthNone, nil
	}
	res, key, _ := ntp.CheckRequest(pkt, a.trusted)
	if res == ntp.AuthOK && !a.keys.AllowedFrom(key.ID, addr) {
		return ntp.AuthFailed, nil
	}
	return res, key
}

// signed returns send wrapped so that every datagram is signed with k
// (mode6.AppendMAC: padding, key id, digest). The wrapper is built once
// per Control, so signing allocates nothing per request.
func (c *Control) signed(k *ntp.Key, send func([]byte) error) func([]byte) error {
	c.signKey, c.send = k, send
	if c.signSend == nil {
		c.signSend = func(b []byte) error { return c.send(mode6.AppendMAC(b, c.signKey)) }
	}
	return c.signSend
}

// writeVar answers an authorized WRITEVAR as classic ntpd does: peer
// variables are never writable (PERMISSION), a name that is not a system
// variable is UNKNOWNVAR, a known one is read-only (PERMISSION). An empty
// list is a successful write of nothing (an empty response).
func (c *Control) writeVar(h mode6.Header, data []byte, leap uint8, status uint16, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	if h.AssocID != 0 {
		return c.fail(h, leap, mode6.ErrCodePermission, send)
	}
	for len(data) > 0 {
		var item []byte
		item, data = nextListName(data)
		if len(item) == 0 {
			continue
		}
		if lookupName(sysVarNames[:], item) < 0 {
			return c.fail(h, leap, mode6.ErrCodeUnknownVar, send)
		}
		return c.fail(h, leap, mode6.ErrCodePermission, send)
	}
	return c.sendData(mode6.ReplyHeader(h, leap, status), nil, nil, send)
}
