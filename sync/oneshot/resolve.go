package oneshot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// getaddrinfo error codes and texts (glibc), which classic ntpdate prints.
const (
	EAINoName     = -2 // Name or service not known
	EAIAgain      = -3 // Temporary failure in name resolution
	EAIFail       = -4 // Non-recoverable failure in name resolution
	EAINoData     = -5 // No address associated with hostname
	EAIAddrFamily = -9 // Address family for hostname not supported
)

var eaiText = map[int]string{
	EAINoName:     "Name or service not known",
	EAIAgain:      "Temporary failure in name resolution",
	EAIFail:       "Non-recoverable failure in name resolution",
	EAINoData:     "No address associated with hostname",
	EAIAddrFamily: "Address family for hostname not supported",
}

// ResolveError is a failed lookup, described as getaddrinfo would.
type ResolveError struct {
	Host string
	Code int   // EAI* constant
	Err  error // underlying error, if any
}

// Text is the gai_strerror text of Code.
func (e *ResolveError) Text() string { return eaiText[e.Code] }

// Fatal reports whether the name service itself is unusable (classic then
// exits at once instead of trying the other names).
func (e *ResolveError) Fatal() bool { return e.Code == EAIAgain || e.Code == EAIFail }

func (e *ResolveError) Error() string {
	return fmt.Sprintf("%s: %s (%d)", e.Host, e.Text(), e.Code)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// Resolve returns the addresses of host: a literal address directly,
// otherwise through r. family is 4, 6 or 0 (both). The lookup stops at
// ctx's deadline; a deadline or a DNS failure other than "not found" is
// reported like EAI_AGAIN. Every error is a *ResolveError.
func Resolve(ctx context.Context, r Resolver, host string, family int) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		a = a.Unmap()
		if (family == 4 && !a.Is4()) || (family == 6 && !a.Is6()) {
			return nil, &ResolveError{Host: host, Code: EAIAddrFamily}
		}
		return []netip.Addr{a}, nil
	}
	if host == "" || strings.Contains(host, "..") {
		return nil, &ResolveError{Host: host, Code: EAINoName}
	}
	network := "ip"
	switch family {
	case 4:
		network = "ip4"
	case 6:
		network = "ip6"
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		code := EAIAgain
		var dnsErr *net.DNSError
		var addrErr *net.AddrError
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			code = EAINoName
		case errors.As(err, &addrErr):
			code = EAINoData
		}
		return nil, &ResolveError{Host: host, Code: code, Err: err}
	}
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if (family == 4 && !a.Is4()) || (family == 6 && !a.Is6()) {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &ResolveError{Host: host, Code: EAINoData}
	}
	return out, nil
}
