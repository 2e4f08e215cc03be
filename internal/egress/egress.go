// Package egress makes the connections rightsdesk opens to addresses that
// someone typed (webhook receivers): only to the public internet unless the
// operator allows their private network, checked on the address actually
// connected to, after resolution, so a name that resolves (or is made to
// resolve, DNS rebinding) to an internal address is refused too.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Class is what kind of network an address belongs to.
type Class int

// The classes, from the one always allowed to the ones never allowed.
const (
	// Public is a global unicast address on the internet.
	Public Class = iota
	// Private is the operator's own network: loopback, RFC 1918,
	// unique local (fc00::/7), site-local, CGNAT (100.64.0.0/10), local
	// NAT64. Allowed only with Policy.AllowPrivate.
	Private
	// LinkLocal is 169.254.0.0/16 and fe80::/10: never a receiver.
	LinkLocal
	// Metadata is a cloud provider's instance metadata service, where the
	// machine's credentials live: never allowed.
	Metadata
	// Reserved is everything that is not a unicast address one can reach:
	// unspecified, multicast, broadcast, documentation, benchmarking,
	// IETF-reserved and unassigned ranges. Never allowed.
	Reserved
)

func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Private:
		return "private"
	case LinkLocal:
		return "link-local"
	case Metadata:
		return "metadata"
	}
	return "reserved"
}

// Cloud metadata services. Some sit inside ranges that are otherwise only
// private (Alibaba's in CGNAT, AWS's IPv6 one in fc00::/7), so they are
// named one by one and refused even when private targets are allowed.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"),  // AWS EKS pod identity
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS, over IPv6
	netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS pod identity, over IPv6
}

type rangeClass struct {
	prefix netip.Prefix
	class  Class
}

// v4Ranges are IANA's IPv4 special-purpose registry as it matters here; an
// address in none of them is public. The first match wins.
var v4Ranges = classes(
	"0.0.0.0/8", Reserved, // "this network", including 0.0.0.0
	"10.0.0.0/8", Private,
	"100.64.0.0/10", Private, // carrier-grade NAT (shared address space)
	"127.0.0.0/8", Private, // loopback
	"169.254.0.0/16", LinkLocal,
	"172.16.0.0/12", Private,
	"192.0.0.0/24", Reserved, // IETF protocol assignments
	"192.0.2.0/24", Reserved, // documentation (TEST-NET-1)
	"192.88.99.0/24", Reserved, // 6to4 relay anycast (deprecated)
	"192.168.0.0/16", Private,
	"198.18.0.0/15", Reserved, // benchmarking
	"198.51.100.0/24", Reserved, // documentation (TEST-NET-2)
	"203.0.113.0/24", Reserved, // documentation (TEST-NET-3)
	"224.0.0.0/4", Reserved, // multicast
	"240.0.0.0/4", Reserved, // reserved, and 255.255.255.255 broadcast
)

// v6Ranges are the IPv6 ranges other than global unicast (2000::/3) that a
// receiver could be in, and the special ranges inside global unicast.
// Ranges that embed an IPv4 address are handled by Classify before these.
var v6Ranges = classes(
	"::1/128", Private, // loopback
	"fc00::/7", Private, // unique local
	"fec0::/10", Private, // site-local (deprecated, still routed by some)
	"64:ff9b:1::/48", Private, // local-use NAT64
	"fe80::/10", LinkLocal,
	"ff00::/8", Reserved, // multicast
	"100::/64", Reserved, // discard-only
	"2001::/23", Reserved, // IETF protocol assignments (Teredo, ORCHID, ...)
	"2001:db8::/32", Reserved, // documentation
	"3fff::/20", Reserved, // documentation
	"5f00::/16", Reserved, // segment routing (SRv6) identifiers
)

func classes(pairs ...any) []rangeClass {
	var out []rangeClass
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rangeClass{netip.MustParsePrefix(pairs[i].(string)), pairs[i+1].(Class)})
	}
	return out
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	v4Compat  = netip.MustParsePrefix("::/96")
	globalV6  = netip.MustParsePrefix("2000::/3")
)

// Classify says what kind of network addr is on. IPv4 addresses written in
// IPv6 (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4
// 2002:aabb:ccdd::) are classified by the IPv4 address they reach; a zone
// (fe80::1%eth0) does not change the class.
func Classify(addr netip.Addr) Class {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return Reserved
	}
	for _, m := range metadata {
		if addr == m {
			return Metadata
		}
	}
	if addr.Is4In6() {
		return Classify(addr.Unmap())
	}
	if addr.Is4() {
		for _, r := range v4Ranges {
			if r.prefix.Contains(addr) {
				return r.class
			}
		}
		return Public
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		return Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(addr):
		return Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case addr == netip.IPv6Loopback():
		return Private
	case v4Compat.Contains(addr):
		// :: itself, and the deprecated IPv4-compatible form.
		return Reserved
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(addr) {
			return r.class
		}
	}
	if globalV6.Contains(addr) {
		return Public
	}
	return Reserved // outside global unicast: unassigned or special
}

// Policy is what the operator allows.
type Policy struct {
	// AllowPrivate lets connections reach Private addresses
	// (WEBHOOK_ALLOW_PRIVATE), for receivers on the operator's own network.
	// Link-local, metadata and reserved addresses stay refused.
	AllowPrivate bool
	// Resolver looks names up; nil is the system's. Whatever it answers,
	// the address connected to is checked.
	Resolver *net.Resolver
}

// Check refuses an address the policy does not allow, with a *RefusedError.
func (p Policy) Check(addr netip.Addr) error {
	switch c := Classify(addr); {
	case c == Public, c == Private && p.AllowPrivate:
		return nil
	default:
		return &RefusedError{Addr: addr.WithZone(""), Class: c}
	}
}

// RefusedError is a connection refused before it was made: nothing was sent
// to the address.
type RefusedError struct {
	Addr  netip.Addr
	Class Class
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: a %s address", e.Addr, e.Class)
}

// ErrBadHost is a URL host that is neither a name nor an IP address written
// the usual way.
var ErrBadHost = errors.New("the host is not a name nor a plain IP address")

// CheckURL checks what can be known of a URL before any connection: an IP
// literal (including the decimal, hex and octal forms of IPv4 that some
// resolvers accept, such as 2130706433 or 0x7f000001 for 127.0.0.1) must be
// allowed by the policy; localhost and *.localhost name loopback (RFC 6761).
// A name may still resolve to a refused address: the dialer checks that.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse URL: %w", err)
	}
	return p.CheckHost(u.Hostname())
}

// CheckHost is CheckURL for a bare host (no port, no brackets).
func (p Policy) CheckHost(host string) error {
	if host == "" {
		return ErrBadHost
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return p.Check(addr)
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return p.Check(netip.IPv6Loopback())
	}
	if addr, ok, err := parseLooseIPv4(name); err != nil {
		return ErrBadHost
	} else if ok {
		return p.Check(addr)
	}
	return nil
}

// parseLooseIPv4 reads the forms of IPv4 that inet_aton accepts (one to
// four parts, each decimal, 0x-hex or 0-octal; the last part fills the
// remaining bytes). ok is false for a host that is not numeric at all; err
// is set for one that looks numeric but is no address (a resolver might
// still make one of it).
func parseLooseIPv4(host string) (addr netip.Addr, ok bool, err error) {
	parts := strings.Split(host, ".")
	numeric := func(s string) bool {
		if s == "" {
			return false
		}
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			s = s[2:]
			return strings.Trim(s, "0123456789abcdefABCDEF") == ""
		}
		return strings.Trim(s, "0123456789") == ""
	}
	// A name whose last label is numeric is no valid host name (RFC 3696
	// 2); that is what resolvers that parse numbers look at.
	if !numeric(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, ErrBadHost
	}
	var vals []uint64
	for _, part := range parts {
		if !numeric(part) {
			return netip.Addr{}, true, ErrBadHost
		}
		v, err := strconv.ParseUint(part, 0, 32)
		if err != nil {
			return netip.Addr{}, true, ErrBadHost
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals {
		if i < len(vals)-1 {
			if v > 0xff {
				return netip.Addr{}, true, ErrBadHost
			}
			n |= v << (8 * (3 - i))
			continue
		}
		if v >= 1<<(8*(4-i)) {
			return netip.Addr{}, true, ErrBadHost
		}
		n |= v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, nil
}

// Dialer returns a dialer that checks every address it is about to connect
// to, after resolution, against the policy: net.Dialer's Control runs
// between resolving and connect(2), once for each address tried.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout:  timeout,
		Resolver: p.Resolver,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &RefusedError{Class: Reserved}
			}
			return p.Check(ap.Addr())
		},
	}
}

// Client returns an HTTP client for one request at a time to addresses
// someone typed: every connection is checked by Dialer, no proxy from the
// environment is used (it would connect for us, unchecked), no redirect
// is followed (a 3xx is the answer), and the whole exchange is bounded by
// timeout.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := p.Dialer(timeout)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          20,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Failure is why an attempt got no answer, in words an admin can act on;
// each has a message in the catalogs (api.webhooks.failure.<code>).
type Failure string

// The failures.
const (
	FailRefusedPrivate  Failure = "refused_private"
	FailRefusedMetadata Failure = "refused_metadata"
	FailRefusedReserved Failure = "refused_reserved"
	FailBadURL          Failure = "bad_url"
	FailDNS             Failure = "dns"
	FailConnect         Failure = "connect"
	FailTimeout         Failure = "timeout"
	FailTLS             Failure = "tls"
)

// Failures lists every failure, for the catalogs' check.
func Failures() []Failure {
	return []Failure{FailRefusedPrivate, FailRefusedMetadata, FailRefusedReserved, FailBadURL, FailDNS, FailConnect, FailTimeout, FailTLS}
}

// FailureOf names the failure of an error from Client, CheckURL or Check.
// The transport's own text is for the log: it tells an admin which ports
// answer, which is what a port scanner wants to know.
func FailureOf(err error) Failure {
	var refused *RefusedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		switch refused.Class {
		case Private, LinkLocal:
			return FailRefusedPrivate
		case Metadata:
			return FailRefusedMetadata
		}
		return FailRefusedReserved
	case errors.Is(err, ErrBadHost):
		return FailBadURL
	case errors.As(err, &dnsErr):
		return FailDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recordErr):
		return FailTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT),
		errors.As(err, &netErr) && netErr.Timeout():
		return FailTimeout
	}
	return FailConnect
}
