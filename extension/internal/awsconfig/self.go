package awsconfig

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// EndpointsAvoiding is Endpoints for a kinko listening on own: an override that points at one
// of those listeners is the function's, set so that its SDK reads through kinko (an extension
// sees the function's environment), and kinko would call itself with it. Such a variable is
// skipped: the service's own variable falls back to AWS_ENDPOINT_URL, and that to AWS's
// endpoint. ignored names the variables skipped, once each.
//
// Names are compared by address without a lookup: IP literals in every spelling a resolver
// accepts (127.1, 2130706433, [::ffff:127.0.0.1], 0.0.0.0, which reaches the loopback) and
// localhost names (localhost., *.localhost). Another name for the same address is not looked up
// (that would be DNS on kinko's start path); the hop header catches a loop through it.
func EndpointsAvoiding(getenv func(string) string, own []net.Addr) (endpoints map[kinko.Kind]string, ignored []string) {
	endpoints = make(map[kinko.Kind]string)
	for _, k := range kinko.Kinds() {
		for _, name := range []string{k.EndpointVariable(), "AWS_ENDPOINT_URL"} {
			e := getenv(name)
			if e == "" {
				continue
			}
			if PointsAt(e, own, net.InterfaceAddrs) {
				if !slices.Contains(ignored, name) {
					ignored = append(ignored, name)
				}
				continue
			}
			endpoints[k] = e
			break
		}
	}
	return endpoints, ignored
}

// PointsAt reports whether the endpoint URL reaches one of the listeners own. interfaces lists
// the host's addresses; it is asked only when a listener is bound to every address (0.0.0.0,
// [::]), as a kinko outside Lambda may be.
func PointsAt(endpoint string, own []net.Addr, interfaces func() ([]net.Addr, error)) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	port, err := strconv.Atoi(u.Port())
	if u.Port() == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port, err = 80, nil
		case "https":
			port, err = 443, nil
		}
	}
	if err != nil {
		return false
	}
	targets := hostAddrs(u.Hostname())
	for _, o := range own {
		ta, ok := o.(*net.TCPAddr)
		if !ok || ta.Port != port {
			continue
		}
		l, ok := netip.AddrFromSlice(ta.IP)
		if !ok {
			continue
		}
		l = l.Unmap()
		for _, t := range targets {
			if t == l || l.IsUnspecified() && (t.IsLoopback() || onInterface(t, interfaces)) {
				return true
			}
		}
	}
	return false
}

// hostAddrs is the addresses a host name stands for, where that needs no lookup.
func hostAddrs(host string) []netip.Addr {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		var ok bool
		if a, ok = parseInetAton(h); !ok {
			return nil
		}
	}
	a = a.WithZone("").Unmap()
	// A connection to the unspecified address reaches the loopback (Linux, and Go's dialer).
	switch {
	case a == netip.IPv4Unspecified():
		return []netip.Addr{a, netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	case a == netip.IPv6Unspecified():
		return []netip.Addr{a, netip.IPv6Loopback()}
	}
	return []netip.Addr{a}
}

// parseInetAton reads the IPv4 spellings C's inet_aton accepts and netip does not: one to four
// parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes
// (127.1 is 127.0.0.1; 2130706433 is too). Python's and curl's resolvers accept them, so a
// function's endpoint variable may use them.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		base := 10
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var addr uint64
	for i := range n - 1 {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		addr |= vals[i] << (24 - 8*i)
	}
	last := vals[n-1]
	if last >= 1<<(8*(5-n)) && n > 1 || n == 1 && last > 0xffffffff {
		return netip.Addr{}, false
	}
	addr |= last
	return netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}), true
}

// onInterface reports whether a is one of the host's own addresses.
func onInterface(a netip.Addr, interfaces func() ([]net.Addr, error)) bool {
	if interfaces == nil {
		return false
	}
	addrs, err := interfaces()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}
