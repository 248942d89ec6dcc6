package xds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
)

// blocked are the ranges no connector may reach unless it sets
// unsafe_allow_private_upstream (DESIGN invariant 11): an agent that can
// make Bridle dial these could reach the host itself, the local network or
// a cloud metadata service with a real credential attached.
var blocked = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local / cloud metadata"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (embeds IPv4)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (embeds IPv4)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64 (embeds IPv4)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (embeds IPv4)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo (embeds IPv4)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (ULA)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// VetAddr returns an error if a is an address a connector may not reach
// without unsafe_allow_private_upstream: a reserved range, or one of this
// host's own addresses (the gateway must not be pointed at itself, on
// whatever interface). IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry.
func VetAddr(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() {
		return fmt.Errorf("invalid address")
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return fmt.Errorf("%s is a %s address", a, b.why)
		}
	}
	if localAddrs()[a] {
		return fmt.Errorf("%s is an address of this host", a)
	}
	return nil
}

// localAddrs are the addresses of this host's interfaces, read once.
var localAddrs = sync.OnceValue(func() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr().Unmap()] = true
		}
	}
	return out
})

// ErrRefused marks an answer whose addresses were refused by VetAddr.
var ErrRefused = errors.New("refusing upstream")

// Target is one connector host to resolve.
type Target struct {
	Host string
	// Dial is host:port to resolve instead of Host:443 (connector
	// `upstream`).
	Dial         string
	AllowPrivate bool
}

// Lookup resolves names; net.DefaultResolver in production, a fake in
// tests.
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// DefaultLookup resolves with the system resolver.
func DefaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// Resolve returns the vetted addresses of a target, sorted. Refused
// addresses are dropped and reported in the error; an error with some
// addresses returned means a partial answer.
func Resolve(ctx context.Context, lookup Lookup, t Target) ([]netip.AddrPort, error) {
	dial := t.Dial
	if dial == "" {
		dial = net.JoinHostPort(t.Host, "443")
	}
	host, portStr, err := net.SplitHostPort(dial)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", dial, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("upstream %q: bad port", dial)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
	}
	var out []netip.AddrPort
	var refused error
	for _, a := range addrs {
		if !t.AllowPrivate {
			if err := VetAddr(a); err != nil {
				refused = fmt.Errorf("%w for %s: %w (set unsafe_allow_private_upstream: true on the connector to allow it)", ErrRefused, t.Host, err)
				continue
			}
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	out = slices.Compact(out)
	return out, refused
}
