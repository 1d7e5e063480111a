package admission

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoopbackHostSpellings(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:2773": true, "LocalHost:2773": true, "localhost.": true, "x.localhost:1": true,
		"127.0.0.1": true, "127.0.0.1:2773": true, "127.1.2.3:80": true, "[::1]": true, "[::1]:2773": true,
		"0.0.0.0:2773": true, "[::]:2773": true, "[::ffff:127.0.0.1]:2773": true,
		"localhost.attacker.example": false, "attacker.example": false, "127.0.0.1.nip.io:2773": false,
		"localhostx": false, "10.0.0.5:2773": false, "[fe80::1]:2773": false, "": false, ":2773": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %t, want %t", host, got, want)
		}
	}
}

// BrowserRequest refuses what a browser sends (an Origin, a Sec-Fetch-Site/Dest/User header, a
// rebinding Host on a loopback connection) and lets through what other clients send: a loopback
// Host, Node's fetch's lone Sec-Fetch-Mode, any Host on a connection to another address or a
// Unix socket, or no connection address at all. A refusal names what gave the browser away.
func TestBrowserRequest(t *testing.T) {
	loopback := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 2773}
	lan := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 2773}
	unix := &net.UnixAddr{Name: "/run/kinko/kinko.sock", Net: "unix"}
	for _, tc := range []struct {
		name  string
		local net.Addr
		host  string
		hdr   map[string]string
		want  string // in the refusal; "": answered
	}{
		{"loopback Host", loopback, "localhost:2773", nil, ""},
		{"loopback IP Host", loopback, "127.0.0.1:2773", nil, ""},
		{"Node fetch's sec-fetch-mode", loopback, "localhost:2773", map[string]string{"Sec-Fetch-Mode": "cors"}, ""},
		{"rebinding name", loopback, "attacker.example:2773", nil, `Host "attacker.example:2773" is not a loopback name`},
		{"a long rebinding name is clipped", loopback, strings.Repeat("a", 200) + ".example", nil, strings.Repeat("a", 100) + `..."`},
		{"LAN address, its name", lan, "kinko.internal:2773", nil, ""},
		{"Unix socket", unix, "kinko.internal:2773", nil, ""},
		{"no local address", nil, "kinko.internal:2773", nil, ""},
		{"Origin", loopback, "localhost:2773", map[string]string{"Origin": "https://attacker.example"}, "Origin header"},
		{"Origin null, LAN address", lan, "kinko.internal:2773", map[string]string{"Origin": "null"}, "Origin header"},
		{"Sec-Fetch-Site", loopback, "localhost", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, "Sec-Fetch-Site header"},
		{"Sec-Fetch-Dest, Unix socket", unix, "localhost", map[string]string{"Sec-Fetch-Dest": "document"}, "Sec-Fetch-Dest header"},
		{"Sec-Fetch-User", loopback, "localhost", map[string]string{"sec-fetch-user": "?1"}, "Sec-Fetch-User header"},
	} {
		ctx := t.Context()
		if tc.local != nil {
			ctx = context.WithValue(ctx, http.LocalAddrContextKey, tc.local)
		}
		req := httptest.NewRequestWithContext(ctx, "GET", "/secretsmanager/get?secretId=app", nil)
		req.Host = tc.host
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		switch got := BrowserRequest(req); {
		case tc.want == "" && got != "":
			t.Errorf("%s: refused (%s), want it answered", tc.name, got)
		case !strings.Contains(got, tc.want):
			t.Errorf("%s: refusal %q, want one holding %q", tc.name, got, tc.want)
		}
	}
}
