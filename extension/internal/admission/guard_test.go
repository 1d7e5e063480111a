package admission

import "testing"

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
