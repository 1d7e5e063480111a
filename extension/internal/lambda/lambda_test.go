package lambda

import (
	"log/slog"
	"net"
	"testing"
)

// The listeners kinko binds itself (when the early start did not), by their own addresses: the
// whole process, as the kernel sees it, is TestListensOnLoopbackOnly in package main.
func TestListenBindsLoopbackOnly(t *testing.T) {
	ls, err := listen(0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	for _, l := range ls {
		ip := l.Addr().(*net.TCPAddr).IP
		if !ip.IsLoopback() || ip.IsUnspecified() {
			t.Errorf("listener on %s, want a loopback address", l.Addr())
		}
		t.Logf("loopback-row | listen(): %s |", l.Addr())
	}
	if len(ls) == 2 && ls[0].Addr().(*net.TCPAddr).Port != ls[1].Addr().(*net.TCPAddr).Port {
		t.Errorf("listeners on %s and %s, want one port", ls[0].Addr(), ls[1].Addr())
	}
}
