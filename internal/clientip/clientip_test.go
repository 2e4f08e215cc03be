package clientip

import "testing"

func TestAnIPv6ClientIsItsSlash64AndAnIPv4ClientItsAddress(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                               "192.0.2.7",
		"::ffff:192.0.2.7":                        "192.0.2.7",
		"2001:db8:1:2::1":                         "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:ffff":        "2001:db8:1:2::/64",
		"2001:0db8:0001:0002:0000:0000:0000:0009": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":                         "2001:db8:1:3::/64",
		"fe80::1%eth0":                            "fe80::/64",
		"::1":                                     "::/64",
		"":                                        "",
		"not an address":                          "not an address",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
