// Package clientip is the one rule for telling clients apart by their
// network address, for everything that counts per client: the intake limit
// (internal/web) and the sign-in throttle's address bucket (internal/auth).
package clientip

import "net/netip"

// Key is what a client is counted by: an IPv4 address as it is (also when
// written IPv4-mapped, ::ffff:192.0.2.1), an IPv6 address by its /64, with
// no zone. A subscriber, a phone or a virtual server is given a whole /64
// (RFC 6177) and may pick any address in it, so counting single IPv6
// addresses would give one client 2^64 counters. What is not an address is
// returned as it is.
func Key(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	prefix, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return prefix.String()
}
