package query

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Authenticated requests (ntpq's keyid, keytype, passwd and writevar).
//
// As classic ntpq 4.2.8: the keyid (default none) and keytype (default
// MD5) are set by their commands; passwd gives the secret of the current
// keyid (a secret longer than 20 characters is hex, as in keys files).
// ntpkit extension (like NTPsec's -k): with a key file, passwd without an
// argument, and any authenticated request without a password, take the key
// of the current keyid from the file, with its type. Only write requests
// are signed; responses are not checked.

// authState is the interpreter's authentication setup.
type authState struct {
	keyID   uint32
	keyType ntp.MACType
	key     *ntp.Key // from passwd or the key file; used while key.ID == keyID
}

// RequestSigned is Request with the request signed with key (mode6
// AppendMAC: padding, key id, digest).
func (s *Session) RequestSigned(ctx context.Context, op mode6.Opcode, assoc uint16, data []byte, key *ntp.Key) (Response, error) {
	s.sign = key
	defer func() { s.sign = nil }()
	return s.Request(ctx, op, assoc, data)
}

func (in *Interp) cmdKeyid(ctx context.Context, name string, args []string) {
	if len(args) == 0 {
		if in.auth.keyID == 0 {
			fmt.Fprintln(in.cfg.Stdout, "no keyid defined")
		} else {
			fmt.Fprintf(in.cfg.Stdout, "keyid is %d\n", in.auth.keyID)
		}
		return
	}
	v, err := strconv.ParseUint(args[0], 0, 32)
	if err != nil {
		fmt.Fprintf(in.cfg.Stderr, "***Illegal unsigned value %s\n", args[0])
		return
	}
	if v > 65535 {
		fmt.Fprintln(in.cfg.Stdout, "Invalid key identifier")
	}
	in.auth.keyID = uint32(v)
}

func (in *Interp) cmdKeytype(ctx context.Context, name string, args []string) {
	if len(args) == 0 {
		fmt.Fprintf(in.cfg.Stdout, "keytype is %s with %d octet digests\n", in.auth.keyType, in.auth.keyType.DigestLen())
		return
	}
	t, err := ntp.ParseMACType(strings.ToUpper(args[0]))
	if err != nil {
		fmt.Fprintln(in.cfg.Stdout, `keytype is not valid. Type "help keytype" for the available digest types.`)
		return
	}
	in.auth.keyType = t
}

// fileKey returns the key of the current keyid from the key file (-k).
func (in *Interp) fileKey() (*ntp.Key, bool) {
	if in.cfg.Keys == nil || in.auth.keyID == 0 {
		return nil, false
	}
	return in.cfg.Keys.LookupKey(in.auth.keyID)
}

func (in *Interp) cmdPasswd(ctx context.Context, name string, args []string) {
	if in.auth.keyID == 0 {
		// Classic prompts for the keyid; without a terminal it reads none.
		fmt.Fprint(in.cfg.Stderr, "Keyid: ")
		fmt.Fprintln(in.cfg.Stdout, "Keyid must be defined")
		return
	}
	if len(args) == 0 {
		if k, ok := in.fileKey(); ok {
			in.auth.key, in.auth.keyType = k, k.Type
			return
		}
		fmt.Fprintf(in.cfg.Stderr, "%s Password: ", in.auth.keyType)
		fmt.Fprintln(in.cfg.Stdout, "Password unchanged")
		return
	}
	k, err := ntp.NewKey(in.auth.keyID, in.auth.keyType, passwdSecret(args[0]))
	if err != nil {
		fmt.Fprintf(in.cfg.Stderr, "***%v\n", err)
		return
	}
	in.auth.key = k
}

// passwdSecret decodes a password: more than 20 characters of hex are the
// octets they spell, anything else is used as it is.
func passwdSecret(pw string) []byte {
	if len(pw) > 20 {
		if b, err := hex.DecodeString(pw); err == nil {
			return b
		}
	}
	return []byte(pw)
}

// signingKey returns the key for an authenticated request, printing
// classic ntpq's messages when there is none.
func (in *Interp) signingKey() (*ntp.Key, bool) {
	if in.auth.keyID == 0 || in.auth.keyID > 65535 {
		fmt.Fprint(in.cfg.Stderr, "Keyid: ")
		fmt.Fprintln(in.cfg.Stderr, "Invalid key identifier")
		return nil, false
	}
	if k := in.auth.key; k != nil && k.ID == in.auth.keyID {
		return k, true
	}
	if k, ok := in.fileKey(); ok {
		return k, true
	}
	fmt.Fprintf(in.cfg.Stderr, "%s Password: ", in.auth.keyType)
	fmt.Fprintln(in.cfg.Stderr, "Invalid password")
	return nil, false
}

// cmdWritevar: writevar assocID name=value,[...], signed with the current
// key; "done! (no data returned)" when the server accepts it.
func (in *Interp) cmdWritevar(ctx context.Context, name string, args []string) {
	if len(args) < 2 {
		fmt.Fprintln(in.cfg.Stderr, "usage: writevar assocID name=value,[...]")
		return
	}
	if !in.needSession() {
		return
	}
	assoc, ok := in.assocArg(ctx, args[0])
	if !ok {
		return
	}
	var list []string
	for _, p := range strings.Split(strings.Join(args[1:], " "), ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	key, ok := in.signingKey()
	if !ok {
		return
	}
	r, err := in.sess.RequestSigned(ctx, mode6.OpWriteVar, assoc, []byte(strings.Join(list, ",")), key)
	if err != nil {
		in.report(name, err, assoc)
		return
	}
	if len(r.Data) == 0 {
		fmt.Fprintln(in.cfg.Stdout, "done! (no data returned)")
		return
	}
	o := in.renderOpts()
	kind := VarsSystem
	if assoc != 0 {
		kind = VarsPeer
	}
	if in.cfg.Style == StyleNTPsec {
		SecReadvar(in.cfg.Stdout, kind, assoc, r.Status, r.Data, false, in.raw, o)
	} else {
		ClassicReadvar(in.cfg.Stdout, kind, assoc, r.Status, r.Data, false, in.raw, o)
	}
}
