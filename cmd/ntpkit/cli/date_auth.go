package cli

import (
	"errors"
	"syscall"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// dateDefaultKeyFile is classic ntpdate's key file when -k is not given.
const dateDefaultKeyFile = "/etc/ntp.keys"

// dateKey loads the key of -a from the key file of -k, with classic
// ntpdate's messages: "authentication key 0 unknown" for an id that is not
// a positive number (classic reads it with atol), "authreadkeys: file
// 'F': <error>" and "no key file <F>, exiting" when the file cannot be
// read. ok is false when ntpdate must exit with status 1.
func dateKey(o *dateOpts, log *dateLogger) (key *ntp.Key, ok bool) {
	id := atol(o.key)
	if id <= 0 || id > 65535 {
		log.errorf("authentication key %d unknown", max(id, 0))
		return nil, false
	}
	file := o.keyfile
	if file == "" {
		file = dateDefaultKeyFile
	}
	keys, err := ntpconf.ReadKeys(file)
	if keys == nil {
		log.errorf("authreadkeys: file '%s': %s", file, strerror(err))
		log.errorf("no key file <%s>, exiting", file)
		return nil, false
	}
	k, found := keys.Lookup(uint32(id))
	if !found {
		log.errorf("authentication key %d unknown", id)
		return nil, false
	}
	return k, true
}

// atol reads a leading decimal number as C's atol does (0 when there is
// none).
func atol(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<40; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// strerror is the C text of the errno behind err ("No such file or
// directory"), or err itself.
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			s = string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}
