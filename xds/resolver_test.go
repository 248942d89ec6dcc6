package xds

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestVetAddr(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"140.82.112.6", true},
		{"2606:50c0:8000::154", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"::ffff:140.82.112.6", true},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"2002:a00:1::", false},   // 6to4 of 10.0.0.1
		{"ff02::1", false},
		// Documentation ranges are unroutable, not internal: nothing behind
		// them to reach, and tests use them as stand-ins for public hosts.
		{"192.0.2.177", true},
		{"203.0.113.9", true},
		{"2001:db8::1", true},
		{"::a00:1", false}, // IPv4-compatible 10.0.0.1
	}
	for _, tc := range cases {
		err := VetAddr(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// The host's own interface addresses are refused, whatever their range.
func TestVetAddrRefusesOwnAddresses(t *testing.T) {
	for a := range localAddrs() {
		if err := VetAddr(a); err == nil {
			t.Errorf("%s is this host's own address, yet accepted", a)
		}
	}
}

func fakeLookup(answers map[string][]string) Lookup {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		as, ok := answers[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, a := range as {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestResolve(t *testing.T) {
	lookup := fakeLookup(map[string][]string{
		"api.github.com":  {"140.82.112.6", "140.82.112.5", "140.82.112.6"},
		"rebind.example":  {"140.82.112.6", "169.254.169.254"},
		"private.example": {"10.0.0.5"},
	})
	cases := []struct {
		name    string
		target  Target
		want    string
		errPart string
	}{
		{"public host on 443, sorted and deduplicated", Target{Host: "api.github.com"}, "140.82.112.5:443 140.82.112.6:443", ""},
		{"private answers are dropped", Target{Host: "rebind.example"}, "140.82.112.6:443", "link-local"},
		{"only private answers leave nothing", Target{Host: "private.example"}, "", "private"},
		{"private allowed when the connector opts in", Target{Host: "private.example", AllowPrivate: true}, "10.0.0.5:443", ""},
		{"fixed upstream address", Target{Host: "api.github.com", Dial: "127.0.0.1:9443", AllowPrivate: true}, "127.0.0.1:9443", ""},
		{"fixed loopback upstream without opt-in is refused", Target{Host: "api.github.com", Dial: "127.0.0.1:9443"}, "", "loopback"},
		{"upstream name resolved on its own port", Target{Host: "api.github.com", Dial: "api.github.com:8443"}, "140.82.112.5:8443 140.82.112.6:8443", ""},
		{"unknown name", Target{Host: "nx.example"}, "", "no such host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(t.Context(), lookup, tc.target)
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Errorf("got %v, want %s", s, tc.want)
			}
			if (tc.errPart == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("err %v, want %q", err, tc.errPart)
			}
		})
	}
}
