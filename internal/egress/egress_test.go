package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestEveryKindOfAddressIsClassified(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want Class
	}{
		// Public.
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"93.184.215.14", Public},
		{"2a00:1450:4001:82b::200e", Public},
		{"2606:4700:4700::1111", Public},
		{"64:ff9b::808:808", Public},     // NAT64 of 8.8.8.8
		{"2002:808:808::1", Public},      // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", Public},       // IPv4-mapped 8.8.8.8
		{"100.63.255.255", Public},       // just below CGNAT
		{"100.128.0.0", Public},          // just above CGNAT
		{"172.15.255.255", Public},       // just below 172.16/12
		{"172.32.0.0", Public},           // just above
		{"223.255.255.255", Public},      // last before multicast
		{"198.17.255.255", Public},       // just below benchmarking
		{"198.20.0.0", Public},           // just above
		{"2001:200::1", Public},          // just above 2001::/23
		{"2001:4860:4860::8888", Public}, // Google DNS
		// The operator's own network.
		{"127.0.0.1", Private},
		{"127.255.255.254", Private},
		{"10.0.0.1", Private},
		{"10.255.255.255", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.168.1.1", Private},
		{"100.64.0.1", Private},
		{"100.127.255.255", Private},
		{"::1", Private},
		{"::ffff:127.0.0.1", Private},
		{"::ffff:10.1.2.3", Private},
		{"::ffff:192.168.0.1", Private},
		{"64:ff9b::7f00:1", Private},  // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", Private},   // NAT64 of 10.0.0.1
		{"64:ff9b:1::1", Private},     // local-use NAT64
		{"2002:7f00:1::", Private},    // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", Private}, // 6to4 of 192.168.1.1
		{"fc00::1", Private},
		{"fd12:3456:789a::1", Private},
		{"fec0::1", Private},
		// Link-local.
		{"169.254.0.1", LinkLocal},
		{"169.254.255.255", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"::ffff:169.254.1.1", LinkLocal},
		// Cloud metadata, in every disguise.
		{"169.254.169.254", Metadata},
		{"::ffff:169.254.169.254", Metadata},
		{"64:ff9b::a9fe:a9fe", Metadata},
		{"2002:a9fe:a9fe::", Metadata},
		{"169.254.170.2", Metadata},
		{"100.100.100.200", Metadata},
		{"fd00:ec2::254", Metadata},
		// Nothing one can reach.
		{"0.0.0.0", Reserved},
		{"0.1.2.3", Reserved},
		{"::", Reserved},
		{"::ffff:0.0.0.0", Reserved},
		{"::127.0.0.1", Reserved}, // deprecated IPv4-compatible
		{"224.0.0.1", Reserved},
		{"239.255.255.250", Reserved},
		{"255.255.255.255", Reserved},
		{"240.0.0.1", Reserved},
		{"192.0.0.8", Reserved},
		{"192.0.2.1", Reserved},
		{"198.51.100.7", Reserved},
		{"203.0.113.9", Reserved},
		{"198.18.0.1", Reserved},
		{"198.19.255.255", Reserved},
		{"192.88.99.1", Reserved},
		{"ff02::1", Reserved},
		{"ff05::2", Reserved},
		{"100::1", Reserved},
		{"2001::1", Reserved}, // Teredo
		{"2001:db8::1", Reserved},
		{"3fff::1", Reserved},
		{"5f00::1", Reserved},
		{"4000::1", Reserved}, // unassigned
		{"::ffff:0:7f00:1", Reserved},
	} {
		addr := netip.MustParseAddr(tc.addr)
		if got := Classify(addr); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestPrivateTargetsAreAllowedOnlyWhenTheOperatorSaysSo(t *testing.T) {
	strict, open := Policy{}, Policy{AllowPrivate: true}
	for _, tc := range []struct {
		addr         string
		strict, open bool // allowed?
	}{
		{"8.8.8.8", true, true},
		{"127.0.0.1", false, true},
		{"10.1.2.3", false, true},
		{"::1", false, true},
		{"100.64.1.1", false, true},
		{"fd12::1", false, true},
		// Never, whatever the operator allows.
		{"169.254.169.254", false, false},
		{"100.100.100.200", false, false},
		{"fd00:ec2::254", false, false},
		{"169.254.10.10", false, false},
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
		{"192.0.2.1", false, false},
	} {
		addr := netip.MustParseAddr(tc.addr)
		if got := strict.Check(addr) == nil; got != tc.strict {
			t.Errorf("%s without WEBHOOK_ALLOW_PRIVATE: allowed %v, want %v", tc.addr, got, tc.strict)
		}
		if got := open.Check(addr) == nil; got != tc.open {
			t.Errorf("%s with WEBHOOK_ALLOW_PRIVATE: allowed %v, want %v", tc.addr, got, tc.open)
		}
	}
}

func TestHostsThatHideAnInternalAddressAreRefusedBeforeAnyConnection(t *testing.T) {
	p := Policy{}
	for _, tc := range []struct {
		host string
		want Failure // "" for allowed (so far: the dialer checks names)
	}{
		{"receiver.example.kz", ""},
		{"8.8.8.8", ""},
		{"2a00:1450:4001:82b::200e", ""},
		{"127.0.0.1", FailRefusedPrivate},
		{"localhost", FailRefusedPrivate},
		{"LOCALHOST.", FailRefusedPrivate},
		{"evil.localhost", FailRefusedPrivate},
		{"::1", FailRefusedPrivate},
		{"::ffff:127.0.0.1", FailRefusedPrivate},
		{"10.0.0.5", FailRefusedPrivate},
		{"169.254.169.254", FailRefusedMetadata},
		{"0.0.0.0", FailRefusedReserved},
		// inet_aton's loose forms of 127.0.0.1 and 169.254.169.254.
		{"2130706433", FailRefusedPrivate},
		{"0x7f000001", FailRefusedPrivate},
		{"0X7F000001", FailRefusedPrivate},
		{"017700000001", FailRefusedPrivate},
		{"0177.0.0.1", FailRefusedPrivate},
		{"0x7f.1", FailRefusedPrivate},
		{"127.1", FailRefusedPrivate},
		{"127.0.1", FailRefusedPrivate},
		{"2852039166", FailRefusedMetadata},
		{"0xa9fea9fe", FailRefusedMetadata},
		{"0251.0376.0251.0376", FailRefusedMetadata},
		{"134744072", ""}, // 8.8.8.8, public however written
		// Numeric-looking hosts that are no address at all.
		{"1.2.3.4.5", FailBadURL},
		{"4294967296", FailBadURL},
		{"1.256.0.0", FailBadURL},
		{"0x.1", FailBadURL},
		{"08.0.0.1", FailBadURL},
		{"", FailBadURL},
	} {
		err := p.CheckHost(tc.host)
		got := Failure("")
		if err != nil {
			got = FailureOf(err)
		}
		if got != tc.want {
			t.Errorf("host %q: %q (%v), want %q", tc.host, got, err, tc.want)
		}
	}
	if err := (Policy{}).CheckURL("http://[::ffff:127.0.0.1]:5432/x"); FailureOf(err) != FailRefusedPrivate {
		t.Errorf("bracketed IPv4-mapped URL: %v", err)
	}
	if err := (Policy{AllowPrivate: true}).CheckURL("http://localhost:8080/hook"); err != nil {
		t.Errorf("localhost with private targets allowed: %v", err)
	}
}

// countingListener counts the connections that reached it.
func countingListener(t *testing.T, network, addr string) (net.Listener, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln, &n
}

func TestTheDialerRefusesInternalAddressesAfterResolution(t *testing.T) {
	v4, hits4 := countingListener(t, "tcp4", "127.0.0.1:0")
	v6, hits6 := countingListener(t, "tcp6", "[::1]:0")
	_, port4, _ := net.SplitHostPort(v4.Addr().String())
	_, port6, _ := net.SplitHostPort(v6.Addr().String())
	d := Policy{}.Dialer(2 * time.Second)
	for _, target := range []string{
		"127.0.0.1:" + port4,
		"localhost:" + port4, // a name, resolved by the dialer itself
		"[::ffff:127.0.0.1]:" + port4,
		"[::1]:" + port6,
	} {
		c, err := d.DialContext(context.Background(), "tcp", target)
		if err == nil {
			_ = c.Close()
			t.Errorf("%s: connected", target)
			continue
		}
		if FailureOf(err) != FailRefusedPrivate {
			t.Errorf("%s: %v, want a refusal", target, err)
		}
	}
	if n := hits4.Load() + hits6.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback listeners", n)
	}
	// The same dialer with private targets allowed connects.
	c, err := Policy{AllowPrivate: true}.Dialer(2*time.Second).DialContext(context.Background(), "tcp", "localhost:"+port4)
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	_ = c.Close()
}

func TestTheClientUsesNoProxyAndFollowsNoRedirect(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	// A proxy from the environment would make the connection for us,
	// unchecked: the client must not use one.
	t.Setenv("HTTP_PROXY", srv.URL)
	t.Setenv("http_proxy", srv.URL)
	c := Policy{}.Client(2 * time.Second)
	_, err := c.Get("http://8.8.8.8.nip.invalid/")
	if err == nil || strings.Contains(err.Error(), "proxy") {
		t.Errorf("an unknown name through the proxy: %v", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the proxy from the environment was used")
	}
	resp, err := Policy{AllowPrivate: true}.Client(2 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits.Load() != 1 {
		t.Errorf("redirect: %d after %d requests, want the 302 itself", resp.StatusCode, hits.Load())
	}
}

func TestFailuresAreNamedWithoutTheTransportsText(t *testing.T) {
	// A closed port on this machine: "could not connect".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := Policy{AllowPrivate: true}.Client(2 * time.Second)
	_, err = c.Get("http://" + addr + "/")
	if got := FailureOf(err); got != FailConnect {
		t.Errorf("closed port: %q (%v)", got, err)
	}
	// A receiver that never answers: "timed out".
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	_, err = Policy{AllowPrivate: true}.Client(200 * time.Millisecond).Get(hang.URL)
	if got := FailureOf(err); got != FailTimeout {
		t.Errorf("hanging receiver: %q (%v)", got, err)
	}
	// A self-signed certificate: "the secure connection failed".
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	_, err = c.Get(tlsSrv.URL)
	if got := FailureOf(err); got != FailTLS {
		t.Errorf("untrusted certificate: %q (%v)", got, err)
	}
	// An unknown name: "could not find the host".
	_, err = c.Get("http://no-such-host.invalid/")
	if got := FailureOf(err); got != FailDNS {
		t.Errorf("unknown host: %q (%v)", got, err)
	}
	var refused *RefusedError
	_, err = Policy{}.Client(time.Second).Get("http://127.0.0.1:1/")
	if !errors.As(err, &refused) || FailureOf(err) != FailRefusedPrivate {
		t.Errorf("loopback: %v", err)
	}
}

// rebindingDNS is a DNS server on loopback that answers every A query
// with the next address of its script (the last one once the script ends),
// as an attacker's name server does to rebind a name between a check and
// the connection.
func rebindingDNS(t *testing.T, answers ...string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 512)
		for {
			size, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:size])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				i := int(n.Add(1)) - 1
				addr := netip.MustParseAddr(answers[min(i, len(answers)-1)]).As4()
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, dnsmessage.AResource{A: addr})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", server)
	}}
}

func TestANameThatResolvesToAnInternalAddressIsRefusedAtConnectTime(t *testing.T) {
	ln, hits := countingListener(t, "tcp4", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// The name looks public and passes every check made before the
	// connection; it resolves to this machine only when connected to.
	p := Policy{Resolver: rebindingDNS(t, "127.0.0.1")}
	target := "http://hooks.receiver.example:" + port + "/rightsdesk"
	if err := p.CheckURL(target); err != nil {
		t.Fatalf("a name is refused before it is resolved: %v", err)
	}
	_, err := p.Client(2*time.Second).Post(target, "application/json", strings.NewReader(`{}`))
	if FailureOf(err) != FailRefusedPrivate {
		t.Errorf("a name resolving to 127.0.0.1: %v, want a refusal", err)
	}
	// Rebinding: the first answer public (what a check that resolved would
	// have seen), the second the metadata service, at connect time.
	p = Policy{Resolver: rebindingDNS(t, "93.184.215.14", "169.254.169.254")}
	if addrs, err := p.Resolver.LookupHost(context.Background(), "rebind.receiver.example"); err != nil || addrs[0] != "93.184.215.14" {
		t.Fatalf("first answer: %v %v", addrs, err)
	}
	_, err = p.Client(2 * time.Second).Get("http://rebind.receiver.example:" + port + "/")
	if FailureOf(err) != FailRefusedMetadata {
		t.Errorf("a name rebound to the metadata service: %v, want a refusal", err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d connections reached the loopback listener", hits.Load())
	}
}
